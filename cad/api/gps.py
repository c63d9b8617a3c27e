"""Vehicle GPS in: the OsmAnd / Traccar Client protocol and our JSON batch of positions.

Thin: find the unit behind the device token, hold back a flooding device, read and check
each message (pure `dispatch.osmand`, `dispatch.positions`), then a service call stores the
fixes and another keeps the messages without a position (the unit stays where it was).

`osmand_answer` and `positions_answer` take the app and the request as arguments, not Flask's
request context: `cad.api.gps_wsgi` answers these paths with them before Flask's request
handling (issue 20), and the views below (routing, OpenAPI, 405/OPTIONS) call the same ones.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from flask import Blueprint, Flask, Request, Response, current_app, jsonify
from flask import request as current_request
from pydantic import BaseModel

from cad import clock
from cad.api.spec import OPERATIONS, Operation
from cad.config import Settings
from cad.db import db
from cad.errors import ApiError, InvalidInput, Unauthorized, error_response
from cad.services.positions import (
    CurrentPosition,
    DeviceDirectory,
    FloodGuard,
    GpsRules,
    Recorded,
    record_fixes,
    record_no_fix,
)
from dispatch.osmand import DEVICE_KEYS, read_osmand, what_it_said
from dispatch.positions import BATCH, TRACCAR_JSON, Fix, InvalidFix, NoFix, Spelling, read_fix, read_message

gps = Blueprint("gps", __name__)
#: The most parameters read from a body that is a query string.
_MAX_PARAMS = 200
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


def _state(app: Flask) -> _GpsState:
    extensions = app.extensions
    state = extensions.get("warroom.gps")
    if state is None:
        settings: Settings = app.config["WARROOM"]
        state = extensions.setdefault(
            "warroom.gps",
            _GpsState(DeviceDirectory(settings.gps_token_ttl_s), FloodGuard(extensions["warroom.limits"])),
        )
    return state  # type: ignore[no-any-return]


@gps.errorhandler(TooManyFixes)
@gps_api.errorhandler(TooManyFixes)
def too_many_response(error: TooManyFixes) -> Response:
    response = error_response(429, error.code, error.message, error.field)
    response.headers["Retry-After"] = str(max(1, math.ceil(error.retry_after_s)))
    return response


@gps.route("/gps/osmand", methods=["GET", "POST"])
def osmand() -> Response:
    """Traccar Client / OsmAnd. `cad.api.gps_wsgi` answers GET, HEAD and POST before Flask sees
    them; this view serves an app called without it. Flask still answers OPTIONS and 405 here."""
    return osmand_answer(current_app, current_request)


@gps_api.route("/positions", methods=["POST"])
def post_positions() -> Response:
    """A device's JSON batch; answered by `cad.api.gps_wsgi` as `osmand` is."""
    return positions_answer(current_app, current_request)


def osmand_answer(app: Flask, request: Request) -> Response:
    """`GET/POST /gps/osmand`: one message (or Traccar Client 9's JSON, possibly several); 200
    with an empty body like Traccar.

    A message with a position is a fix; one without (cell towers or Wi-Fi only, 0,0, marked
    invalid) is kept as the device's report and moves nobody."""
    received_at = clock.now()
    settings: Settings = app.config["WARROOM"]
    rules = GpsRules.from_settings(settings)
    said: list[dict[str, Any]]
    if request.mimetype == "application/json":
        token, token_field, raw, said = _traccar_json(request)
        unit_id = _unit_of(app, token, token_field)
        _hold_back_flood(app, unit_id, len(raw), settings)
        messages = []
        for index, values in enumerate(raw):
            try:
                messages.append(read_message(values, now=received_at, limits=rules.limits, spelling=TRACCAR_JSON))
            except InvalidFix as error:
                field = error.field if len(raw) == 1 else error.field.replace("location", f"location[{index}]", 1)
                raise InvalidInput(f"{field}: {error.reason}", field) from None
    else:
        params = _osmand_params(request)
        token_field = "deviceid" if "id" not in params and "deviceid" in params else "id"
        token = params[token_field][0] if params.get(token_field) else None
        unit_id = _unit_of(app, token, token_field)
        _hold_back_flood(app, unit_id, 1, settings)
        try:
            messages = [read_osmand(params, now=received_at, limits=rules.limits)]
        except InvalidFix as error:
            raise InvalidInput(f"{error.field}: {error.reason}", error.field) from None
        said = [what_it_said(params)]
    fixes = [message for message in messages if isinstance(message, Fix)]
    reports = [
        (message, _without_token(one, token))
        for message, one in zip(messages, said, strict=True)
        if isinstance(message, NoFix)
    ]
    device_token = token if isinstance(token, str) else None
    if fixes:
        _record(app, device_token, unit_id, fixes, received_at, rules)
    if reports:
        _keep_reports(app, device_token, unit_id, reports, received_at)
    return app.response_class(status=200)


