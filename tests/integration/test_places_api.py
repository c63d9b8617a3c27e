"""Address search through the API (GET /api/v1/places), on both backends: the Balikpapan extract's
real streets, bus stops and junctions, and the hand-written town's mosque, school and house numbers
(the Balikpapan extract has highway ways and bus stops only: no school, mosque or house number)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import factories as f
import pytest
from flask import Flask
from flask.testing import FlaskClient
from requirements import needs_file

from cad.app import close_app, create_app
from cad.config import SHARED_DATA, Settings
from cad.db import db
from cad.models import Role

BALIKPAPAN = SHARED_DATA / "balikpapan_kota.overpass.json"
TOWN = Path(__file__).resolve().parents[1] / "unit" / "data" / "places" / "town.overpass.json"


@pytest.fixture
def search(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """search(q, extract=…, **params) → (status, JSON) as a call-taker."""
    apps: dict[Path, tuple[Flask, FlaskClient, dict[str, str]]] = {}

    def run(q: str, extract: Path = BALIKPAPAN, **params: Any) -> tuple[int, Any]:
        if extract not in apps:
            settings = Settings.from_env(
                {"DATABASE_URL": database_url, "WARROOM_INSTANCE": str(tmp_path), "WARROOM_ROADS": str(extract)}
            )
            app = create_app({"TESTING": True}, settings=settings)
            with app.app_context():
                _, headers = f.user(Role.CALL_TAKER)
                db.session.commit()  # this context's session ends with it: the user must outlive it
            apps[extract] = (app, app.test_client(), headers)
        app, client, headers = apps[extract]
        with app.app_context():
            response = client.get("/api/v1/places", query_string={"q": q, **params}, headers=headers)
        return response.status_code, response.get_json()

    yield run
    for app, _, _ in apps.values():
        close_app(app)


@needs_file(BALIKPAPAN)
def test_a_real_junction_street_and_bus_stop_of_balikpapan(search: Any) -> None:
    status, found = search("Sudirman / Ahmad Yani")
    assert status == 200
    junction = found[0]
    assert junction["kind"] == junction["category"] == "junction"
    assert junction["name"] == "Jalan Jenderal Sudirman / Jalan Jenderal Ahmad Yani"
    assert junction["streets"] == ["Jalan Jenderal Sudirman", "Jalan Jenderal Ahmad Yani"]
    assert junction["label"] == {"id": "simpang", "en": "junction"}
    assert (junction["lat"], junction["lon"]) == pytest.approx((-1.27700, 116.83812), abs=1e-4)  # the shared node
    reverse = search("jl. jend. a. yani & jl sudirman")[1][0]
    assert reverse["streets"] == ["Jalan Jenderal Ahmad Yani", "Jalan Jenderal Sudirman"]
    assert (reverse["lat"], reverse["lon"]) == (junction["lat"], junction["lon"])
    assert search("simpang sudirman ahmad yani")[1][0]["name"] == junction["name"]

    street = search("jl sudirman")[1][0]
    assert street["name"] == "Jalan Jenderal Sudirman" and street["kind"] == "street"
    assert street["label"] == {"id": "jalan", "en": "street"}
    assert street["housenumber"] is None and street["number_known"] is None and street["streets"] == []

    halte = search("halte simpang beller")[1][0]
    assert halte["name"] == "Halte Simpang Beller" and halte["kind"] == "place" and halte["category"] == "bus_stop"
    assert halte["label"] == {"id": "halte", "en": "bus stop"}


@needs_file(BALIKPAPAN)
def test_a_house_number_balikpapan_lacks_gives_the_street_with_a_note(search: Any) -> None:
    status, found = search("Jalan Sudirman No. 12")
    assert status == 200
    assert found[0]["name"] == "Jalan Jenderal Sudirman" and found[0]["kind"] == "street"
    assert found[0]["housenumber"] == "12" and found[0]["number_known"] is False
    assert found[0]["label"]["id"] == "jalan, nomor 12 tidak diketahui"


def test_a_mosque_a_school_and_a_house_number_of_the_town(search: Any) -> None:
    status, found = search("masjid raya", TOWN)
    assert status == 200 and [p["name"] for p in found] == ["Raya"]
    assert found[0]["kind"] == "place" and found[0]["category"] == "mosque"
    assert found[0]["label"] == {"id": "masjid", "en": "mosque"}
    school = search("sekolah", TOWN)[1][0]
    assert school["name"] == "SD Negeri 012 Balikpapan" and school["label"]["en"] == "school"
    address = search("jl sudirman 12", TOWN)[1][0]
    assert address["kind"] == "address" and address["name"] == "Jalan Jenderal Sudirman 12"
    assert address["housenumber"] == "12" and address["number_known"] is True
    assert (address["lat"], address["lon"]) == (-1.25995, 116.831)
    assert search("puskesmas", TOWN)[1][0]["label"] == {"id": "puskesmas/klinik", "en": "clinic"}
    assert len(search("s", TOWN, limit=2)[1]) == 2 and len(search("s", TOWN)[1]) > 2


def test_bad_queries_are_400s_naming_the_field(search: Any) -> None:
    for params, field in (({"q": ""}, "q"), ({"q": "x" * 101}, "q"), ({"q": "a", "limit": 0}, "limit")):
        status, body = search(params.pop("q"), TOWN, **params)
        assert status == 400 and field in str(body), (params, body)
    assert search("a", TOWN, limit="many")[0] == 400
    assert search("<script> / </script>", TOWN) == (200, [])
    assert search("/ & x", TOWN) == (200, [])
