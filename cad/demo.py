"""`warroom demo seed`: a demo centre placed on the configured road extract.

Stations, units and cameras stand on real road nodes of the extract (any city): cameras
at junctions of the main roads, stations spread over the area, units at their stations
with a fresh GPS fix. Deterministic: the same extract gives the same centre. The database is
marked a demo centre (`centre_marks`): the simulator runs there and nowhere else.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from cad import clock
from cad.models import Agency, Camera, Role, Station, Unit, User
from cad.services.simulation import mark_demo_centre
from cad.services.tokens import give_api_token, give_device_token
from dispatch.units import UnitType
from routing.osm import read_ways

MAIN_ROADS = {"trunk", "primary", "secondary", "tertiary"}
STATION_ROADS = MAIN_ROADS | {"residential", "unclassified"}

#: agency code, name, station names, units: (type, count, callsign prefix)
AGENCIES = [
    (
        "damkar",
        "Dinas Pemadam Kebakaran dan Penyelamatan",
        ["Pos Damkar Pusat", "Pos Damkar Utara", "Pos Damkar Selatan", "Pos Damkar Timur"],
        [(UnitType.FIRE_ENGINE, 12, "DMK"), (UnitType.WATER_TANKER, 4, "TNK"), (UnitType.RESCUE, 4, "RSC")],
    ),
    (
        "homecare",
        "Home Care Dottorota",
        ["Puskesmas Kota", "Puskesmas Pantai", "Puskesmas Bukit"],
        [(UnitType.HOME_CARE, 10, "HC")],
    ),
    ("ambulans", "Ambulans Gawat Darurat (PSC 119)", ["RSUD Kota", "RS Bhayangkara"], [(UnitType.AMBULANCE, 5, "AMB")]),
    (
        "polisi",
        "Kepolisian Resor Kota",
        ["Polsek Kota", "Polsek Pantai", "Polsek Bukit"],
        [(UnitType.POLICE, 6, "POL")],
    ),
]

CAPABILITIES = {
    UnitType.FIRE_ENGINE: ["pump", "ladder", "water_3000l"],
    UnitType.WATER_TANKER: ["water_8000l"],
    UnitType.RESCUE: ["extrication", "water_rescue", "animal_rescue"],
    UnitType.HOME_CARE: ["doctor", "nurse", "basic_life_support"],
    UnitType.AMBULANCE: ["advanced_life_support", "stretcher"],
    UnitType.POLICE: ["traffic_control", "security"],
}

DEMO_USERS = [
    ("operator", "Operator Penerima Panggilan", Role.CALL_TAKER),
    ("dispatcher", "Petugas Dispatch", Role.DISPATCHER),
    ("kru", "Kru DMK-01", Role.CREW),
    ("manajer", "Kepala UPT War Room", Role.MANAGER),
    ("admin", "Administrator", Role.ADMIN),
]

#: The demo's console passwords (a demo only: `warroom users create` makes real accounts).
DEMO_PASSWORDS = {username: f"{username}112" for username, _, _ in DEMO_USERS}

DISTRICT_GRID = [["Barat Laut", "Utara", "Timur Laut"], ["Barat Daya", "Selatan", "Tenggara"]]


@dataclass(frozen=True)
class RoadPoint:
    lat: float
    lon: float
    name: str
    highway: str


@dataclass(frozen=True)
class SeedReport:
    agencies: int
    stations: int
    units: int
    cameras: int
    tokens: dict[str, str]
    device_tokens: dict[str, str]
    passwords: dict[str, str]


def road_points(path: str) -> tuple[list[RoadPoint], list[tuple[RoadPoint, str]]]:
    """Every drivable road node of the extract, and the junctions of two named main roads."""
    points: dict[int, RoadPoint] = {}
    names_at: dict[int, set[str]] = {}
    for way in read_ways(path):
        highway = way.tags.get("highway", "")
        if highway not in STATION_ROADS:
            continue
        name = way.tags.get("name", "")
        for node_id, lat, lon in zip(way.node_ids, way.lats, way.lons, strict=True):
            if lat != lat or lon != lon:  # NaN: node outside the extract
                continue
            points.setdefault(node_id, RoadPoint(lat, lon, name, highway))
            if highway in MAIN_ROADS and name:
                names_at.setdefault(node_id, set()).add(name)
    junctions = [(points[n], " / ".join(sorted(names)[:2])) for n, names in sorted(names_at.items()) if len(names) >= 2]
    return [points[n] for n in sorted(points)], junctions


def district_of(lat: float, lon: float, bbox: tuple[float, float, float, float]) -> str:
    south, west, north, east = bbox
    row = 0 if lat >= (south + north) / 2 else 1
    col = min(2, max(0, int((lon - west) / max(east - west, 1e-9) * 3)))
    return DISTRICT_GRID[row][col]


def seed_demo(session: Session, roads_path: str, *, rng_seed: int = 112) -> SeedReport:
    if session.scalar(select(Agency.id).limit(1)) is not None:
        raise RuntimeError("the database already holds a centre; demo seed runs on an empty one")
    rng = random.Random(rng_seed)
    points, junctions = road_points(roads_path)
    if len(points) < 50:
        raise RuntimeError(f"{roads_path} has too few road nodes ({len(points)}) for a demo")
    bbox = (
        min(p.lat for p in points),
        min(p.lon for p in points),
        max(p.lat for p in points),
        max(p.lon for p in points),
    )
    main = [p for p in points if p.highway in MAIN_ROADS] or points
    now = clock.now()
    stations_n = units_n = 0
    device_tokens: dict[str, str] = {}
    for code, name, station_names, fleet in AGENCIES:
        agency = Agency(code=code, name=name)
        session.add(agency)
        stations = []
        for station_name in station_names:
            spot = rng.choice(main)
            label = spot.name
            if label and not label.lower().startswith(("jl", "jalan", "gang")):
                label = f"Jl. {label}"
            station = Station(agency=agency, name=station_name, lat=spot.lat, lon=spot.lon, address=label or None)
            session.add(station)
            stations.append(station)
        stations_n += len(stations)
        for unit_type, count, prefix in fleet:
            for i in range(1, count + 1):
                station = stations[(i - 1) % len(stations)]
                callsign = f"{prefix}-{i:02d}"
                fresh = rng.random() < 0.85
                unit = Unit(
                    callsign=callsign,
                    type=unit_type,
                    agency=agency,
                    station=station,
                    capabilities=CAPABILITIES[unit_type],
                    crew_size=4 if unit_type is UnitType.FIRE_ENGINE else 2,
                    status_changed_at=now,
                    lat=station.lat + rng.uniform(-0.0004, 0.0004),
                    lon=station.lon + rng.uniform(-0.0004, 0.0004),
                    position_at=now - timedelta(seconds=rng.uniform(5, 60) if fresh else rng.uniform(900, 7200)),
                    position_accuracy_m=rng.choice([5.0, 8.0, 12.0, 25.0]),
                )
                device_tokens[callsign] = give_device_token(unit)
                session.add(unit)
                units_n += 1
    cameras = rng.sample(junctions, min(30, len(junctions)))
    if len(cameras) < 30:  # few named junctions: fill with points on main roads
        cameras += [(p, p.name or p.highway) for p in rng.sample(main, min(len(main), 30 - len(cameras)))]
    for n, (spot, label) in enumerate(cameras, start=1):
        session.add(
            Camera(
                code=f"CAM-{n:03d}",
                name=f"CCTV {label}"[:120],
                lat=spot.lat,
                lon=spot.lon,
                heading_deg=None,
                radius_m=80.0,
                district=district_of(spot.lat, spot.lon, bbox),
            )
        )
    session.flush()
    crew_unit = session.scalar(select(Unit).where(Unit.callsign == "DMK-01"))
    tokens = {}
    for username, display, role in DEMO_USERS:
        user = User(
            username=username,
            display_name=display,
            role=role,
            password_hash=generate_password_hash(DEMO_PASSWORDS[username]),
            created_at=now,
            unit_id=crew_unit.id if role is Role.CREW and crew_unit else None,
        )
        tokens[username] = give_api_token(user)
        session.add(user)
    mark_demo_centre(session, roads_path)  # the simulator runs on this database, and on no other
    session.commit()
    return SeedReport(len(AGENCIES), stations_n, units_n, len(cameras), tokens, device_tokens, dict(DEMO_PASSWORDS))
