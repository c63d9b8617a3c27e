"""The centre's log lines: one format, set up by the entry points (wsgi.py for gunicorn and
`flask --app wsgi`, the `warroom` command), never by `create_app`: an app built by a test or a
benchmark leaves the process's logging as it found it."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: int = logging.INFO) -> None:
    """Our lines on stderr in FORMAT from `level` up, unless the process set up its logging already."""
    logging.basicConfig(level=level, format=FORMAT)
