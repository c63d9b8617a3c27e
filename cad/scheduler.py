"""Acknowledgement timers and report jobs on APScheduler, jobs kept in the database.

Web processes only add jobs (written straight to the job store, no scheduler runs there).
`warroom scheduler` runs them, and only while it holds the lease in `scheduler_leases`: start two
(on two nodes) and one runs jobs while the other takes over `WARROOM_SCHEDULER_LEASE_S` (15 s)
after the holder last renewed it (it renews every third of that). The lease runs on the
database's clock, so nodes whose clocks differ agree on when it ends; the holder trusts it on its
own monotonic clock for 80 % of that time only, so a holder that stalled or cannot reach the
database stops taking jobs before another may start.

The lease makes two schedulers running one job rare, not impossible (a holder that stalls past
its lease and goes on, a job already running when the lease is lost), so each job is safe to run
twice: an acknowledgement timer alerts through a conditional UPDATE, a report is archived under a
lock and only if missing. APScheduler 3 takes a job out of the store before it runs, so a holder
killed while running one would lose it: the holder also alerts for assignments overdue and never
alerted (every SWEEP_EVERY_S), and archives the last week and month if missing (when it takes the
lease, then hourly).

The holder also raises the alerts for urgent incidents nobody has sent a unit to (every
SWEEP_EVERY_S, `cad.services.alerts`): their state is the timeline, so nothing is lost on a
restart, and each level is raised once under a lock on the incident's row.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from cad import clock
from cad.db import db
from cad.models import SchedulerLease, apscheduler_jobs
from dispatch.alerts import parse_unassigned_alert_s

log = logging.getLogger(__name__)
LEASE = "timers"
#: The holder trusts its lease this part of the lease's time after a renewal began.
TRUSTED = 0.8
#: While holding the lease: how often assignments overdue without an alert are looked for, and how
#: long past its deadline one must be (its own timer goes first).
SWEEP_EVERY_S = 5.0
#: How far back that sweep looks, and how late a timer may still fire (APScheduler's misfire grace).
MISFIRE_GRACE_S = 24 * 3600
#: How often the holder makes sure the last complete week and month are archived.
CATCH_UP_EVERY_S = 3600.0
#: After the job store failed (the database went away mid-update): when the jobs are looked at again.
RETRY_S = 5.0
_app: Flask | None = None  # the app whose context jobs run in (the scheduler process's)


def _database_now(conn: Connection) -> datetime:
    """The lease's clock: PostgreSQL's, the same for every node; on SQLite (one machine) this one's."""
    if conn.dialect.name == "postgresql":
        now: datetime = conn.scalar(sa.select(sa.func.now()))
        return now
    return clock.now()


def hold_lease(engine: Engine, holder: str, ttl_s: float) -> bool:
    """Take or renew the lease; True while we hold it."""
    table = SchedulerLease.__table__
    with engine.begin() as conn:
        now = _database_now(conn)
        renewed = conn.execute(
            sa.update(table)
            .where(table.c.name == LEASE, sa.or_(table.c.holder == holder, table.c.expires_at < now))
            .values(holder=holder, expires_at=now + timedelta(seconds=ttl_s))
        ).rowcount
        if renewed:
            return True
    try:
        with engine.begin() as conn:
            now = _database_now(conn)
            conn.execute(sa.insert(table).values(name=LEASE, holder=holder, expires_at=now + timedelta(seconds=ttl_s)))
        return True
    except IntegrityError:
        return False


class Lease:
    """The lease as this process holds it: renewed in the database, trusted here until TRUSTED of
    its time after the renewal began (the monotonic clock), so never past its end in the database."""

    def __init__(self, engine: Engine, holder: str, ttl_s: float) -> None:
        self.engine, self.holder, self.ttl_s = engine, holder, ttl_s
        self._trusted_until = -math.inf

    def renew(self) -> bool:
        began = time.monotonic()
        try:
            holds = hold_lease(self.engine, self.holder, self.ttl_s)
        except sa.exc.SQLAlchemyError as error:
            log.warning("lease not renewed (database unreachable): %s", getattr(error, "orig", error))
            holds = False
        self._trusted_until = began + self.ttl_s * TRUSTED if holds else -math.inf
        return holds

    def held(self) -> bool:
        return time.monotonic() < self._trusted_until

    def release(self) -> None:
        self._trusted_until = -math.inf
        table = SchedulerLease.__table__
        with self.engine.begin() as conn:
            conn.execute(sa.delete(table).where(table.c.name == LEASE, table.c.holder == self.holder))


