"""Vehicle GPS in: the OsmAnd / Traccar Client protocol and our JSON batch of positions.

Thin: find the unit behind the device token, hold back a flooding device, read and check
each fix (pure `dispatch.positions`), then one service call stores them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel

from cad import clock
from cad.api.spec import OPERATIONS, Operation
from cad.config import Settings
from cad.db import db
from cad.errors import ApiError, InvalidInput, Unauthorized
from cad.services.positions import CurrentPosition, DeviceDirectory, FloodGuard, GpsRules, Recorded, record_fixes
from dispatch.positions import BATCH, OSMAND, TRACCAR_JSON, Fix, InvalidFix, Spelling, read_fix

gps = Blueprint("gps", __name__)
gps_api = Blueprint("gps_api", __name__, url_prefix="/api/v1")


class TooManyFixes(ApiError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class _GpsState:
    devices: DeviceDirectory
    flood: FloodGuard


def _state() -> _GpsState:
    extensions = current_app.extensions
    state = extensions.get("warroom.gps")
    if state is None:
        settings: Settings = current_app.config["WARROOM"]
        state = extensions.setdefault("warroom.gps", _GpsState(DeviceDirectory(settings.gps_token_ttl_s), FloodGuard()))
    return state  # type: ignore[no-any-return]


@gps.errorhandler(TooManyFixes)
@gps_api.errorhandler(TooManyFixes)
def _too_many(error: TooManyFixes) -> Response:
    response = jsonify({"error": {"code": error.code, "message": error.message, "field": error.field}})
    response.status_code = 429
    response.headers["Retry-After"] = str(max(1, math.ceil(error.retry_after_s)))
    return response


@gps.route("/gps/osmand", methods=["GET", "POST"])
def osmand() -> Response:
    """One fix (or Traccar Client 9's JSON, possibly several); 200 with an empty body like Traccar."""
    received_at = clock.now()
    settings: Settings = current_app.config["WARROOM"]
    raw: Sequence[Mapping[str, object]]
    if request.mimetype == "application/json":
        token, token_field, raw = _traccar_json()
        spelling = TRACCAR_JSON
    else:
        form = request.values
        token_field = "deviceid" if "id" not in form and "deviceid" in form else "id"
        token, raw = form.get(token_field), [form.to_dict()]
        spelling = OSMAND
    unit_id = _unit_of(token, token_field)
    _hold_back_flood(unit_id, len(raw), settings)
    rules = GpsRules.from_settings(settings)
    fixes = []
    for index, values in enumerate(raw):
        try:
            fixes.append(read_fix(values, now=received_at, limits=rules.limits, spelling=spelling))
        except InvalidFix as error:
            field = error.field if len(raw) == 1 else error.field.replace("location", f"location[{index}]", 1)
            raise InvalidInput(f"{field}: {error.reason}", field) from None
    _record(token if isinstance(token, str) else None, unit_id, fixes, received_at, rules)
    return Response(status=200)


@gps_api.route("/positions", methods=["POST"])
def post_positions() -> Response:
    """A batch of fixes from one device (`Authorization: Bearer <device token>`), with counts."""
    received_at = clock.now()
    settings: Settings = current_app.config["WARROOM"]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("an 'Authorization: Bearer <device token>' header is required", "Authorization")
    unit_id = _unit_of(token.strip(), "Authorization")
    items = _batch_items(settings.gps_batch_max)
    _hold_back_flood(unit_id, len(items), settings)
    rules = GpsRules.from_settings(settings)
    fixes: list[Fix] = []
    rejected: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            rejected.append({"index": index, "field": f"positions[{index}]", "reason": "must be an object"})
            continue
        try:
            fixes.append(read_fix(item, now=received_at, limits=rules.limits, spelling=BATCH))
        except InvalidFix as error:
            rejected.append({"index": index, "field": f"positions[{index}].{error.field}", "reason": error.reason})
    if not fixes:
        first = rejected[0]
        raise InvalidInput(f"no valid position in the batch; {first['field']}: {first['reason']}", first["field"])
    recorded = _record(token.strip(), unit_id, fixes, received_at, rules)
    return jsonify(
        {
            "unit_id": unit_id,
            "received": len(items),
            "accepted": recorded.accepted,
            "duplicates": recorded.duplicates,
            "out_of_order": recorded.out_of_order,
            "rejected": rejected,
            "position": _position(recorded.position),
            "status": recorded.status,
        }
    )


def _unit_of(token: object, field: str) -> int:
    if token is not None and not isinstance(token, str):
        raise InvalidInput("the device token must be a string", field)
    return _state().devices.unit_id(db.session, token, field)


def _hold_back_flood(unit_id: int, fixes: int, settings: Settings) -> None:
    wait_s = _state().flood.wait_s(unit_id, fixes, settings.gps_rate, settings.gps_burst)
    if wait_s > 0:
        raise TooManyFixes(
            f"this device sends more than {settings.gps_rate:g} fixes/s (burst {settings.gps_burst:g}); "
            f"retry in {math.ceil(wait_s)} s",
            wait_s if math.isfinite(wait_s) else 60.0,
        )


def _record(token: str | None, unit_id: int, fixes: list[Fix], received_at: datetime, rules: GpsRules) -> Recorded:
    try:
        return record_fixes(db.session, unit_id, fixes, received_at=received_at, rules=rules)
    except Unauthorized:
        if token:
            _state().devices.forget(token)
        raise


def _json_body() -> Any:
    try:
        return json.loads(request.get_data(cache=True) or b"")
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidInput(f"the body is not valid JSON: {error}", "body", code="invalid_json") from None


def _batch_items(batch_max: int) -> list[Any]:
    if request.mimetype != "application/json":
        raise InvalidInput(
            "send the body as JSON with 'Content-Type: application/json'",
            "body",
            code="unsupported_media_type",
            status=415,
        )
    body = _json_body()
    if not isinstance(body, dict):
        raise InvalidInput('the body must be an object {"positions": [...]}', "body")
    items = body.get("positions")
    if not isinstance(items, list) or not items:
        raise InvalidInput("positions: a non-empty list of positions is required", "positions")
    if len(items) > batch_max:
        raise InvalidInput(
            f"positions: at most {batch_max} per request", "positions", code="batch_too_large", status=413
        )
    return items


def _traccar_json() -> tuple[object, str, list[dict[str, object]]]:
    """Traccar Client 9: `{"device_id", "location": {...} or [{...}, ...]}` → flat values per fix."""
    body = _json_body()
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", "body")
    token = body.get("device_id", request.args.get("id"))
    location = body.get("location")
    locations = location if isinstance(location, list) else [location]
    if not locations:
        raise InvalidInput("location: at least one location is required", "location")
    flat: list[dict[str, object]] = []
    for index, one in enumerate(locations):
        where = "location" if len(locations) == 1 else f"location[{index}]"
        if not isinstance(one, dict):
            raise InvalidInput(f"{where}: must be an object", where)
        coords, battery = one.get("coords"), one.get("battery", {})
        if not isinstance(coords, dict):
            raise InvalidInput(f"{where}.coords: must be an object with latitude and longitude", f"{where}.coords")
        if not isinstance(battery, dict):
            raise InvalidInput(f"{where}.battery: must be an object", f"{where}.battery")
        flat.append(_flatten(one, coords, battery, TRACCAR_JSON))
    return token, "device_id", flat


def _flatten(
    location: Mapping[str, object], coords: Mapping[str, object], battery: Mapping[str, object], s: Spelling
) -> dict[str, object]:
    return {
        s.lat: coords.get("latitude"),
        s.lon: coords.get("longitude"),
        s.at: location.get("timestamp"),
        s.accuracy_m: coords.get("accuracy"),
        s.speed_mps: coords.get("speed"),
        s.bearing_deg: coords.get("heading"),
        s.battery_pct: battery.get("level"),
        str(s.altitude_m): coords.get("altitude"),
    }


def _position(position: CurrentPosition | None) -> dict[str, Any] | None:
    if position is None:
        return None
    at = position.at.isoformat().replace("+00:00", "Z") if position.at else None
    return {"lat": position.lat, "lon": position.lon, "at": at, "accuracy_m": position.accuracy_m}


# --- OpenAPI: the batch endpoint is checked by dispatch.positions, described here --------------


class PositionIn(BaseModel):
    lat: float
    lon: float
    at: str
    accuracy_m: float | None = None
    speed_mps: float | None = None
    bearing_deg: float | None = None
    battery_pct: float | None = None


class PositionBatch(BaseModel):
    positions: list[PositionIn]


class PositionRejected(BaseModel):
    index: int
    field: str
    reason: str


class PositionNow(BaseModel):
    lat: float
    lon: float
    at: str | None
    accuracy_m: float | None


class PositionReport(BaseModel):
    unit_id: int
    received: int
    accepted: int
    duplicates: int
    out_of_order: int
    rejected: list[PositionRejected]
    position: PositionNow | None
    status: str


OPERATIONS.append(
    Operation(
        endpoint="gps_api.post_positions",
        rule="/api/v1/positions",
        method="post",
        summary="A batch of GPS positions from one unit's device (bearer: the device token)",
        tag="gps",
        roles=frozenset(),
        body=PositionBatch,
        query=None,
        response=PositionReport,
        status=200,
        errors=(413, 415, 429),
    )
)
