"""Benchmark of what the consoles wait for: address search, the map's road layer, a board refresh.

    python bench/consoles.py [--extract PATH] [--runs N]

Default extract: poa_osm.pbf in $WARROOM_DATA_DIR (default <repo>/../shared/data), the larger one.
* address search: our word-prefix index (routing.places.PlaceIndex) against a baseline measured in
  the same run: a plain case-folded substring scan over the same names (no accents folded, no ranking).
* road layer: building the GeoJSON of the extract once per process, and its size.
* board refresh: what the dispatcher's page fetches on every change (open incidents and all units)
  with a logged-in session, on the demo centre (SQLite, through Flask's test client: no network).
* call-taker keyboard path: the scripted ring→incident path of tests/keyboard_path.py (the one the
  browser test plays) in Debian's Chromium against the demo centre over real HTTP: the keystrokes
  besides the notes against the issue's goal (under 25, 0 clicks), what the page itself counted
  (trusted key-downs and mouse clicks), and the wall time from the ring to the created incident.
  `--keyboard-only` runs just this section.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # keyboard_path, live

from reports.stats import nearest_rank
from routing.osm import read_ways
from routing.places import PlaceIndex, road_geojson

DATA = Path(os.environ.get("WARROOM_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
QUERIES = ["ipiranga", "av bento", "rua da", "sao", "osvaldo aranha", "protasio", "jl sudirman", "zzz", "ca", "borges"]
#: the forms issue 17 added: junctions, house numbers, a kind word (the baseline scan has no answer to these)
NEW_FORMS = [
    "ipiranga / azenha",
    "av bento goncalves x ipiranga",
    "esquina protasio alves carlos gomes",
    "osvaldo aranha 1000",
    "rua da republica no 12",
    "sudirman / ahmad yani",
    "masjid raya",
    "a / b",
]


def timed(fn, runs: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return nearest_rank(samples, 50), nearest_rank(samples, 95)


def resident_mb() -> float:
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        return float("nan")


def search_figures(extract: Path, runs: int) -> None:
    before_mb = resident_mb()
    start = time.perf_counter()
    index = PlaceIndex.from_extract(extract)
    build_s = time.perf_counter() - start
    grown_mb = resident_mb() - before_mb
    names = [p.name for p in index.places]
    folded = [n.casefold() for n in names]

    def ours() -> None:
        for q in QUERIES:
            index.search(q, 10)

    def baseline() -> None:
        for q in QUERIES:
            needle = q.casefold()
            [names[i] for i, n in enumerate(folded) if needle in n][:10]

    def new_forms() -> None:
        for q in NEW_FORMS:
            index.search(q, 10)

    ours_p50, ours_p95 = timed(ours, runs)
    base_p50, base_p95 = timed(baseline, runs)
    new_p50, new_p95 = timed(new_forms, runs)
    per = len(QUERIES)
    meets = sum(len(v) for v in index.junctions.values()) // 2
    numbers = sum(len(v) for v in index.addresses.values())
    print(
        f"places index: {len(index)} names, {meets} street pairs that meet, {numbers} house numbers "
        f"from {extract.name}, built in {build_s:.2f} s, +{grown_mb:.0f} MB resident"
    )
    print(f"address search, per query: ours median {ours_p50 / per:.2f} ms p95 {ours_p95 / per:.2f} ms")
    print(f"  baseline substring scan:   median {base_p50 / per:.2f} ms p95 {base_p95 / per:.2f} ms")
    per = len(NEW_FORMS)
    print(
        f"  junctions, house numbers, kind words ({per} queries): median {new_p50 / per:.2f} ms "
        f"p95 {new_p95 / per:.2f} ms (no baseline: a substring scan finds none of these)"
    )


def layer_figures(extract: Path) -> None:
    start = time.perf_counter()
    layer = road_geojson(read_ways(extract))
    build_s = time.perf_counter() - start
    size = len(json.dumps(layer, separators=(",", ":")))
    print(f"road layer: {len(layer['features'])} lines, {size / 1e6:.2f} MB JSON, built in {build_s:.2f} s")


def board_figures(runs: int) -> None:
    from werkzeug.security import generate_password_hash

    from cad.app import close_app, create_app
    from cad.config import Settings
    from cad.db import db
    from cad.demo import seed_demo
    from cad.models import User

    roads = DATA / "balikpapan_kota.overpass.json"
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings.from_env(
            {
                "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite",
                "WARROOM_INSTANCE": folder,
                "WARROOM_ROADS": str(roads),
            }
        )
        app = create_app(settings=settings)
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            report = seed_demo(db.session, str(roads))
            user = db.session.query(User).filter_by(username="dispatcher").one()
            user.password_hash = generate_password_hash("bench")
            db.session.commit()
            client = app.test_client()
            headers = {"Authorization": f"Bearer {report.tokens['dispatcher']}"}
            for n in range(30):
                client.post(
                    "/api/v1/incidents",
                    json={"type": "medis", "priority": 1 + n % 4, "address": f"Jalan Bench {n}"},
                    headers=headers,
                )
            page = client.get("/login").get_data(as_text=True)
            token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            client.post("/login", data={"username": "dispatcher", "password": "bench", "csrf_token": token})

            def refresh() -> None:
                assert client.get("/api/v1/incidents?status=open").status_code == 200
                assert client.get("/api/v1/units").status_code == 200

            def page_load() -> None:
                assert client.get("/dispatcher").status_code == 200

            r50, r95 = timed(refresh, runs)
            p50, p95 = timed(page_load, runs)
            print(f"board refresh (30 open incidents, {report.units} units): median {r50:.1f} ms p95 {r95:.1f} ms")
            print(f"dispatcher page shell: median {p50:.1f} ms p95 {p95:.1f} ms")
        close_app(app)


def keyboard_figures() -> None:
    import re
    import shutil
    from datetime import UTC, datetime

    if shutil.which("chromium") is None:
        print("call-taker keyboard path: skipped (no chromium)")
        return
    import requests
    from keyboard_path import INCIDENT_TO_DISPATCHED, RING_TO_INCIDENT, counted, install_counters, keystrokes, play
    from live import INTAKE_TOKEN, demo_centre
    from playwright.sync_api import sync_playwright

    from cad.app import close_app, create_app
    from cad.config import Settings
    from cad.db import db
    from cad.demo import DEMO_PASSWORDS
    from cad.models import Unit

    roads = DATA / "balikpapan_kota.overpass.json"
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/keys.sqlite"
        env = {"DATABASE_URL": url, "WARROOM_INSTANCE": folder, "WARROOM_ROADS": str(roads)}
        app = create_app(settings=Settings.from_env(env))
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
        close_app(app)
        served = demo_centre(url, Path(folder), {})
        centre = next(served)
        try:
            unit = db.session.query(Unit).filter_by(callsign="DMK-01").one()
            spot = {"lat": unit.lat + 0.0008, "lon": unit.lon + 0.0008, "accuracy_m": 25, "address": None}
            db.session.remove()
            with sync_playwright() as playwright:
                chromium = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
                )
                pages = {}
                for who in ("operator", "dispatcher"):
                    pages[who] = chromium.new_page(viewport={"width": 1600, "height": 900})
                    pages[who].goto(centre.url + "/login")
                    pages[who].fill("input[name=username]", who)
                    pages[who].fill("input[name=password]", DEMO_PASSWORDS[who])
                    pages[who].click("main.login button")
                    pages[who].wait_for_selector("#live:not([hidden])")
                page, desk = pages["operator"], pages["dispatcher"]
                install_counters(page)  # from here on: keys only
                install_counters(desk)
                invite = {
                    "id": "bench-k1",
                    "kind": "invite",
                    "sip_call_id": "bench-keys@10.0.0.1",
                    "phone": "+6281234500000",
                    "received_at": datetime.now(UTC).isoformat(),
                    "location": spot,
                }
                start = time.perf_counter()
                requests.post(
                    centre.url + "/telephony/sip/events",
                    json=invite,
                    headers={"Authorization": f"Bearer {INTAKE_TOKEN}"},
                    timeout=10,
                ).raise_for_status()
                play(page, RING_TO_INCIDENT)
                page.locator("#flash .notice", has_text=re.compile(r"MKS-\d{8}-\d+")).wait_for()
                wall_s = time.perf_counter() - start
                keys, clicks = counted(page)
                play(desk, INCIDENT_TO_DISPATCHED)
                desk.locator("#queue tbody tr .badge[data-unit]").first.wait_for()
                sent_s = time.perf_counter() - start
                desk_keys, desk_clicks = counted(desk)
                chromium.close()
        finally:
            served.close()
    goal = keystrokes()
    notes = keystrokes(with_notes=True) - goal
    print(
        f"call-taker ring->incident by keyboard: {goal} keystrokes besides the notes (goal < 25),"
        f" {clicks} clicks (goal 0)"
    )
    print(f"  the page counted: {keys} key-downs ({notes} of them the notes' text), {clicks} mouse clicks")
    print(f"  wall time ring->incident created: {wall_s:.2f} s (typing at Playwright speed, search debounce 200 ms)")
    print("  before (issue 17, played by hand in Chromium): 47 keystrokes, 9 clicks")
    dispatch = keystrokes(INCIDENT_TO_DISPATCHED)
    print(
        f"dispatcher incident->unit sent by keyboard: {dispatch} keystrokes, {desk_clicks} clicks"
        f" (the page counted {desk_keys}); ring->dispatched: {goal + dispatch} keystrokes besides the notes"
        f" (goal < 25), {clicks + desk_clicks} clicks, {sent_s:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--extract", type=Path, default=DATA / "poa_osm.pbf")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--keyboard-only", action="store_true", help="only the call-taker's keyboard path")
    args = parser.parse_args()
    if args.keyboard_only:
        keyboard_figures()
        return
    search_figures(args.extract, args.runs)
    layer_figures(args.extract)
    board_figures(args.runs)
    keyboard_figures()


if __name__ == "__main__":
    main()
