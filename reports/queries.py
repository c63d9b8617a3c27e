"""Reads of the incident timeline for reports (SQLAlchemy Core, read-only: reports never write it).

Two ways to the same report:
- `fetch_stamps`: the first stamp of each kind per incident and per responding unit (one GROUP
  BY in the database, SQLite or PostgreSQL); intervals, findings and percentiles then in Python
  (`reports.intervals`, `reports.stats`).
- `aggregate_in_sql` (PostgreSQL): the same intervals, findings and nearest-rank percentiles
  computed by the database, which returns only the aggregates.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cad.models import Agency, Incident, TimelineEvent, Unit
from reports.intervals import (
    CALL_KINDS,
    INCIDENT_INTERVALS,
    INCIDENT_KINDS,
    STAMP_KINDS,
    UNIT_INTERVALS,
    UNIT_KINDS,
    Finding,
    IncidentStamps,
    Interval,
    Level,
    Problem,
    UnitStamps,
)
from reports.report import LAST_MINUTE
from reports.stats import Aggregate, Compliance, ReportRules, shift_name
from timeline.kinds import EventKind

INCIDENTS = Incident.__table__
EVENTS = TimelineEvent.__table__
UNITS = Unit.__table__
AGENCIES = Agency.__table__


def _events(start: datetime, end: datetime) -> sa.CTE:
    """The events that time the incidents created in [start, end): their own, and the stamps of
    their linked calls that were recorded on the call alone (a call answered after linking)."""
    window = sa.select(INCIDENTS.c.id).where(INCIDENTS.c.created_at >= start, INCIDENTS.c.created_at < end)
    links = (
        sa.select(EVENTS.c.call_id, EVENTS.c.incident_id)
        .where(EVENTS.c.kind == EventKind.CALL_LINKED, EVENTS.c.call_id.is_not(None), EVENTS.c.incident_id.in_(window))
        .distinct()
        .cte("links")
    )
    own = sa.select(EVENTS.c.incident_id, EVENTS.c.unit_id, EVENTS.c.kind, EVENTS.c.at).where(
        EVENTS.c.incident_id.in_(window), EVENTS.c.kind.in_(INCIDENT_KINDS + UNIT_KINDS)
    )
    via_call = (
        sa.select(links.c.incident_id, sa.cast(sa.null(), sa.Integer), EVENTS.c.kind, EVENTS.c.at)
        .join(links, links.c.call_id == EVENTS.c.call_id)
        .where(EVENTS.c.incident_id.is_(None), EVENTS.c.kind.in_(CALL_KINDS))
    )
    return sa.union_all(own, via_call).cte("ev")


def _first(ev: sa.CTE, kind: str, fn: Any = sa.func.min) -> Any:
    return fn(ev.c.at).filter(ev.c.kind == kind).label(kind)


def _listed(kinds: Sequence[EventKind]) -> str:
    """Event kinds as an SQL list (our own enumeration's values, never input)."""
    return ", ".join(f"'{kind}'" for kind in kinds)


def _first_or_last(kind: EventKind) -> str:
    """A unit's clearance is its last (withdrawn and sent again, it clears once more); every other stamp its first."""
    return "max" if kind is EventKind.UNIT_CLEARED else "min"


def _firsts(kinds: Sequence[EventKind]) -> str:
    return ",\n         ".join(f"{_first_or_last(k)}(at) FILTER (WHERE kind = '{k}') AS {k}" for k in kinds)


def fetch_stamps(conn: Connection, start: datetime, end: datetime) -> list[IncidentStamps]:
    """Every incident created in [start, end) with its first stamps and its units' (a unit's
    clearance is its last: a unit withdrawn and sent again clears once more)."""
    ev = _events(start, end)
    per_incident = (
        sa.select(ev.c.incident_id, *(_first(ev, k) for k in INCIDENT_KINDS))
        .where(ev.c.kind.in_(INCIDENT_KINDS))
        .group_by(ev.c.incident_id)
        .subquery()
    )
    incidents = conn.execute(
        sa.select(
            INCIDENTS.c.id,
            INCIDENTS.c.number,
            INCIDENTS.c.type,
            INCIDENTS.c.district,
            INCIDENTS.c.created_at,
            *(per_incident.c[k] for k in INCIDENT_KINDS),
        )
        .outerjoin(per_incident, per_incident.c.incident_id == INCIDENTS.c.id)
        .where(INCIDENTS.c.created_at >= start, INCIDENTS.c.created_at < end)
        .order_by(INCIDENTS.c.id)
    ).all()
    per_unit = (
        sa.select(
            ev.c.incident_id,
            ev.c.unit_id,
            *(_first(ev, k) for k in UNIT_KINDS[:-1]),
            _first(ev, EventKind.UNIT_CLEARED, sa.func.max),
        )
        .where(ev.c.unit_id.is_not(None), ev.c.kind.in_(UNIT_KINDS))
        .group_by(ev.c.incident_id, ev.c.unit_id)
        .subquery()
    )
    units: dict[int, list[UnitStamps]] = {}
    for row in conn.execute(
        sa.select(per_unit, UNITS.c.callsign, AGENCIES.c.code)
        .join(UNITS, UNITS.c.id == per_unit.c.unit_id)
        .join(AGENCIES, AGENCIES.c.id == UNITS.c.agency_id)
        .order_by(per_unit.c.incident_id, per_unit.c.unit_id)
    ):
        units.setdefault(row[0], []).append(UnitStamps(row[1], row[6], row[7], *row[2:6]))
    return [
        IncidentStamps(
            incident_id=r[0],
            number=r[1],
            type=str(r[2]),
            district=r[3],
            created_at=r[4],
            call_received=r[5],
            call_answered=r[6],
            incident_closed=r[7],
            units=tuple(units.get(r[0], ())),
        )
        for r in incidents
    ]


# --- the same report computed by PostgreSQL ----------------------------------------------


def _shift_case(shifts: Sequence[tuple[int, int]], hour: str) -> str:
    whens = []
    for start_h, end_h in shifts:
        inside = (
            f"{hour} >= {int(start_h)} AND {hour} < {int(end_h)}"
            if start_h < end_h
            else f"({hour} >= {int(start_h)} OR {hour} < {int(end_h)})"
        )
        whens.append(f"WHEN {inside} THEN '{shift_name(start_h, end_h)}'")
    return f"CASE {' '.join(whens)} ELSE 'other' END"


def _unpivot(defs: Sequence[tuple[Interval, str, str]], alias: str) -> str:
    values = ", ".join(f"('{i}', '{a}', {alias}.{a}, '{b}', {alias}.{b})" for i, a, b in defs)
    return f"CROSS JOIN LATERAL (VALUES {values}) AS v(interval, start_name, t0, end_name, t1)"


_SECONDS = "CASE WHEN v.t0 IS NOT NULL AND v.t1 >= v.t0 THEN extract(epoch FROM (v.t1 - v.t0))::float8 END"


def _sql(rules: ReportRules, shifts: Sequence[tuple[int, int]]) -> str:
    """One statement giving the aggregates (row_kind 'a') and the findings (row_kind 'f'), so the
    timeline is read once; targets, shifts and incident types are values we format ourselves."""
    medical = ", ".join("'" + m.replace("'", "''") + "'" for m in rules.medical_types) or "NULL"
    hour = "extract(hour FROM local_at)"
    common = f"""
WITH inc AS MATERIALIZED (
  SELECT id, number, type, COALESCE(district, '(none)') AS district,
         (created_at AT TIME ZONE :tz) AS local_at,
         CASE WHEN type IN ({medical}) THEN 'medical' ELSE 'fire' END AS category
  FROM incidents WHERE created_at >= :start AND created_at < :end
),
links AS (
  SELECT DISTINCT e.call_id, e.incident_id FROM timeline_events e JOIN inc ON inc.id = e.incident_id
  WHERE e.kind = '{EventKind.CALL_LINKED}' AND e.call_id IS NOT NULL
),
ev AS MATERIALIZED (
  SELECT e.incident_id, e.unit_id, e.kind, e.at FROM timeline_events e JOIN inc ON inc.id = e.incident_id
  WHERE e.kind IN ({_listed(STAMP_KINDS)})
  UNION ALL
  SELECT l.incident_id, NULL, e.kind, e.at FROM timeline_events e JOIN links l ON l.call_id = e.call_id
  WHERE e.incident_id IS NULL AND e.kind IN ({_listed(CALL_KINDS)})
),
ustamps AS MATERIALIZED (
  SELECT incident_id, unit_id,
         {_firsts(UNIT_KINDS)}
  FROM ev WHERE unit_id IS NOT NULL AND kind LIKE 'unit%' GROUP BY incident_id, unit_id
),
first_arriving AS (
  SELECT DISTINCT ON (incident_id) incident_id, unit_notified, unit_en_route, unit_on_scene
  FROM ustamps WHERE unit_on_scene IS NOT NULL ORDER BY incident_id, unit_on_scene, unit_id
),
unit_summary AS (
  SELECT incident_id, min(unit_notified) AS first_notified,
         CASE WHEN bool_and(unit_cleared IS NOT NULL) FILTER (WHERE unit_on_scene IS NOT NULL)
              THEN max(unit_cleared) FILTER (WHERE unit_on_scene IS NOT NULL) END AS last_cleared
  FROM ustamps GROUP BY incident_id
),
istamps AS (
  SELECT incident_id,
         {_firsts(INCIDENT_KINDS)}
  FROM ev WHERE kind IN ({_listed(INCIDENT_KINDS)}) GROUP BY incident_id
),
iwide AS (
  SELECT inc.id AS incident_id, inc.number, inc.type, inc.district, inc.category,
         to_char(local_at, 'YYYY-MM-DD') AS d_day, to_char(local_at, 'YYYY-MM') AS d_month,
         {_shift_case(shifts, hour)} AS d_shift,
         s.call_received, s.call_answered, s.incident_closed, us.first_notified, us.last_cleared,
         fa.unit_notified AS first_arriving_notified, fa.unit_en_route AS first_arriving_en_route,
         fa.unit_on_scene AS first_on_scene
  FROM inc LEFT JOIN istamps s ON s.incident_id = inc.id
  LEFT JOIN unit_summary us ON us.incident_id = inc.id LEFT JOIN first_arriving fa ON fa.incident_id = inc.id
),
ilong AS MATERIALIZED (
  SELECT w.incident_id, w.number, w.type, w.district, w.category, w.d_day, w.d_month, w.d_shift,
         v.interval, v.start_name, v.t0, v.end_name, v.t1, {_SECONDS} AS seconds
  FROM iwide w {_unpivot(INCIDENT_INTERVALS, "w")}
  WHERE v.t1 IS NOT NULL
),
ulong AS MATERIALIZED (
  SELECT u.incident_id, inc.number, u.unit_id, un.callsign, ag.code AS agency, inc.category,
         v.interval, v.start_name, v.t0, v.end_name, v.t1, {_SECONDS} AS seconds
  FROM ustamps u JOIN inc ON inc.id = u.incident_id
  JOIN units un ON un.id = u.unit_id JOIN agencies ag ON ag.id = un.agency_id
  {_unpivot(UNIT_INTERVALS, "u")}
  WHERE v.t1 IS NOT NULL
)"""
    fractions = "ARRAY[0.5 - 1e-9, 0.9 - 1e-9, 0.95 - 1e-9]"  # see reports.stats: exact ⌈p·N⌉ ranks

    def targets(level: str) -> str:
        cols = []
        for n, t in enumerate(rules.targets):
            if t.level and t.level != level:
                cond = "false"
            else:
                cond = f"interval = '{t.interval}'" + (f" AND category = '{t.category}'" if t.category else "")
            within = f"{cond} AND seconds <= {float(t.seconds)!r}"
            cols.append(f"count(*) FILTER (WHERE {cond}) AS n{n}, count(*) FILTER (WHERE {within}) AS m{n}")
        return "".join(", " + c for c in cols)

    def grouped(level: str, source: str, dims: Sequence[str]) -> str:
        sets = ", ".join(["(interval)", *(f"(interval, {d})" for d in dims)])
        which = " ".join(f"WHEN GROUPING({d}) = 0 THEN '{d[2:]}'" for d in dims)
        key = "COALESCE(" + ", ".join(f"CASE WHEN GROUPING({d}) = 0 THEN {d}::text END" for d in dims) + ", 'all')"
        return f"""
SELECT 'a' AS row_kind, CASE {which} ELSE 'all' END AS dimension, {key} AS key, '{level}' AS level, interval,
       count(*) AS n, percentile_disc({fractions}) WITHIN GROUP (ORDER BY seconds) AS p,
       NULL AS problem, NULL::int AS incident_id, NULL AS number, NULL::int AS unit_id, NULL AS callsign,
       NULL AS start_name, NULL::timestamptz AS t0, NULL AS end_name, NULL::timestamptz AS t1{targets(level)}
FROM {source}
GROUP BY GROUPING SETS ({sets})"""

    def findings(level: str, source: str, unit: str) -> str:
        blanks = "".join(", NULL::bigint, NULL::bigint" for _ in rules.targets)
        return f"""
SELECT 'f', NULL, NULL, '{level}', interval, NULL::bigint, NULL::float8[],
       CASE WHEN t0 IS NULL THEN 'missing' ELSE 'out_of_order' END, incident_id, number, {unit},
       start_name, t0, end_name, t1{blanks}
FROM {source} WHERE seconds IS NULL"""

    incident_source = (
        "(SELECT interval, category, seconds, type AS d_type, district AS d_district, d_day, d_month, d_shift, "
        f"least(floor(seconds / 60), {LAST_MINUTE})::int AS d_minute FROM ilong WHERE seconds IS NOT NULL) x"
    )
    unit_source = (
        "(SELECT interval, category, seconds, callsign AS d_unit, agency AS d_agency "
        "FROM ulong WHERE seconds IS NOT NULL) x"
    )
    return (
        common
        + grouped("incident", incident_source, ("d_day", "d_month", "d_type", "d_district", "d_shift", "d_minute"))
        + " UNION ALL "
        + grouped("unit", unit_source, ("d_unit", "d_agency"))
        + " UNION ALL "
        + findings("incident", "ilong", "NULL::int, NULL")
        + " UNION ALL "
        + findings("unit", "ulong", "unit_id, callsign")
    )


def _tune(conn: Connection) -> None:
    """For this transaction only: a year's hashes and sorts in memory, and no JIT compilation (it
    costs more than it saves on these one-off statements)."""
    conn.execute(sa.text("SET LOCAL work_mem = '256MB'"))
    conn.execute(sa.text("SET LOCAL jit = off"))


def aggregate_in_sql(
    conn: Connection,
    start: datetime,
    end: datetime,
    *,
    tz: str,
    shifts: Sequence[tuple[int, int]],
    rules: ReportRules,
) -> tuple[list[Aggregate], list[Finding]]:
    """The report's aggregates and findings, computed by PostgreSQL in one statement."""
    if conn.dialect.name != "postgresql":
        raise ValueError("aggregation in SQL needs PostgreSQL")
    aggregates: list[Aggregate] = []
    findings: list[Finding] = []
    with conn.begin_nested() if conn.in_transaction() else conn.begin():
        _tune(conn)
        result = conn.execute(sa.text(_sql(rules, shifts)), {"start": start, "end": end, "tz": tz})
        for row in result:
            if row[0] == "a":
                _, dimension, key, level, interval, count, p = row[:7]
                rest = row[16:]
                compliance = tuple(
                    Compliance(t, rest[2 * n], rest[2 * n + 1]) for n, t in enumerate(rules.targets) if rest[2 * n]
                )
                aggregates.append(Aggregate(dimension, key, level, interval, count, p[0], p[1], p[2], compliance))
            else:
                findings.append(_finding(*row[3:5], *row[7:16]))
    return aggregates, findings


def _finding(
    level: str,
    interval: str,
    problem: str,
    incident_id: int,
    number: str,
    unit_id: int | None,
    callsign: str | None,
    start_name: str,
    t0: datetime | None,
    end_name: str,
    t1: datetime,
) -> Finding:
    t1 = t1.astimezone(UTC)
    if t0 is None:
        detail = f"{end_name} at {t1.isoformat()} but no {start_name}"
    else:
        t0 = t0.astimezone(UTC)
        gap = (t0 - t1).total_seconds()
        detail = f"{end_name} at {t1.isoformat()} is {gap:g} s before {start_name} at {t0.isoformat()}"
    return Finding(Level(level), Interval(interval), Problem(problem), incident_id, number, unit_id, callsign, detail)


# --- the stamps as arrays, for reports.fast ------------------------------------------------

#: A missing stamp travels as this number (no real stamp is 292,000 years before 1970).
MISSING_US = -(2**63) + 1


def _arrays_sql() -> str:
    """Everything travels as a few long texts (string_agg) that numpy parses in C: a year's
    430,000 rows as Python tuples would cost more than all the arithmetic."""
    stamps = ",\n         ".join(
        f"{_first_or_last(kind)}((extract(epoch FROM at) * 1000000)::bigint) FILTER (WHERE kind = '{kind}') AS {kind}"
        for kind in STAMP_KINDS
    )
    texts = ", ".join(f"string_agg(COALESCE({kind}, {MISSING_US})::text, ',')" for kind in STAMP_KINDS)
    blanks = ", NULL" * len(STAMP_KINDS)
    return f"""
WITH inc AS MATERIALIZED (
  SELECT id, type, COALESCE(district, '(none)') AS district, (created_at AT TIME ZONE :tz) AS local_at
  FROM incidents WHERE created_at >= :start AND created_at < :end
),
links AS (
  SELECT DISTINCT e.call_id, e.incident_id FROM timeline_events e JOIN inc ON inc.id = e.incident_id
  WHERE e.kind = '{EventKind.CALL_LINKED}' AND e.call_id IS NOT NULL
),
ev AS (
  SELECT e.incident_id, COALESCE(e.unit_id, 0) AS unit_id, e.kind, e.at FROM timeline_events e
  WHERE e.incident_id IN (SELECT id FROM incidents WHERE created_at >= :start AND created_at < :end)
    AND (e.kind IN ({_listed(INCIDENT_KINDS)}) AND e.unit_id IS NULL
         OR e.kind IN ({_listed(UNIT_KINDS)}) AND e.unit_id IS NOT NULL)
  UNION ALL
  SELECT l.incident_id, 0, e.kind, e.at FROM timeline_events e JOIN links l ON l.call_id = e.call_id
  WHERE e.incident_id IS NULL AND e.kind IN ({_listed(CALL_KINDS)})
),
stamps AS (
  SELECT incident_id, unit_id,
         {stamps}
  FROM ev GROUP BY incident_id, unit_id
)
SELECT 'i', string_agg(id::text, ','), string_agg(type, chr(31)), string_agg(district, chr(31)),
       string_agg((local_at::date - date '1970-01-01')::text, ','),
       string_agg(extract(hour FROM local_at)::int::text, ','){blanks}
FROM inc
UNION ALL
SELECT 's', string_agg(incident_id::text, ','), NULL, NULL, NULL, string_agg(unit_id::text, ','), {texts}
FROM stamps
"""


def _numbers(text: str | None) -> Any:
    import numpy as np

    return np.fromstring(text, dtype=np.int64, sep=",") if text else np.zeros(0, dtype=np.int64)


def _texts(text: str | None) -> list[str]:
    return text.split("\x1f") if text else []


def fetch_arrays(conn: Connection, start: datetime, end: datetime, tz: str) -> Any:
    """The incidents created in [start, end) and their stamps (per incident and per unit), in one
    statement (PostgreSQL), as reports.fast.TimelineArrays (numbers: see `with_numbers`)."""
    from reports.fast import TimelineArrays

    if conn.dialect.name != "postgresql":
        raise ValueError("fetch_arrays needs PostgreSQL")
    with conn.begin_nested() if conn.in_transaction() else conn.begin():
        _tune(conn)
        rows = {r[0]: r for r in conn.execute(sa.text(_arrays_sql()), {"start": start, "end": end, "tz": tz})}
        units = {
            row[0]: (row[1], row[2])
            for row in conn.execute(
                sa.select(UNITS.c.id, UNITS.c.callsign, AGENCIES.c.code).join(
                    AGENCIES, AGENCIES.c.id == UNITS.c.agency_id
                )
            )
        }
    i, s = rows["i"], rows["s"]
    return TimelineArrays(
        incident_id=_numbers(i[1]),
        incident_type=_texts(i[2]),
        district=_texts(i[3]),
        day=_numbers(i[4]),
        hour=_numbers(i[5]),
        row_incident=_numbers(s[1]),
        row_unit=_numbers(s[5]),
        row_stamps={kind: _numbers(text) for kind, text in zip(STAMP_KINDS, s[6:], strict=True)},
        units=units,
    )


def with_numbers(conn: Connection, findings: list[Finding]) -> list[Finding]:
    """The findings with their incidents' numbers filled in."""
    from dataclasses import replace

    ids = sorted({f.incident_id for f in findings})
    numbers: dict[int, str] = {}
    for chunk in range(0, len(ids), 10_000):
        part = ids[chunk : chunk + 10_000]
        numbers.update(
            (row[0], row[1])
            for row in conn.execute(sa.select(INCIDENTS.c.id, INCIDENTS.c.number).where(INCIDENTS.c.id.in_(part)))
        )
    return [replace(f, number=numbers.get(f.incident_id, "")) for f in findings]