class LeasedJobStore(SQLAlchemyJobStore):
    """The database's job store, which finds no job due unless the lease is still trusted once the
    query is answered (a query that hung while the lease ran out)."""

    def __init__(self, lease: Lease, **options: Any) -> None:
        super().__init__(**options)
        self.lease = lease

    def get_due_jobs(self, now: datetime) -> list[Job]:
        due: list[Job] = super().get_due_jobs(now)
        return due if self.lease.held() else []

    def shutdown(self) -> None:
        """Leaves the engine alone (APScheduler's would dispose of it): it is the app's."""


class LeasedScheduler(BackgroundScheduler):
    """Runs due jobs only while the lease is trusted, and keeps running when the job store fails.

    APScheduler 3's own loop dies on any error from the store after a job was handed over (the
    database gone mid-update, or the job's row deleted meanwhile by a scheduler that ran it too):
    the timers would stop for good while this process went on holding the lease."""

    def __init__(self, lease: Lease, **options: Any) -> None:
        self.lease = lease
        super().__init__(**options)

    def _process_jobs(self) -> float | None:
        if not self.lease.held():
            return None  # woken again once the lease is renewed
        try:
            wait_s: float | None = super()._process_jobs()
        except Exception:
            log.exception("the job store failed: jobs looked at again in %s s", RETRY_S)
            return RETRY_S
        return wait_s


