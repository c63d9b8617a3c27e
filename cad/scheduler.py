"""Acknowledgement timers on APScheduler, jobs kept in the database.

Web processes only add jobs (through a paused scheduler, which writes to the job store but
runs nothing). `warroom scheduler` runs them, and only while it holds the lease in
`scheduler_leases`: start two and one runs jobs while the other waits to take over. Each
job is also idempotent (a conditional UPDATE), so a job never alerts twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import datetime, timedelta

import sqlalchemy as sa
from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from flask import Flask
from sqlalchemy.exc import IntegrityError

from cad import clock
from cad.db import db
from cad.models import SchedulerLease

log = logging.getLogger(__name__)
LEASE = "timers"
_app: Flask | None = None  # the app whose context jobs run in (the scheduler process's)


def _scheduler(app: Flask) -> BackgroundScheduler:
    with app.app_context():
        store = SQLAlchemyJobStore(engine=db.engine, tablename="apscheduler_jobs")
    return BackgroundScheduler(
        jobstores={"default": store},
        timezone="UTC",
        job_defaults={"misfire_grace_time": 24 * 3600, "coalesce": True, "max_instances": 1},
    )


class AckTimers:
    """What web processes use to set a timer: the job is written straight to the job store, no
    scheduler thread runs here (only `warroom scheduler` runs jobs)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._store: SQLAlchemyJobStore | None = None
        self._owner = BlockingScheduler(timezone="UTC")  # never started: it only names the jobs' owner

    def schedule(self, assignment_id: int, run_at: datetime) -> None:
        with self._lock:
            if self._store is None:
                with self.app.app_context():
                    self._store = SQLAlchemyJobStore(engine=db.engine, tablename="apscheduler_jobs")
                self._store.start(self._owner, "default")
        job = Job(
            self._owner,
            id=f"ack-{assignment_id}",
            func="cad.scheduler:ack_check",
            args=[assignment_id],
            kwargs={},
            trigger=DateTrigger(run_date=run_at, timezone="UTC"),
            executor="default",
            name=f"ack_check {assignment_id}",
            misfire_grace_time=24 * 3600,
            coalesce=True,
            max_instances=1,
            next_run_time=run_at,
        )
        try:
            self._store.add_job(job)
        except ConflictingIdError:
            self._store.update_job(job)

    def shutdown(self) -> None:
        with self._lock:
            self._store = None


def ack_check(assignment_id: int) -> None:
    """The job: alert if the assignment is still unacknowledged."""
    from flask import current_app

    from cad.roads import travel_times
    from cad.services.dispatching import escalate_if_unacknowledged

    assert _app is not None, "jobs run in the scheduler process"
    with _app.app_context():
        settings = current_app.config["WARROOM"]
        estimator = travel_times(current_app.extensions["warroom.roads"], db.session)
        alert = escalate_if_unacknowledged(
            db.session, assignment_id, estimator, stale_after_s=settings.position_stale_s
        )
        if alert:
            log.warning(
                "assignment %s of %s not acknowledged after %s s; next: %s",
                assignment_id,
                alert["callsign"],
                alert["overdue_s"],
                alert["next_callsign"],
            )
        db.session.remove()


#: The scheduled report PDFs (local time): each job archives the last complete week or month.
REPORT_JOBS = {
    "weekly": {"day_of_week": "mon", "hour": 0, "minute": 30},
    "monthly": {"day": 1, "hour": 0, "minute": 45},
}


def add_report_jobs(scheduler: BackgroundScheduler, tz: str) -> None:
    """Register (or refresh) the weekly and monthly report jobs in the job store."""
    for kind, when in REPORT_JOBS.items():
        scheduler.add_job(
            "cad.scheduler:report_job",
            CronTrigger(timezone=tz, **when),
            args=[kind],
            id=f"report-{kind}",
            name=f"{kind} response-time report",
            replace_existing=True,
        )


def report_job(kind: str) -> None:
    """The job: archive the PDF of the last complete period (nothing if it is there already)."""
    from flask import current_app

    from cad.api.reports import report_config
    from reports.archive import PeriodKind, archive_report

    assert _app is not None, "jobs run in the scheduler process"
    with _app.app_context():
        settings = current_app.config["WARROOM"]
        written = archive_report(
            db.engine, PeriodKind(kind), clock.now(), report_config(settings), settings.report_archive_path
        )
        log.info("%s report %s", kind, f"archived as {written}" if written else "already archived")


def hold_lease(holder: str, ttl_s: float) -> bool:
    """Take or renew the lease; True while we hold it."""
    now = clock.now()
    table = SchedulerLease.__table__
    with db.engine.begin() as conn:
        renewed = conn.execute(
            sa.update(table)
            .where(table.c.name == LEASE, sa.or_(table.c.holder == holder, table.c.expires_at < now))
            .values(holder=holder, expires_at=now + timedelta(seconds=ttl_s))
        ).rowcount
        if renewed:
            return True
    try:
        with db.engine.begin() as conn:
            conn.execute(sa.insert(table).values(name=LEASE, holder=holder, expires_at=now + timedelta(seconds=ttl_s)))
        return True
    except IntegrityError:
        return False


def run(app: Flask, stop: threading.Event, ttl_s: float = 15.0, poll_s: float = 1.0) -> None:
    """`warroom scheduler`: run due jobs while holding the lease, until `stop` is set."""
    global _app
    _app = app
    holder = f"{socket.gethostname()}:{os.getpid()}"
    scheduler = _scheduler(app)
    scheduler.start(paused=True)
    add_report_jobs(scheduler, app.config["WARROOM"].timezone)
    leading = False
    next_renewal = 0.0
    try:
        while not stop.is_set():
            if time.monotonic() >= next_renewal:
                next_renewal = time.monotonic() + ttl_s / 3
                with app.app_context():
                    try:
                        holds = hold_lease(holder, ttl_s)
                    except sa.exc.DBAPIError as error:
                        log.warning("lease not renewed (database unreachable): %s", error.orig)
                        holds = False
                if holds and not leading:
                    log.info("scheduler %s holds the lease: running jobs", holder)
                    scheduler.resume()
                elif leading and not holds:
                    log.warning("scheduler %s lost the lease: pausing", holder)
                    scheduler.pause()
                leading = holds
            if leading:
                scheduler.wakeup()  # web processes add jobs behind its back: look at the store again
            stop.wait(poll_s)
    finally:
        scheduler.shutdown(wait=True)
        if leading:
            with app.app_context(), db.engine.begin() as conn:
                table = SchedulerLease.__table__
                conn.execute(sa.delete(table).where(table.c.name == LEASE, table.c.holder == holder))
        log.info("scheduler %s stopped", holder)
