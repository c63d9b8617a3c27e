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
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cad.models import Agency, Incident, TimelineEvent, Unit
from reports.intervals import (
    INCIDENT_INTERVALS,
    UNIT_INTERVALS,
    Finding,
    IncidentStamps,
    Interval,
    Level,
    Problem,
    UnitStamps,
)
from reports.report import LAST_MINUTE
from reports.stats import Aggregate, Compliance, ReportRules, shift_name

INCIDENTS = Incident.__table__
EVENTS = TimelineEvent.__table__
UNITS = Unit.__table__
AGENCIES = Agency.__table__

INCIDENT_KINDS = ("call_received", "call_answered", "incident_closed")
UNIT_KINDS = ("unit_notified", "unit_en_route", "unit_on_scene", "unit_cleared")
CALL_KINDS = ("call_received", "call_answered")


def _events(start: datetime, end: datetime) -> sa.CTE:
    """The events that time the incidents created in [start, end): their own, and the stamps of
    their linked calls that were recorded on the call alone (a call answered after linking)."""
    window = sa.select(INCIDENTS.c.id).where(INCIDENTS.c.created_at >= start, INCIDENTS.c.created_at < end)
    links = (
        sa.select(EVENTS.c.call_id, EVENTS.c.incident_id)
        .where(EVENTS.c.kind == "call_linked", EVENTS.c.call_id.is_not(None), EVENTS.c.incident_id.in_(window))
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
            _first(ev, "unit_cleared", sa.func.max),
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

_INCIDENT_DIMENSIONS = ("day", "month", "type", "district", "shift", "minute")
_UNIT_DIMENSIONS = ("unit", "agency")


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


def _sql(rules: ReportRules, shifts: Sequence[tuple[int, int]]) -> tuple[str, str]:
    """The aggregate and the findings statements; targets and shifts are numbers we format ourselves."""
    incident_rows = " UNION ALL ".join(
        f"SELECT s.incident_id, NULL::int AS unit_id, '{i}' AS interval, '{a}' AS start_name, s.{a} AS t0, "
        f"'{b}' AS end_name, s.{b} AS t1 FROM istamps_full s"
        for i, a, b in INCIDENT_INTERVALS
    )
    unit_rows = " UNION ALL ".join(
        f"SELECT u.incident_id, u.unit_id, '{i}', '{a}', u.{a}, '{b}', u.{b} FROM ustamps u"
        for i, a, b in UNIT_INTERVALS
    )
    medical = ", ".join(f"'{m.replace(chr(39), chr(39) * 2)}'" for m in rules.medical_types) or "NULL"
    common = f"""
WITH inc AS (
  SELECT id, number, type, COALESCE(district, '(none)') AS district,
         (created_at AT TIME ZONE :tz) AS local_at,
         CASE WHEN type IN ({medical}) THEN 'medical' ELSE 'fire' END AS category
  FROM incidents WHERE created_at >= :start AND created_at < :end
),
links AS (
  SELECT DISTINCT e.call_id, e.incident_id FROM timeline_events e JOIN inc ON inc.id = e.incident_id
  WHERE e.kind = 'call_linked' AND e.call_id IS NOT NULL
),
ev AS (
  SELECT e.incident_id, e.unit_id, e.kind, e.at FROM timeline_events e JOIN inc ON inc.id = e.incident_id
  WHERE e.kind IN ('call_received', 'call_answered', 'incident_closed',
                   'unit_notified', 'unit_en_route', 'unit_on_scene', 'unit_cleared')
  UNION ALL
  SELECT l.incident_id, NULL, e.kind, e.at FROM timeline_events e JOIN links l ON l.call_id = e.call_id
  WHERE e.incident_id IS NULL AND e.kind IN ('call_received', 'call_answered')
),
ustamps AS (
  SELECT incident_id, unit_id,
         min(at) FILTER (WHERE kind = 'unit_notified') AS unit_notified,
         min(at) FILTER (WHERE kind = 'unit_en_route') AS unit_en_route,
         min(at) FILTER (WHERE kind = 'unit_on_scene') AS unit_on_scene,
         max(at) FILTER (WHERE kind = 'unit_cleared') AS unit_cleared
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
  SELECT inc.id AS incident_id,
         min(ev.at) FILTER (WHERE ev.kind = 'call_received') AS call_received,
         min(ev.at) FILTER (WHERE ev.kind = 'call_answered') AS call_answered,
         min(ev.at) FILTER (WHERE ev.kind = 'incident_closed') AS incident_closed
  FROM inc LEFT JOIN ev ON ev.incident_id = inc.id AND ev.kind IN ('call_received', 'call_answered', 'incident_closed')
  GROUP BY inc.id
),
istamps_full AS (
  SELECT s.*, us.first_notified, us.last_cleared,
         fa.unit_notified AS first_arriving_notified, fa.unit_en_route AS first_arriving_en_route,
         fa.unit_on_scene AS first_on_scene
  FROM istamps s LEFT JOIN unit_summary us USING (incident_id) LEFT JOIN first_arriving fa USING (incident_id)
),
raw AS (
  SELECT 'incident' AS level, r.* FROM ({incident_rows}) r
  UNION ALL
  SELECT 'unit', r.* FROM ({unit_rows}) r
),
iv AS (
  SELECT raw.*, inc.number, inc.type, inc.district, inc.category, inc.local_at,
         un.callsign, ag.code AS agency,
         CASE WHEN t0 IS NOT NULL AND t1 >= t0 THEN extract(epoch FROM (t1 - t0))::float8 END AS seconds
  FROM raw JOIN inc ON inc.id = raw.incident_id
  LEFT JOIN units un ON un.id = raw.unit_id LEFT JOIN agencies ag ON ag.id = un.agency_id
  WHERE t1 IS NOT NULL
)"""
    target_cols = []
    for n, t in enumerate(rules.targets):
        cond = f"interval = '{t.interval}'"
        if t.category:
            cond += f" AND category = '{t.category}'"
        if t.level:
            cond += f" AND level = '{t.level}'"
        within = f"{cond} AND seconds <= {float(t.seconds)!r}"
        target_cols.append(f"count(*) FILTER (WHERE {cond}) AS n{n}, count(*) FILTER (WHERE {within}) AS m{n}")
    targets_sql = (", " + ", ".join(target_cols)) if target_cols else ""
    fractions = "ARRAY[0.5 - 1e-9, 0.9 - 1e-9, 0.95 - 1e-9]"  # see reports.stats: exact ⌈p·N⌉ ranks

    def grouped(level: str, dims: Sequence[str]) -> str:
        dim_exprs = {
            "day": "to_char(local_at, 'YYYY-MM-DD')",
            "month": "to_char(local_at, 'YYYY-MM')",
            "type": "type",
            "district": "district",
            "shift": _shift_case(shifts, "extract(hour FROM local_at)"),
            "minute": f"least(floor(seconds / 60), {LAST_MINUTE})::int",
            "unit": "callsign",
            "agency": "agency",
        }
        cols = ", ".join(f"{dim_exprs[d]} AS d_{d}" for d in dims)
        sets = ", ".join(["(interval)", *(f"(interval, d_{d})" for d in dims)])
        which = " ".join(f"WHEN GROUPING(d_{d}) = 0 THEN '{d}'" for d in dims)
        key = "COALESCE(" + ", ".join(f"CASE WHEN GROUPING(d_{d}) = 0 THEN d_{d}::text END" for d in dims) + ", 'all')"
        return f"""
SELECT CASE {which} ELSE 'all' END AS dimension, {key} AS key, '{level}' AS level, interval,
       count(*) AS n, percentile_disc({fractions}) WITHIN GROUP (ORDER BY seconds) AS p{targets_sql}
FROM (SELECT *, {cols} FROM iv WHERE level = '{level}' AND seconds IS NOT NULL) x
GROUP BY GROUPING SETS ({sets})"""

    aggregates = common + grouped("incident", _INCIDENT_DIMENSIONS) + " UNION ALL " + grouped("unit", _UNIT_DIMENSIONS)
    findings = (
        common
        + """
SELECT level, interval, CASE WHEN t0 IS NULL THEN 'missing' ELSE 'out_of_order' END, incident_id, number,
       unit_id, callsign, start_name, t0, end_name, t1
FROM iv WHERE seconds IS NULL ORDER BY incident_id, level, unit_id NULLS FIRST"""
    )
    return aggregates, findings


def aggregate_in_sql(
    conn: Connection,
    start: datetime,
    end: datetime,
    *,
    tz: str,
    shifts: Sequence[tuple[int, int]],
    rules: ReportRules,
) -> tuple[list[Aggregate], list[Finding]]:
    """The report's aggregates and findings, computed by PostgreSQL."""
    if conn.dialect.name != "postgresql":
        raise ValueError("aggregation in SQL needs PostgreSQL")
    aggregates_sql, findings_sql = _sql(rules, shifts)
    params = {"start": start, "end": end, "tz": tz}
    aggregates = []
    for row in conn.execute(sa.text(aggregates_sql), params):
        dimension, key, level, interval, count, p = row[:6]
        rest = row[6:]
        compliance = tuple(
            Compliance(t, rest[2 * n], rest[2 * n + 1]) for n, t in enumerate(rules.targets) if rest[2 * n]
        )
        aggregates.append(Aggregate(dimension, key, level, interval, count, p[0], p[1], p[2], compliance))
    findings = [_finding(*row) for row in conn.execute(sa.text(findings_sql), params)]
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
    from datetime import UTC

    t1 = t1.astimezone(UTC)
    if t0 is None:
        detail = f"{end_name} at {t1.isoformat()} but no {start_name}"
    else:
        t0 = t0.astimezone(UTC)
        detail = (
            f"{end_name} at {t1.isoformat()} is {(t0 - t1).total_seconds():g} s before {start_name} at {t0.isoformat()}"
        )
    return Finding(Level(level), Interval(interval), Problem(problem), incident_id, number, unit_id, callsign, detail)
