"""What a test needs from the machine (a road extract, a tool, Redis, root): the one place that
decides between skipping and failing. On a developer's machine a test whose need is missing is
skipped with the reason; under CI (`CI=true`) it fails with that reason, so a CI run that lost
its data or a tool cannot pass by skipping the tests that use them.

`need(...)` is called where the test finds out (a fixture, the test itself); `needs(...)` is the
same as a marker (a module's `pytestmark`, a decorator), checked before any fixture is made."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def under_ci() -> bool:
    return os.environ.get("CI") == "true"


def need(condition: object, reason: str) -> None:
    """Go on if `condition` holds; else skip (or fail under CI) saying `reason`: what is missing
    and how to provide it."""
    if condition:
        return
    if under_ci():
        pytest.fail(f"required when CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def needs(condition: object, reason: str) -> pytest.MarkDecorator:
    """`need` as a marker (tests/conftest.py checks it at set-up, before the test's fixtures)."""
    return pytest.mark.needs(bool(condition), reason=reason)


def need_file(path: Path, what: str = "road extract") -> Path:
    """`path`, which must exist: the road extracts live beside the checkout (WARROOM_DATA_DIR)."""
    need(path.exists(), f"{what} {path} not present (set WARROOM_DATA_DIR)")
    return path


def needs_file(path: Path, what: str = "road extract") -> pytest.MarkDecorator:
    return needs(path.exists(), f"{what} {path} not present (set WARROOM_DATA_DIR)")


def need_tool(name: str) -> str:
    """The path of the program `name` (.ci/run installs every one the tests use)."""
    path = shutil.which(name)
    need(path is not None, f"{name} is not installed")
    assert path is not None
    return path


def needs_tool(name: str) -> pytest.MarkDecorator:
    return needs(shutil.which(name) is not None, f"{name} is not installed")


#: pdftotext (poppler-utils), to read back the PDFs the reports make.
needs_poppler = needs_tool("pdftotext")
