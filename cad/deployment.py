"""The facts `warroom doctor` judges (`cad.doctor`), gathered from this machine: the database and its
schema, the road extract's first bytes, the tools on PATH, the disk. Cheap: no road graph is built,
nothing is written but a probe file in the instance folder."""

from __future__ import annotations

import bz2
import lzma
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cad.config import REPO_ROOT, Settings
from cad.doctor import Facts

MIGRATIONS = REPO_ROOT / "migrations"
#: The bytes of an extract read to recognise its format.
SNIFF_BYTES = 64 * 1024
DECOMPRESSORS: dict[bytes, Callable[[], Any]] = {
    b"\x1f\x8b": lambda: zlib.decompressobj(wbits=31),
    b"BZh": bz2.BZ2Decompressor,
    b"\xfd7zXZ": lzma.LZMADecompressor,
}
TOOLS = ("kamailio", "sipp")


def look_at(settings: Settings, env: Mapping[str, str]) -> Facts:
    database = _database(settings.database_url)
    roads_error, roads_format = _extract(settings.roads_path)
    instance = settings.instance_path
    folders = [instance, settings.report_archive_path]  # the SIP journals are in the instance folder
    return Facts(
        **database,
        secret_key=settings.secret_key,
        roads_path=settings.roads_path,
        roads_error=roads_error,
        roads_format=roads_format,
        roads_cached=_imported(settings.roads_path, instance / "roads"),
        tools={name: _which(name) for name in TOOLS},
        twilio_account_sid=settings.twilio_account_sid,
        twilio_auth_token=settings.twilio_auth_token,
        twilio_from=settings.twilio_from,
        public_url=settings.public_url,
        secure_cookies=env.get("WARROOM_SECURE_COOKIES", "").strip().lower() in ("1", "true", "yes", "on"),
        intake_token_set=bool(settings.intake_token),
        instance_path=str(instance),
        instance_writable=_writable(instance),
        free_bytes=_free(folders),
    )


def _database(url: str) -> dict[str, object]:
    import sqlalchemy as sa
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    heads = tuple(sorted(script.get_heads()))
    known = tuple(sorted(s.revision for s in script.walk_revisions()))
    found: dict[str, object] = {"database_url": url or "(DATABASE_URL empty)", "heads": heads, "known": known}
    try:
        url_parts = sa.engine.make_url(url)
        found["database_url"] = url_parts.render_as_string(hide_password=True)
        connect_args = {"connect_timeout": 5} if url_parts.get_backend_name() == "postgresql" else {}
        engine = sa.create_engine(url_parts, connect_args=connect_args, poolclass=sa.pool.NullPool)
    except (sa.exc.ArgumentError, ImportError) as error:  # not a URL, or a driver not installed
        return {**found, "database_error": str(error).strip().splitlines()[0]}
    try:
        if url_parts.get_backend_name() == "sqlite" and url_parts.database and not Path(url_parts.database).exists():
            return found  # made on first use: it only has no schema yet
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            found["revisions"] = tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
            if sa.inspect(conn).has_table("centre_marks"):
                marks = conn.execute(sa.text("SELECT count(*) FROM centre_marks WHERE name = 'demo_seeded'"))
                found["demo"] = bool(marks.scalar())
    except sa.exc.SQLAlchemyError as error:
        found["database_error"] = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    finally:
        engine.dispose()
    return found


def _extract(path: str) -> tuple[str, str]:
    """(why it cannot be read, its format): the format from its first bytes, as `routing.osm` will read it."""
    if not path:
        return "", ""
    try:
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as error:
        return error.strerror or str(error), ""
    return "", sniff(head)


def sniff(head: bytes) -> str:
    """The format of an extract from its first bytes: "" when none we read."""
    for magic, decompressor in DECOMPRESSORS.items():
        if head.startswith(magic):
            try:
                inner = decompressor().decompress(head)  # a stream's head: as far as these bytes go
            except (EOFError, OSError, lzma.LZMAError, zlib.error, ValueError):
                return ""
            found = sniff(inner[:SNIFF_BYTES])
            return f"{found}, compressed" if found else ""
    if b"OSMHeader" in head[:64]:
        return "pbf"
    text = head.lstrip()
    if text.startswith((b"<?xml", b"<osm")) and b"<osm" in head:
        return "osm-xml"
    if text.startswith(b"{") and b'"elements"' in head:
        return "overpass-json"
    if head.startswith(b"\xff\xe0"):
        return "o5m"
    return ""


def _imported(path: str, cache_dir: Path) -> bool:
    if not path:
        return False
    stem = Path(path).name.split(".")[0] or "roads"
    return any(cache_dir.glob(f"{stem}-*.wrcache"))


def _which(name: str) -> str | None:
    """On PATH, or in /usr/sbin where Debian puts kamailio (outside a service user's PATH)."""
    sbin = f"/usr/sbin/{name}"
    return shutil.which(name) or (sbin if os.access(sbin, os.X_OK) else None)


def _writable(folder: Path) -> bool:
    probe = folder if folder.exists() else next((p for p in folder.parents if p.exists()), None)
    if probe is None:
        return False
    try:
        with tempfile.TemporaryFile(dir=probe):
            return True
    except OSError:
        return False


def _free(folders: list[Path]) -> dict[str, int | None]:
    """Free bytes under each folder (under its nearest existing parent), once per file system."""
    free: dict[str, int | None] = {}
    devices = set()
    for folder in folders:
        existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if existing is None:
            free[str(folder)] = None
        elif existing.stat().st_dev not in devices:
            devices.add(existing.stat().st_dev)
            free[str(folder)] = shutil.disk_usage(existing).free
    return free