def _scheduler(lease: Lease) -> LeasedScheduler:
    return LeasedScheduler(
        lease,
        jobstores={
            "default": LeasedJobStore(lease, engine=lease.engine, tablename="apscheduler_jobs"),
            "local": MemoryJobStore(),  # this process's own upkeep jobs, run while it holds the lease
        },
        timezone="UTC",
        job_defaults={"misfire_grace_time": MISFIRE_GRACE_S, "coalesce": True, "max_instances": 1},
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
            misfire_grace_time=MISFIRE_GRACE_S,
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
    from cad.roads import travel_times
    from cad.services.dispatching import escalate_if_unacknowledged

    assert _app is not None, "jobs run in the scheduler process"
    with _app.app_context():
        settings = _app.config["WARROOM"]
        estimator = travel_times(_app.extensions["warroom.roads"], db.session)
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


def sweep_overdue() -> None:
    """The job (every SWEEP_EVERY_S while holding the lease): alert for assignments whose timer was lost."""
    from cad.services.dispatching import overdue_unalerted
    from dispatch.timers import parse_ack_timeouts

    assert _app is not None, "jobs run in the scheduler process"
    with _app.app_context():
        timeouts = parse_ack_timeouts(_app.config["WARROOM"].ack_timeouts)
        overdue = overdue_unalerted(db.session, clock.now(), timeouts, grace_s=SWEEP_EVERY_S, within_s=MISFIRE_GRACE_S)
        # a timer still in the store goes at its own time (set by the web with its timeouts, which
        # may differ from this process's): only one gone from the store is lost
        jobs = sa.select(apscheduler_jobs.c.id).where(apscheduler_jobs.c.id.in_([f"ack-{i}" for i in overdue]))
        pending = set(db.session.scalars(jobs)) if overdue else set()
        db.session.remove()
    lost = [assignment_id for assignment_id in overdue if f"ack-{assignment_id}" not in pending]
    for assignment_id in lost:
        log.warning("assignment %s is overdue and its timer was lost: checking it now", assignment_id)
        ack_check(assignment_id)


def sweep_unassigned() -> None:
    """The job (every SWEEP_EVERY_S while holding the lease): alert, and alert again one level up,
    for urgent incidents nobody has sent a unit to. Kept in the timeline, so a restart or another
    scheduler taking over goes on from the last level raised; each level is raised once."""
    from cad.services.alerts import raise_unassigned_alerts

    assert _app is not None, "jobs run in the scheduler process"
    with _app.app_context():
        settings = _app.config["WARROOM"]
        thresholds = parse_unassigned_alert_s(settings.unassigned_alert_s)
        try:
            for alert in raise_unassigned_alerts(db.session, clock.now(), thresholds, settings.escalate_every_s):
                log.warning(
                    "incident %s (P%s) has no unit after %s s: alert level %s",
                    alert["incident_number"],
                    alert["priority"],
                    alert["waiting_s"],
                    alert["level"],
                )
        finally:
            db.session.remove()


#: The scheduled report PDFs (local time): each job archives the last complete week or month.
REPORT_JOBS = {
    "weekly": {"day_of_week": "mon", "hour": 0, "minute": 30},
    "monthly": {"day": 1, "hour": 0, "minute": 45},
}


def add_report_jobs(scheduler: BaseScheduler, tz: str) -> None:
    """Register the weekly and monthly report jobs in the job store, or replace them when their
    times changed; a job already there keeps its next run, even one that is due."""
    for kind, when in REPORT_JOBS.items():
        trigger = CronTrigger(timezone=tz, **when)
        job = scheduler.get_job(f"report-{kind}")
        if job is not None and repr(job.trigger) == repr(trigger):
            continue
        scheduler.add_job(
            "cad.scheduler:report_job",
            trigger,
            args=[kind],
            id=f"report-{kind}",
            name=f"{kind} response-time report",
            replace_existing=True,
        )


def report_job(kind: str) -> None:
    """The job: archive the PDF of the last complete period (nothing if it is there already)."""
    from cad.services.reports import archive_period
    from reports.archive import PeriodKind

    assert _app is not None, "jobs run in the scheduler process"
    with _app.app_context():
        written = archive_period(db.engine, PeriodKind(kind), _app.config["WARROOM"], clock.now())
        log.info("%s report %s", kind, f"archived as {written}" if written else "archived already or by another")


def archive_missing() -> None:
    """The job (on taking the lease, then hourly): archive the last week and month if missing, as
    when a scheduler was killed while archiving them."""
    for kind in REPORT_JOBS:
        report_job(kind)


def _take_over(scheduler: LeasedScheduler, app: Flask) -> None:
    """What a scheduler does on taking the lease, before it runs the due jobs."""
    add_report_jobs(scheduler, app.config["WARROOM"].timezone)
    now = clock.now()
    for job_id, func, every_s in (
        ("ack-sweep", sweep_overdue, SWEEP_EVERY_S),
        ("unassigned-sweep", sweep_unassigned, SWEEP_EVERY_S),
        ("report-catch-up", archive_missing, CATCH_UP_EVERY_S),
    ):
        scheduler.add_job(
            func,
            IntervalTrigger(seconds=every_s),
            id=job_id,
            jobstore="local",
            next_run_time=now,
            replace_existing=True,
        )


def run(app: Flask, stop: threading.Event, ttl_s: float = 15.0, poll_s: float = 1.0) -> None:
    """`warroom scheduler`: run due jobs while holding the lease, until `stop` is set."""
    global _app
    parse_unassigned_alert_s(app.config["WARROOM"].unassigned_alert_s)  # a bad setting stops it here, not every 5 s
    _app = app
    with app.app_context():
        lease = Lease(db.engine, f"{socket.gethostname()}:{os.getpid()}", ttl_s)
    scheduler = _scheduler(lease)
    scheduler.start(paused=True)
    poll_s = min(poll_s, ttl_s / 6)
    leading = False
    next_renewal = 0.0
    try:
        while not stop.is_set():
            if time.monotonic() >= next_renewal:
                next_renewal = time.monotonic() + ttl_s / 3
                holds = lease.renew()
                if holds and not leading:
                    try:
                        with app.app_context():
                            _take_over(scheduler, app)
                    except sa.exc.SQLAlchemyError as error:
                        log.warning("jobs not registered (database unreachable): %s", getattr(error, "orig", error))
                        holds = False
                    else:
                        log.info("scheduler %s holds the lease: running jobs", lease.holder)
                        scheduler.resume()
                elif leading and not holds:
                    log.warning("scheduler %s lost the lease: pausing", lease.holder)
                    scheduler.pause()
                leading = holds
            if leading:
                scheduler.wakeup()  # web processes add jobs behind its back: look at the store again
            stop.wait(poll_s)
    finally:
        scheduler.shutdown(wait=True)
        if leading:
            lease.release()
        log.info("scheduler %s stopped", lease.holder)
