"""Response-time intervals, nearest-rank percentiles and compliance, on hand-built timelines whose
answers were worked out by hand (the numbers in the comments)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reports.intervals import IncidentStamps, Interval, Level, Problem, UnitStamps, measure
from reports.report import build_report, report_dict
from reports.stats import (
    DEFAULT_TARGETS,
    BadReportConfig,
    Row,
    Target,
    aggregate,
    nearest_rank,
    parse_rules,
    parse_shifts,
    shift_of,
)

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # 08:00 WITA, the 07-15 shift


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fire_incident() -> list[IncidentStamps]:
    medical = IncidentStamps(
        1,
        "MKS-1",
        "medis",
        "Utara",
        at(0),
        call_received=at(0),
        call_answered=at(10),
        incident_closed=at(1600),
        units=(
            UnitStamps(11, "AMB-1", "dinkes", at(70), at(120), at(400), at(1400)),
            UnitStamps(12, "AMB-2", "dinkes", at(75), at(100), at(420), at(1500)),
        ),
    )
    fire = IncidentStamps(
        2,
        "MKS-2",
        "kebakaran",
        None,
        at(3600 * 8),  # 16:00 WITA: the 15-23 shift
        call_received=at(3600 * 8),
        call_answered=at(3600 * 8 + 25),
        units=(UnitStamps(21, "DMK-1", "damkar", at(3600 * 8 + 85), at(3600 * 8 + 175), at(3600 * 8 + 375)),),
    )
    broken = IncidentStamps(
        3,
        "MKS-3",
        "kebakaran",
        "Selatan",
        at(3600 * 16),  # 00:00 WITA: the 23-07 shift
        units=(UnitStamps(31, "DMK-2", "damkar", at(3600 * 16 + 60), at(3600 * 16 + 200), at(3600 * 16 + 150)),),
    )
    return [medical, fire, broken]


def values(measured, level: Level) -> dict[tuple[int, int | None, str], float]:
    return {(m.incident_id, m.unit_id, str(m.interval)): m.seconds for m in measured.measurements if m.level is level}


def test_incident_intervals_by_hand() -> None:
    got = values(measure(fire_incident()), Level.INCIDENT)
    assert {k: v for k, v in got.items() if k[0] == 1} == {
        (1, None, "answering"): 10,  # received 0 → answered 10
        (1, None, "processing"): 60,  # answered 10 → first notified (AMB-1) 70
        (1, None, "turnout"): 50,  # first to arrive is AMB-1 (400 < 420): notified 70 → en route 120
        (1, None, "travel"): 280,  # AMB-1 en route 120 → on scene 400
        (1, None, "response"): 400,  # received 0 → first on scene 400
        (1, None, "on_scene"): 1100,  # first on scene 400 → last cleared 1500
        (1, None, "to_close"): 1600,
    }
    assert {k: v for k, v in got.items() if k[0] == 2} == {
        (2, None, "answering"): 25,
        (2, None, "processing"): 60,
        (2, None, "turnout"): 90,
        (2, None, "travel"): 200,
        (2, None, "response"): 375,
    }  # not cleared, not closed: those intervals are not reached, and nothing is wrong


def test_unit_intervals_by_hand() -> None:
    got = values(measure(fire_incident()), Level.UNIT)
    assert got[(1, 12, "turnout")] == 25 and got[(1, 12, "travel")] == 320 and got[(1, 12, "on_scene")] == 1080
    assert got[(1, 11, "on_scene")] == 1000
    assert got[(3, 31, "turnout")] == 140
    assert (3, 31, "travel") not in got  # on scene before en route: a finding, not a number


def test_missing_and_out_of_order_stamps_are_findings_not_zero() -> None:
    measured = measure(fire_incident())
    found = {(f.incident_id, f.level, f.unit_id, f.interval, f.problem) for f in measured.findings}
    assert found == {
        (3, Level.INCIDENT, None, Interval.PROCESSING, Problem.MISSING),  # notified, never answered
        (3, Level.INCIDENT, None, Interval.TRAVEL, Problem.OUT_OF_ORDER),
        (3, Level.INCIDENT, None, Interval.RESPONSE, Problem.MISSING),  # on scene, no call received
        (3, Level.UNIT, 31, Interval.TRAVEL, Problem.OUT_OF_ORDER),
    }
    detail = next(f.detail for f in measured.findings if f.problem is Problem.OUT_OF_ORDER)
    assert "50 s before unit_en_route" in detail or "50 s before first_arriving_en_route" in detail
    assert all(m.seconds >= 0 for m in measured.measurements)
    assert not any(m.incident_id == 3 and m.interval is Interval.RESPONSE for m in measured.measurements)


def test_nearest_rank_percentiles_by_hand() -> None:
    ten = [float(v) for v in range(1, 11)]
    assert nearest_rank(ten, 50) == 5  # rank ⌈5⌉ = 5: the lower middle value, not 5.5
    assert nearest_rank(ten, 90) == 9  # rank 9
    assert nearest_rank(ten, 95) == 10  # rank ⌈9.5⌉ = 10
    seventy = [float(v) for v in range(1, 71)]
    assert nearest_rank(seventy, 90) == 63  # 0.9 × 70 is 63.000000000000007 in floats: ranks are integers here
    assert nearest_rank([7.0], 95) == 7
    assert nearest_rank([1.0, 2.0, 3.0, 4.0, 100.0], 90) == 100  # rank ⌈4.5⌉ = 5
    with pytest.raises(ValueError):
        nearest_rank([], 50)


def test_compliance_by_hand() -> None:
    # 20 answering times: 17 of them ≤ 15 s, 19 ≤ 20 s
    answering = [5.0] * 17 + [18.0, 20.0, 40.0]
    rows = [Row("incident", "answering", s, "fire", (("all", "all"),)) for s in answering]
    (agg,) = aggregate(rows, DEFAULT_TARGETS)
    assert (agg.count, agg.median_s, agg.p90_s, agg.p95_s) == (20, 5.0, 18.0, 20.0)  # ranks 10, 18, 19
    first, second = agg.compliance
    assert (first.target.seconds, first.met, first.count) == (15, 17, 20)
    assert first.share == 0.85 and not first.compliant  # 85% < the required 90%
    assert (second.target.seconds, second.met, second.share) == (20, 19, 0.95) and second.compliant  # 95% ≥ 95%


def test_turnout_target_follows_the_incident_category() -> None:
    rows = [
        Row("incident", "turnout", 70.0, "medical", (("all", "all"),)),
        Row("incident", "turnout", 70.0, "fire", (("all", "all"),)),
    ]
    (agg,) = aggregate(rows, DEFAULT_TARGETS)
    by_category = {c.target.category: (c.met, c.count) for c in agg.compliance}
    assert by_category == {"medical": (0, 1), "fire": (1, 1)}  # 70 s is over 60 s medical, under 80 s fire


def test_report_groups_by_shift_district_and_unit() -> None:
    report = build_report(
        fire_incident(), start=T0, end=at(86400), tz="Asia/Makassar", generated_at=at(90000), detail=True
    )
    response = {a.key: a.count for a in report.select("shift") if a.interval == "response"}
    assert response == {"07-15": 1, "15-23": 1}  # incident 3's response was not measurable
    districts = {a.key for a in report.select("district")}
    assert districts == {"Utara", "(none)", "Selatan"}
    turnout_by_unit = {a.key: a.p90_s for a in report.select("unit", "unit") if a.interval == "turnout"}
    assert turnout_by_unit == {"AMB-1": 50, "AMB-2": 25, "DMK-1": 90, "DMK-2": 140}
    travel = report.overall(Interval.TRAVEL)
    assert travel is not None and (travel.count, travel.median_s, travel.p90_s) == (2, 200, 280)
    (travel_target,) = travel.compliance
    assert (travel_target.met, travel_target.count) == (1, 2)  # 280 s is over 240 s
    doc = report_dict(report)
    assert doc["findings_by_kind"]["incident.response.missing"] == 1
    assert len(doc["measurements"]) == 3 + 4


def test_shifts_and_targets_configuration() -> None:
    assert parse_shifts("06-18,18-06") == ((6, 18), (18, 6))
    assert shift_of(datetime(2026, 1, 1, 23, 30), ((23, 7), (7, 15), (15, 23))) == "23-07"
    for bad in ("07-15,15-23", "7-15,15-23,23-8", "morning", "07-15,15-07,00-01"):
        with pytest.raises(BadReportConfig):
            parse_shifts(bad)
    rules = parse_rules('{"targets": [{"interval": "travel", "seconds": 300, "fraction": 0.8}], "medical_types": []}')
    assert rules.targets == (Target("travel", 300, 0.8),) and rules.medical_types == ()
    assert parse_rules("{}").targets == DEFAULT_TARGETS
    for bad in (
        "[]",
        "{",
        '{"targets": [{"interval": "lunch", "seconds": 1, "fraction": 1}]}',
        '{"targets": [{"interval": "travel", "seconds": 1, "fraction": 2}]}',
    ):
        with pytest.raises(BadReportConfig):
            parse_rules(bad)