def positions_answer(app: Flask, request: Request) -> Response:
    """`POST /api/v1/positions`: a batch of fixes from one device (`Authorization: Bearer <device
    token>`), with counts."""
    received_at = clock.now()
    settings: Settings = app.config["WARROOM"]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("an 'Authorization: Bearer <device token>' header is required", "Authorization")
    unit_id = _unit_of(app, token.strip(), "Authorization")
    items = _batch_items(request, settings.gps_batch_max)
    _hold_back_flood(app, unit_id, len(items), settings)
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
    recorded = _record(app, token.strip(), unit_id, fixes, received_at, rules)
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


def _unit_of(app: Flask, token: object, field: str) -> int:
    if token is not None and not isinstance(token, str):
        raise InvalidInput("the device token must be a string", field)
    return _state(app).devices.unit_id(db.session, token, field)


def _hold_back_flood(app: Flask, unit_id: int, fixes: int, settings: Settings) -> None:
    wait_s = _state(app).flood.wait_s(unit_id, fixes, settings.gps_rate, settings.gps_burst)
    if wait_s > 0:
        raise TooManyFixes(
            f"this device sends more than {settings.gps_rate:g} fixes/s (burst {settings.gps_burst:g}); "
            f"retry in {math.ceil(wait_s)} s",
            wait_s if math.isfinite(wait_s) else 60.0,
        )


def _record(
    app: Flask, token: str | None, unit_id: int, fixes: list[Fix], received_at: datetime, rules: GpsRules
) -> Recorded:
    try:
        # the scoped session itself: a fix that needs none (the usual one) opens none
        return record_fixes(db.session, unit_id, fixes, received_at=received_at, rules=rules, engine=db.engine)
    except Unauthorized:
        if token:
            _state(app).devices.forget(token)
        raise


def _keep_reports(
    app: Flask, token: str | None, unit_id: int, reports: list[tuple[NoFix, dict[str, Any]]], received_at: datetime
) -> int:
    try:
        return record_no_fix(db.session, unit_id, reports, received_at=received_at)
    except Unauthorized:
        if token:
            _state(app).devices.forget(token)
        raise


def _osmand_params(request: Request) -> dict[str, list[str]]:
    """Every parameter with every value it came with: the query and a form, or else (as Traccar's
    decoder reads it) a body that is a query string whatever its Content-Type."""
    params = request.values.to_dict(flat=False)
    if params or request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return params
    body = request.get_data(cache=True)
    if not body:
        return params
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=_MAX_PARAMS)
    except UnicodeDecodeError:
        raise InvalidInput("the body is neither JSON nor a query string in UTF-8", "body") from None
    except ValueError:
        raise InvalidInput(f"the body holds more than {_MAX_PARAMS} parameters", "body") from None


def _without_token(said: Any, token: object) -> Any:
    """What a device said, with its device token blanked wherever it appears (Traccar Client 9
    repeats its query, token included, inside the location)."""
    if not isinstance(token, str) or not token:
        return said
    if isinstance(said, str):
        return said.replace(token, "[device token]")
    if isinstance(said, list):
        return [_without_token(item, token) for item in said]
    if isinstance(said, dict):
        return {key: _without_token(value, token) for key, value in said.items() if key not in DEVICE_KEYS}
    return said


def _json_body(request: Request) -> Any:
    try:
        return json.loads(request.get_data(cache=True) or b"")
    except (ValueError, UnicodeDecodeError, RecursionError) as error:  # RecursionError: nested too deep
        raise InvalidInput(f"the body is not valid JSON: {error}", "body", code="invalid_json") from None


def _batch_items(request: Request, batch_max: int) -> list[Any]:
    if request.mimetype != "application/json":
        raise ApiError(
            "send the body as JSON with 'Content-Type: application/json'",
            "body",
            code="unsupported_media_type",
            status=415,
        )
    body = _json_body(request)
    if not isinstance(body, dict):
        raise InvalidInput('the body must be an object {"positions": [...]}', "body")
    items = body.get("positions")
    if not isinstance(items, list) or not items:
        raise InvalidInput("positions: a non-empty list of positions is required", "positions")
    if len(items) > batch_max:
        raise ApiError(f"positions: at most {batch_max} per request", "positions", code="batch_too_large", status=413)
    return items


def _traccar_json(request: Request) -> tuple[object, str, list[dict[str, object]], list[dict[str, Any]]]:
    """Traccar Client 9: `{"device_id", "location": {...} or [{...}, ...]}` → flat values per
    message, and each location as sent. A location without `coords` is a report without a position."""
    body = _json_body(request)
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
        if coords is None:  # no position: the device's report
            coords = {}
        if not isinstance(coords, dict):
            raise InvalidInput(f"{where}.coords: must be an object with latitude and longitude", f"{where}.coords")
        if not isinstance(battery, dict):
            raise InvalidInput(f"{where}.battery: must be an object", f"{where}.battery")
        flat.append(_flatten(one, coords, battery, TRACCAR_JSON))
    return token, "device_id", flat, locations


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
        str(s.charging): battery.get("is_charging"),
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
