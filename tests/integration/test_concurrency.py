"""Two dispatchers, one unit, the same moment: exactly one 201 and one 409 (real threads)."""

import threading
from collections import Counter

import factories as f
import pytest
from flask import Flask

from cad.db import db
from cad.models import Role


def _race(app: Flask, calls: list[tuple[str, dict]], headers: dict[str, str]) -> list[int]:
    """The calls from threads released together; their statuses in call order. The threads read
    through connections of their own, so what the test built is committed first."""
    db.session.commit()
    barrier = threading.Barrier(len(calls))
    statuses: list[int] = [0] * len(calls)

    def worker(i: int, path: str, body: dict) -> None:
        client = app.test_client()
        barrier.wait()
        statuses[i] = client.post(path, json=body, headers=headers).status_code

    threads = [threading.Thread(target=worker, args=(i, p, b)) for i, (p, b) in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return statuses


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_two_dispatchers_assign_the_same_unit_at_once(app: Flask, backend: str) -> None:
    _, headers = f.user(Role.DISPATCHER)
    client = app.test_client()
    outcomes: Counter[tuple[int, ...]] = Counter()
    for round_ in range(20):
        unit = f.unit(f"DMK-{round_:02d}")
        a = client.post("/api/v1/incidents", json=f.INCIDENT, headers=headers).get_json()
        b = client.post("/api/v1/incidents", json=f.INCIDENT, headers=headers).get_json()
        statuses = _race(
            app,
            [
                (f"/api/v1/incidents/{a['id']}/assignments", {"unit_id": unit.id}),
                (f"/api/v1/incidents/{b['id']}/assignments", {"unit_id": unit.id}),
            ],
            headers,
        )
        outcomes[tuple(sorted(statuses))] += 1
        assignments = [
            a_
            for i in (a, b)
            for a_ in client.get(f"/api/v1/incidents/{i['id']}", headers=headers).get_json()["assignments"]
        ]
        assert len(assignments) == 1 and assignments[0]["unit_id"] == unit.id
    assert outcomes == Counter({(201, 409): 20})


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_eight_dispatchers_race_for_one_unit(app: Flask, backend: str) -> None:
    _, headers = f.user(Role.DISPATCHER)
    client = app.test_client()
    unit = f.unit("DMK-01")
    incidents = [client.post("/api/v1/incidents", json=f.INCIDENT, headers=headers).get_json() for _ in range(8)]
    statuses = _race(
        app, [(f"/api/v1/incidents/{i['id']}/assignments", {"unit_id": unit.id}) for i in incidents], headers
    )
    assert sorted(statuses) == [201] + [409] * 7


def test_concurrent_incidents_get_distinct_consecutive_numbers(app: Flask) -> None:
    _, headers = f.user(Role.CALL_TAKER)
    statuses = _race(app, [("/api/v1/incidents", f.INCIDENT)] * 8, headers)
    assert statuses == [201] * 8
    numbers = sorted(i["number"] for i in app.test_client().get("/api/v1/incidents", headers=headers).get_json())
    assert [int(n.rsplit("-", 1)[1]) for n in numbers] == list(range(1, 9))


def _race_as(app: Flask, calls: list[tuple[str, dict, dict[str, str]]]) -> list[int]:
    """Each call with its own caller's headers (a dispatcher and a crew), all at once (committed first,
    as in `_race`)."""
    db.session.commit()
    barrier = threading.Barrier(len(calls))
    statuses: list[int] = [0] * len(calls)

    def worker(i: int, path: str, body: dict, headers: dict[str, str]) -> None:
        client = app.test_client()
        barrier.wait()
        statuses[i] = client.post(path, json=body, headers=headers).status_code

    threads = [threading.Thread(target=worker, args=(i, *call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return statuses


CLOSE = {"status": "closed", "disposition": "selesai_ditangani"}


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_closing_and_assigning_at_once_never_leaves_a_closed_incident_with_a_unit(app: Flask, backend: str) -> None:
    """The bug of the first shift walk: 9 of 10 trials ended closed with a unit still assigned."""
    _, headers = f.user(Role.DISPATCHER)
    client = app.test_client()
    outcomes: Counter[tuple[int, ...]] = Counter()
    for round_ in range(20):
        unit = f.unit(f"DMK-{round_:02d}")
        incident = client.post("/api/v1/incidents", json=f.INCIDENT, headers=headers).get_json()
        statuses = _race(
            app,
            [
                (f"/api/v1/incidents/{incident['id']}/status", CLOSE),
                (f"/api/v1/incidents/{incident['id']}/assignments", {"unit_id": unit.id}),
            ],
            headers,
        )
        outcomes[tuple(statuses)] += 1
        db.session.expire_all()  # this thread's requests share the test's session: read afresh
        after = client.get(f"/api/v1/incidents/{incident['id']}", headers=headers).get_json()
        active = [a for a in after["assignments"] if a["active"]]
        unit_status = client.get(f"/api/v1/units/{unit.id}", headers=headers).get_json()["status"]
        if after["status"] == "closed":
            assert active == [] and unit_status == "available", (after, unit_status)
        else:
            assert len(active) == 1 and unit_status == "assigned"
    assert set(outcomes) <= {(200, 409), (409, 201)} and sum(outcomes.values()) == 20, outcomes


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_closing_with_release_and_assigning_at_once_leaves_no_unit_behind(app: Flask, backend: str) -> None:
    _, headers = f.user(Role.DISPATCHER)
    client = app.test_client()
    for round_ in range(15):
        units = [f.unit(f"DMK-{round_:02d}-{n}") for n in range(2)]
        incident = client.post("/api/v1/incidents", json=f.INCIDENT, headers=headers).get_json()
        client.post(f"/api/v1/incidents/{incident['id']}/assignments", json={"unit_id": units[0].id}, headers=headers)
        statuses = _race(
            app,
            [
                (f"/api/v1/incidents/{incident['id']}/status", {**CLOSE, "release_units": True}),
                (f"/api/v1/incidents/{incident['id']}/assignments", {"unit_id": units[1].id}),
            ],
            headers,
        )
        assert statuses[0] == 200 and statuses[1] in (201, 409)
        db.session.expire_all()
        after = client.get(f"/api/v1/incidents/{incident['id']}", headers=headers).get_json()
        assert after["status"] == "closed" and not [a for a in after["assignments"] if a["active"]]
        for unit in units:
            assert client.get(f"/api/v1/units/{unit.id}", headers=headers).get_json()["status"] == "available"


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_release_and_the_crews_status_at_once_never_interleave(app: Flask, backend: str) -> None:
    """Either the release comes first (the crew's move is a 409: its unit is no longer on the
    job), or the crew's move comes first and the release, taking the row after it, releases
    a unit it sees en route; never a unit en route with no job, or released and still moving."""
    _, headers = f.user(Role.DISPATCHER)
    client = app.test_client()
    outcomes: Counter[tuple[int, ...]] = Counter()
    for round_ in range(20):
        unit = f.unit(f"DMK-{round_:02d}")
        _, crew = f.user(Role.CREW, unit=unit)
        incident = client.post("/api/v1/incidents", json=f.INCIDENT, headers=headers).get_json()
        client.post(f"/api/v1/incidents/{incident['id']}/assignments", json={"unit_id": unit.id}, headers=headers)
        statuses = _race_as(
            app,
            [
                (f"/api/v1/incidents/{incident['id']}/assignments/{unit.id}/release", {"reason": "salah"}, headers),
                (f"/api/v1/units/{unit.id}/status", {"status": "en_route"}, crew),
            ],
        )
        outcomes[tuple(statuses)] += 1
        db.session.expire_all()  # this thread's requests share the test's session: read afresh
        after = client.get(f"/api/v1/incidents/{incident['id']}", headers=headers).get_json()
        status = client.get(f"/api/v1/units/{unit.id}", headers=headers).get_json()["status"]
        if statuses[0] == 200:
            assert status == "available" and not [a for a in after["assignments"] if a["active"]]
            [released] = [e for e in after["timeline"] if e["kind"] == "unit_released"]
            moved = [e for e in after["timeline"] if e["kind"] == "unit_en_route"]
            # both succeeded only one after the other: the release saw the crew's move
            assert released["data"]["from"] == ("en_route" if statuses[1] == 200 else "assigned")
            assert bool(moved) == (statuses[1] == 200)
        else:
            assert status == "en_route" and after["assignments"][0]["active"]
    assert set(outcomes) <= {(200, 409), (409, 200), (200, 200)} and sum(outcomes.values()) == 20, outcomes


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_two_dispatchers_preempting_one_unit_exactly_one_takes_it(app: Flask, backend: str) -> None:
    _, headers = f.user(Role.DISPATCHER)
    client = app.test_client()
    for round_ in range(15):
        unit = f.unit(f"DMK-{round_:02d}")
        low = client.post("/api/v1/incidents", json={**f.INCIDENT, "priority": 3}, headers=headers).get_json()
        highs = [client.post("/api/v1/incidents", json=f.INCIDENT, headers=headers).get_json() for _ in range(2)]
        client.post(f"/api/v1/incidents/{low['id']}/assignments", json={"unit_id": unit.id}, headers=headers)
        statuses = _race(
            app,
            [(f"/api/v1/incidents/{h['id']}/assignments", {"unit_id": unit.id, "preempt": True}) for h in highs],
            headers,
        )
        assert sorted(statuses) == [201, 409], statuses
        db.session.expire_all()
        active = [
            (i["id"], a["unit_id"])
            for i in (low, *highs)
            for a in client.get(f"/api/v1/incidents/{i['id']}", headers=headers).get_json()["assignments"]
            if a["active"]
        ]
        assert active == [(highs[statuses.index(201)]["id"], unit.id)]
        assert client.get(f"/api/v1/incidents/{low['id']}", headers=headers).get_json()["status"] == "new"
