"""Benchmark of the map's road layer: bytes on the wire and the time to build and serve it.

    python bench/roads.py [--runs N] [--zooms 10,13,15,16,17]

For Porto Alegre and Balikpapan (in $WARROOM_DATA_DIR, default <repo>/../shared/data): the whole
layer as every console downloaded it before (uncompressed, and gzipped), against the light layer of
each zoom level, uncompressed, gzip and brotli as the app sends them (Flask-Compress at its levels:
gzip 6, brotli 4). Cold: reading the extract and building the level in a fresh RoadNetwork. Warm: one
GET through the app's test client (auth, the kept bytes, compression) and a reload with the ETag.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import brotli

from cad.config import SHARED_DATA
from cad.roads import RoadNetwork

EXTRACTS = {"Porto Alegre": "poa_osm.pbf", "Balikpapan": "balikpapan_kota.overpass.json"}
PHONE, CONSOLE = 15, 16  # the levels crew.js and the other consoles ask for


def median_ms(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def kb(n: int) -> str:
    return f"{n / 1000:,.0f} KB" if n >= 10_000 else f"{n / 1000:,.1f} KB"


def get_ms(client: Any, path: str, headers: dict[str, str], status: int, runs: int) -> float:
    def get() -> None:
        assert client.get(path, headers=headers).status_code == status

    return median_ms(get, runs)


def serve_figures(extract: Path, zooms: list[int], runs: int) -> dict[int | None, tuple[float, float, float]]:
    """Median ms of a GET (gzip, brotli) and of a reload answered 304, per level, through the app."""
    import factories as f  # tests/factories.py: a user and their bearer token

    from cad.app import close_app, create_app
    from cad.config import Settings
    from cad.models import Role

    figures: dict[int | None, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings.from_env(
            {
                "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite",
                "WARROOM_INSTANCE": folder,
                "WARROOM_ROADS": str(extract),
            }
        )
        app = create_app(settings=settings)
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            _, headers = f.user(Role.CREW)
            client = app.test_client()
            for zoom in [None, *zooms]:
                path = "/api/v1/roads/geojson" + ("" if zoom is None else f"?zoom={zoom}")
                etag = client.get(path, headers=headers).headers["ETag"]  # built here, once
                figures[zoom] = (
                    get_ms(client, path, {**headers, "Accept-Encoding": "gzip"}, 200, runs),
                    get_ms(client, path, {**headers, "Accept-Encoding": "br"}, 200, runs),
                    get_ms(client, path, {**headers, "If-None-Match": etag}, 304, runs),
                )
        close_app(app)
    return figures


def roads_of(extract: Path) -> RoadNetwork:
    """A fresh process's roads of `extract` (its map; the graph is not loaded)."""
    return RoadNetwork(str(extract), Path(tempfile.gettempdir()), lambda: datetime.now(UTC), 900.0)


def extract_figures(name: str, extract: Path, zooms: list[int], runs: int) -> None:
    start = time.perf_counter()
    whole = roads_of(extract).road_layer().body
    whole_s = time.perf_counter() - start
    served = serve_figures(extract, zooms, runs)
    gz = len(gzip.compress(whole, 6))
    print(f"{name} ({extract.name}):")
    print(
        f"  whole layer (as before, no zoom): {kb(len(whole))}, gzip {kb(gz)}, built in {whole_s:.2f} s cold, "
        f"served gzip {served[None][0]:.1f} ms / br {served[None][1]:.1f} ms warm, 304 {served[None][2]:.1f} ms"
    )
    for zoom in zooms:
        layers = roads_of(extract)  # cold: reads the extract (its lines, labels, places), then builds the level
        start = time.perf_counter()
        body = layers.road_layer(zoom).body
        cold_s = time.perf_counter() - start
        start = time.perf_counter()
        layers.road_layer(zoom + 1 if zoom < 17 else zoom - 1)
        next_s = time.perf_counter() - start
        who = " (crew phone)" if zoom == PHONE else " (consoles)" if zoom == CONSOLE else ""
        get_gz, get_br, reload = served[zoom]
        print(
            f"  zoom {zoom}{who}: {kb(len(body))}, gzip {kb(len(gzip.compress(body, 6)))}, "
            f"br {kb(len(brotli.compress(body, quality=4)))}; built in {cold_s:.2f} s cold "
            f"(another level then {next_s:.2f} s); served gzip {get_gz:.1f} ms / br {get_br:.1f} ms warm, "
            f"304 {reload:.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--zooms", default="10,13,15,16,17")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    zooms = [int(z) for z in args.zooms.split(",")]
    for name, file in EXTRACTS.items():
        extract = SHARED_DATA / file
        if not extract.exists():
            print(f"{name}: {extract} not found (set WARROOM_DATA_DIR)")
            continue
        extract_figures(name, extract, zooms, args.runs)


if __name__ == "__main__":
    main()
