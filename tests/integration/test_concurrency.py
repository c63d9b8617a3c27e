"""Two dispatchers, one unit, the same moment: exactly one 201 and one 409 (real threads)."""

import threading
from collections import Counter

import factories as f
import pytest
from flask import Flask

from cad.models import Role


def _race(app: Flask, calls: list[tuple[str, dict]], headers: dict[str, str]) -> list[int]:
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
