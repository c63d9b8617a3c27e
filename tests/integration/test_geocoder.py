"""Address search through a deployment's Nominatim server (WARROOM_GEOCODER_URL), the extract's
place index answering when none is set or it fails. The server here is a local one speaking
Nominatim's JSON."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import factories as f
import pytest
from flask import Flask
from requirements import needs_file

from cad.config import SHARED_DATA, Settings
from cad.models import Role

ROADS = SHARED_DATA / "balikpapan_kota.overpass.json"

SUDIRMAN = {
    "place_id": 1,
    "lat": "-1.2655",
    "lon": "116.8405",
    "display_name": "Jalan Jenderal Sudirman, Klandasan Ilir, Balikpapan, Kalimantan Timur, Indonesia",
    "class": "highway",
    "type": "primary",
    "importance": 0.5,
}
SCHOOL = {
    "place_id": 2,
    "lat": "-1.2701",
    "lon": "116.8512",
    "display_name": "SD Negeri 001, Jalan Sudirman, Balikpapan, Indonesia",
    "class": "amenity",
    "type": "school",
    "importance": 0.4,
}


class FakeNominatim:
    def __init__(self) -> None:
        self.status = 200
        self.body: Any = [SUDIRMAN, SCHOOL]
        self.asked: list[dict[str, list[str]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                fake.asked.append({"path": [url.path], **parse_qs(url.query)})
                body = (fake.body if isinstance(fake.body, str) else json.dumps(fake.body)).encode()
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/nominatim/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def nominatim() -> Iterator[FakeNominatim]:
    fake = FakeNominatim()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def centre(database_url: str, tmp_path: Path, nominatim: FakeNominatim) -> Iterator[Flask]:
    """A centre on the Balikpapan extract (its place index knows the streets), its geocoder the fake."""
    from cad.app import close_app, create_app

    env = {"DATABASE_URL": database_url, "WARROOM_INSTANCE": str(tmp_path), "WARROOM_ROADS": str(ROADS)}
    app = create_app({"TESTING": True}, settings=Settings.from_env({**env, "WARROOM_GEOCODER_URL": nominatim.url}))
    with app.app_context():
        yield app
    close_app(app)


def local_answer(app: Flask, q: str) -> list[str]:
    return [p.name for p in app.extensions["warroom.roads"].places().search(q, 5)]


@needs_file(ROADS)
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_address_search_asks_the_deployments_nominatim(centre: Flask, nominatim: FakeNominatim) -> None:
    client = centre.test_client()
    _, headers = f.user(Role.CALL_TAKER)
    found = client.get("/api/v1/places?q=sudirman&limit=5", headers=headers)
    assert found.status_code == 200, found.get_json()
    street, school = found.get_json()
    assert (street["name"], street["kind"], street["lat"], street["lon"]) == (
        SUDIRMAN["display_name"],
        "street",
        -1.2655,
        116.8405,
    )
    assert school["kind"] == "place" and school["category"] == "school" and school["label"]["en"] == "school"
    asked = nominatim.asked[-1]
    assert asked["path"] == ["/nominatim/search"] and asked["q"] == ["sudirman"] and asked["limit"] == ["5"]


@needs_file(ROADS)
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("failure", ["error", "nonsense", "nothing"])
def test_the_extract_answers_when_the_geocoder_fails_or_finds_nothing(
    centre: Flask, nominatim: FakeNominatim, failure: str
) -> None:
    client = centre.test_client()
    if failure == "error":
        nominatim.status = 500
    elif failure == "nonsense":
        nominatim.body = "<html>proxy error</html>"
    else:
        nominatim.body = []
    _, headers = f.user(Role.CALL_TAKER)
    found = client.get("/api/v1/places?q=jalan&limit=5", headers=headers)
    assert found.status_code == 200, found.get_json()
    expected = local_answer(centre, "jalan")
    assert expected and [p["name"] for p in found.get_json()] == expected
    assert nominatim.asked  # it was asked first
