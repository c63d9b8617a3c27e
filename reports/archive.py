"""The archive of weekly and monthly PDF reports: their periods (WITA), their file names, and a
listing that only ever yields files it named itself (so a download can never leave the folder)."""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from reports.generate import ReportConfig


class PeriodKind(StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"


#: `weekly-2026-11-23.pdf` (the Monday the week starts on), `monthly-2026-11.pdf`.
NAME = re.compile(r"\A(weekly)-(\d{4}-\d{2}-\d{2})\.pdf\Z|\A(monthly)-(\d{4}-\d{2})\.pdf\Z")


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    first_day: date  # local (WITA) day the period starts on
    start: datetime  # UTC
    end: datetime  # UTC, exclusive

    @property
    def label(self) -> str:
        return f"{self.first_day:%Y-%m-%d}" if self.kind is PeriodKind.WEEKLY else f"{self.first_day:%Y-%m}"

    @property
    def filename(self) -> str:
        return f"{self.kind}-{self.label}.pdf"


def period_of(kind: PeriodKind, first_day: date, tz: str) -> Period:
    zone = ZoneInfo(tz)
    if kind is PeriodKind.WEEKLY:
        first_day = first_day - timedelta(days=first_day.weekday())
        last = first_day + timedelta(days=7)
    else:
        first_day = first_day.replace(day=1)
        last = (first_day + timedelta(days=32)).replace(day=1)

    def utc(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)

    return Period(kind, first_day, utc(first_day), utc(last))


def last_complete(kind: PeriodKind, now: datetime, tz: str) -> Period:
    """The most recent week (Monday to Monday) or month that has ended by `now`, in local time."""
    today = now.astimezone(ZoneInfo(tz)).date()
    current = period_of(kind, today, tz)
    previous_day = current.first_day - timedelta(days=1)
    return period_of(kind, previous_day, tz)


@dataclass(frozen=True)
class ArchivedReport:
    kind: PeriodKind
    period: str
    filename: str
    generated_at: datetime
    size: int


def list_archive(folder: Path) -> list[ArchivedReport]:
    """The archived PDFs, newest period first; other files in the folder are ignored."""
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.iterdir():
        match = NAME.match(entry.name)
        if match is None or not entry.is_file():
            continue
        kind = PeriodKind(match.group(1) or match.group(3))
        stat = entry.stat()
        found.append(
            ArchivedReport(
                kind,
                match.group(2) or match.group(4),
                entry.name,
                datetime.fromtimestamp(stat.st_mtime, UTC),
                stat.st_size,
            )
        )
    return sorted(found, key=lambda r: (r.period, r.kind), reverse=True)


def archived_file(folder: Path, filename: str) -> Path | None:
    """The archived file of that exact name, or None: the name must be one the archive writes."""
    if NAME.match(filename) is None:
        return None
    path = folder / filename
    return path if path.is_file() else None


def write_atomically(path: Path, content: bytes) -> None:
    """Readers see the whole PDF or none (written beside it, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-", suffix=".pdf")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def archiving_alone(engine: Engine, target: Path) -> Iterator[bool]:
    """True while this process alone may write `target`, False when another is writing it.

    On PostgreSQL a session advisory lock, for every scheduler of every node: the server drops
    it with the session, so a killed scheduler never holds it, and a stalled one holds it until
    it goes on or dies. On SQLite (one machine) a file lock beside the archive, which the kernel
    drops with the process."""
    import sqlalchemy as sa

    if engine.dialect.name == "postgresql":
        key = sa.func.hashtextextended(f"warroom-archive:{target.name}", 0)
        with engine.connect() as conn:
            alone = bool(conn.scalar(sa.select(sa.func.pg_try_advisory_lock(key))))
            conn.commit()  # the lock is the session's: no transaction stays open while the PDF is made
            try:
                yield alone
            finally:
                if alone:
                    with suppress(sa.exc.SQLAlchemyError):  # a session that broke has dropped the lock
                        conn.scalar(sa.select(sa.func.pg_advisory_unlock(key)))
                        conn.commit()
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def archive_report(
    engine: Engine,
    kind: PeriodKind,
    now: datetime,
    config: ReportConfig,
    folder: Path,
) -> Path | None:
    """The scheduled job: the PDF of the last complete week or month, unless it is archived already
    or another scheduler is archiving it (then None: running the job twice, or on two schedulers at
    once, does the work once)."""
    from reports.generate import response_times
    from reports.render import report_pdf

    period = last_complete(kind, now, config.timezone)
    target = folder / period.filename
    if target.exists():
        return None
    with archiving_alone(engine, target) as alone:
        if not alone or target.exists():  # the other may have finished while we looked
            return None
        with engine.connect() as conn:
            report = response_times(conn, period.start, period.end, config, now=now)
        write_atomically(target, report_pdf(report))
    return target
