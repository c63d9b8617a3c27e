"""The map's road layer over HTTP: light enough for a crew phone, compressed only for a client that
accepts it, a reload answered 304 by its ETag; and the event stream never compressed."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import brotli
import factories as f
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from live import LiveCentre, running
from requirements import need_file

from cad.app import create_app
from cad.compression import COMPRESSED_TYPES, EVENT_STREAM
from cad.config import SHARED_DATA, Settings
from cad.models import Role
from cad.roads import RoadNetwork

PORTO_ALEGRE = SHARED_DATA / "poa_osm.pbf"
PHONE, CONSOLE = 15, 16  # the levels crew.js and the other consoles ask for (common.js)
ON_THE_WIRE_MAX = 500_000

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def poa_layers(tmp_path_factory: pytest.TempPathFactory) -> RoadNetwork:
    """One process's roads for the module's apps: each level of Porto Alegre is built once."""
    return RoadNetwork(str(need_file(PORTO_ALEGRE)), tmp_path_factory.mktemp("roads"), lambda: datetime.now(UTC), 900.0)


@pytest.fixture
def poa_app(database_url: str, tmp_path: Path, poa_layers: RoadNetwork) -> Flask:
    settings = Settings.from_env(
        {"DATABASE_URL": database_url, "WARROOM_INSTANCE": str(tmp_path), "WARROOM_ROADS": poa_layers.roads_path}
    )
    app = create_app({"TESTING": True}, settings=settings)
    app.extensions["warroom.roads"] = poa_layers
    return app


@pytest.fixture
def poa(poa_app: Flask) -> Iterator[FlaskClient]:
    yield from running(poa_app)


def get(client: FlaskClient, path: str, headers: dict[str, str], **more: str) -> tuple[int, dict[str, str], bytes]:
    response = client.get(path, headers={**headers, **more})
    return response.status_code, dict(response.headers), response.get_data()


def test_the_crew_phone_gets_porto_alegre_in_under_500_kb_on_the_wire(poa: FlaskClient) -> None:
    _, crew = f.user(Role.CREW)
    _, whole_headers, whole = get(poa, "/api/v1/roads/geojson", crew, **{"Accept-Encoding": "identity"})
    for level in (PHONE, CONSOLE):
        for encoding, decompress in (("gzip", gzip.decompress), ("br", brotli.decompress)):
            status, headers, body = get(
                poa, f"/api/v1/roads/geojson?zoom={level}", crew, **{"Accept-Encoding": encoding}
            )
            assert status == 200 and headers["Content-Encoding"] == encoding
            assert headers["Content-Type"] == "application/geo+json"
            assert int(headers["Content-Length"]) == len(body) < ON_THE_WIRE_MAX, (level, encoding, len(body))
            assert json.loads(decompress(body))["type"] == "FeatureCollection"
            assert len(body) < len(whole) / 10  # the whole layer: 2.7 MB
    assert len(whole) > 2_000_000 and whole_headers["Content-Type"] == "application/json"


def test_the_layer_is_geojson_with_the_major_roads_and_minor_ones_only_zoomed_in(poa: FlaskClient) -> None:
    _, crew = f.user(Role.CREW)
    by_level = {}
    for level in (10, 13, PHONE, CONSOLE, 22):
        response = poa.get(f"/api/v1/roads/geojson?zoom={level}", headers=crew)
        layer = response.get_json()
        assert layer["type"] == "FeatureCollection"
        for feature in layer["features"]:
            assert feature["type"] == "Feature" and feature["geometry"]["type"] == "MultiLineString"
            assert all(len(line) >= 2 for line in feature["geometry"]["coordinates"])
            assert all(len(p) == 2 for line in feature["geometry"]["coordinates"] for p in line)
        by_level[level] = {ft["properties"]["highway"]: ft["properties"]["major"] for ft in layer["features"]}
    assert {"motorway", "primary"} <= set(by_level[10]) and "residential" not in by_level[10]
    assert {"motorway", "primary", "secondary", "tertiary", "residential"} <= set(by_level[13])
    assert "service" not in by_level[13] and "service" in by_level[PHONE]
    assert by_level[PHONE]["primary"] is True and by_level[PHONE]["residential"] is False
    assert by_level[22] == by_level[CONSOLE]  # every class drawn
    whole = poa.get("/api/v1/roads/geojson", headers=crew).get_json()  # unchanged for clients that ask no zoom
    assert whole["features"][0]["geometry"]["type"] == "LineString" and "name" in whole["features"][0]["properties"]
    bad = poa.get("/api/v1/roads/geojson?zoom=23", headers=crew)
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "zoom"
    assert poa.get("/api/v1/roads/geojson?zoom=15").status_code == 401


def test_compressed_only_for_a_client_that_accepts_it(poa: FlaskClient) -> None:
    _, dispatcher = f.user(Role.DISPATCHER)
    path = f"/api/v1/roads/geojson?zoom={CONSOLE}"
    _, plain_headers, plain = get(poa, path, dispatcher)  # no Accept-Encoding at all
    assert "Content-Encoding" not in plain_headers and json.loads(plain)["type"] == "FeatureCollection"
    assert "Accept-Encoding" in plain_headers["Vary"]
    _, identity_headers, _ = get(poa, path, dispatcher, **{"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in identity_headers
    _, gzip_headers, gzipped = get(poa, path, dispatcher, **{"Accept-Encoding": "gzip, deflate"})
    assert gzip_headers["Content-Encoding"] == "gzip" and gzip.decompress(gzipped) == plain
    _, br_headers, compressed = get(poa, path, dispatcher, **{"Accept-Encoding": "gzip, deflate, br"})
    assert br_headers["Content-Encoding"] == "br" and brotli.decompress(compressed) == plain
    # the consoles' own JavaScript and CSS too (static files, compressed as they stream from disk)
    for static in ("/static/consoles/js/common.js", "/static/consoles/vendor/leaflet/leaflet.js"):
        with poa.get(static, headers={"Accept-Encoding": "gzip, deflate, br"}) as response:
            assert response.status_code == 200 and response.headers["Content-Encoding"] == "br", static
            etag = response.headers["ETag"]
        with poa.get(static, headers={"Accept-Encoding": "gzip, deflate, br", "If-None-Match": etag}) as again:
            assert again.status_code == 304, static
        with poa.get(static) as plain_file:  # no Accept-Encoding: as it is
            assert plain_file.status_code == 200 and "Content-Encoding" not in plain_file.headers


def test_a_layer_is_compressed_once_and_nothing_else_is_kept(
    poa: FlaskClient, poa_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flask_compress.flask_compress as library

    compressed: list[str] = []
    real = library._compress_data
    monkeypatch.setattr(
        library, "_compress_data", lambda app, data, algo: compressed.append(algo) or real(app, data, algo)
    )
    _, crew = f.user(Role.CREW)
    bodies = set()
    for _ in range(3):
        for encoding in ("gzip", "br"):
            response = poa.get(f"/api/v1/roads/geojson?zoom={PHONE}", headers={**crew, "Accept-Encoding": encoding})
            bodies.add((encoding, response.get_data()))
    assert sorted(compressed) == ["br", "gzip"] and len(bodies) == 2
    for _ in range(2):  # a reply of its own to each request: compressed each time, never kept
        assert (
            poa.get("/api/v1/openapi.json", headers={"Accept-Encoding": "gzip"}).headers["Content-Encoding"] == "gzip"
        )
    assert compressed.count("gzip") == 3
    kept = poa_app.extensions["warroom.compress"].cache._kept
    assert len(kept) == 2 and all("roads:" in key for key in kept)


def test_a_reload_with_the_etag_is_a_304(poa: FlaskClient) -> None:
    _, crew = f.user(Role.CREW)
    etags = set()
    for path in (
        "/api/v1/roads/geojson",
        f"/api/v1/roads/geojson?zoom={PHONE}",
        f"/api/v1/roads/geojson?zoom={CONSOLE}",
    ):
        for encoding in ("identity", "gzip", "br"):
            first = poa.get(path, headers={**crew, "Accept-Encoding": encoding})
            etag = first.headers["ETag"]
            assert first.status_code == 200 and etag.startswith('W/"')
            assert first.headers["Cache-Control"] == "private, max-age=3600"
            reload = poa.get(path, headers={**crew, "Accept-Encoding": encoding, "If-None-Match": etag})
            assert reload.status_code == 304 and reload.get_data() == b"" and reload.headers["ETag"] == etag
            etags.add(etag)
        stale = poa.get(path, headers={**crew, "If-None-Match": 'W/"not-this-one"'})
        assert stale.status_code == 200 and stale.get_data()
    assert len(etags) == 3  # one per layer, whatever the encoding
    zoom_16, zoom_17 = (poa.get(f"/api/v1/roads/geojson?zoom={z}", headers=crew).headers["ETag"] for z in (16, 17))
    assert zoom_16 != zoom_17 == poa.get("/api/v1/roads/geojson?zoom=19", headers=crew).headers["ETag"]


def test_without_an_extract_the_layer_is_empty(client: FlaskClient) -> None:
    _, crew = f.user(Role.CREW)
    for path in ("/api/v1/roads/geojson", "/api/v1/roads/geojson?zoom=15"):
        response = client.get(path, headers=crew)
        assert response.status_code == 200 and response.get_json() == {"type": "FeatureCollection", "features": []}


def test_the_event_stream_is_never_compressed_and_each_event_arrives_at_once(served_app: LiveCentre) -> None:
    assert EVENT_STREAM not in COMPRESSED_TYPES
    _, headers = f.user(Role.DISPATCHER)
    token = headers["Authorization"].split()[1]
    stream = requests.get(
        served_app.url + "/api/v1/events",
        headers={**headers, "Accept-Encoding": "gzip, deflate, br, zstd"},
        stream=True,
        timeout=(5, 10),  # a compressor holding an event back would time the read out
    )
    try:
        assert stream.status_code == 200 and stream.headers["Content-Type"].startswith(EVENT_STREAM)
        assert "Content-Encoding" not in stream.headers
        lines = stream.iter_lines(decode_unicode=True)
        assert next(line for line in lines if line.startswith(":")) == ": connected"
        for n in range(3):  # the next incident is made only when this one's event has been read
            made: list[requests.Response] = []
            incident = {"type": "medis", "priority": 2, "address": f"Jalan Satu {n}"}
            maker = threading.Thread(
                target=lambda made=made, incident=incident: made.append(
                    served_app.post("/api/v1/incidents", token, json=incident)
                )
            )
            maker.start()
            data = next(line for line in lines if line.startswith("data: ") and '"number"' in line)
            maker.join(10)
            assert made and made[0].status_code == 201, made
            assert json.loads(data[len("data: ") :])["number"] == made[0].json()["number"]
    finally:
        stream.close()
