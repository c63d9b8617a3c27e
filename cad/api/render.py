"""Rows to the plain dicts the API schemas describe."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from cad.models import Assignment, Call, Incident, Message, TimelineEvent, Unit
from cad.services.calls import CallerRecord
from dispatch.recommend import Ranked


def location(
    lat: float | None, lon: float | None, accuracy_m: float | None, source: str | None
) -> dict[str, Any] | None:
    if lat is None or lon is None:
        return None
    return {"lat": lat, "lon": lon, "accuracy_m": accuracy_m, "source": source}


def assignment(a: Assignment) -> dict[str, Any]:
    return {
        "id": a.id,
        "incident_id": a.incident_id,
        "incident_number": a.incident.number,
        "unit_id": a.unit_id,
        "callsign": a.unit.callsign,
        "active": a.active,
        "assigned_at": a.assigned_at,
        "acknowledged_at": a.acknowledged_at,
        "en_route_at": a.en_route_at,
        "on_scene_at": a.on_scene_at,
        "cleared_at": a.cleared_at,
    }


def incident(i: Incident, timeline: list[TimelineEvent] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": i.id,
        "number": i.number,
        "type": i.type,
        "priority": i.priority,
        "status": i.status,
        "location": location(i.lat, i.lon, i.location_accuracy_m, i.location_source),
        "address": i.address,
        "district": i.district,
        "description": i.description,
        "caller": {"phone": i.caller.phone, "name": i.caller.name} if i.caller else None,
        "created_at": i.created_at,
        "closed_at": i.closed_at,
        "disposition": i.disposition,
        "merged_into_id": i.merged_into_id,
        "version": i.version,
        "assignments": [assignment(a) for a in i.assignments],
    }
    if timeline is not None:
        out["timeline"] = [timeline_event(e) for e in timeline]
    return out


def timeline_event(e: TimelineEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "incident_id": e.incident_id,
        "kind": e.kind,
        "at": e.at,
        "recorded_at": e.recorded_at,
        "actor": e.actor,
        "unit_id": e.unit_id,
        "call_id": e.call_id,
        "source": e.source,
        "data": e.data,
    }


def unit(u: Unit, now: datetime, incident_id: int | None) -> dict[str, Any]:
    position = None
    age = None
    if u.lat is not None and u.lon is not None:
        position = {"lat": u.lat, "lon": u.lon, "at": u.position_at, "accuracy_m": u.position_accuracy_m}
        if u.position_at is not None:
            age = round((now - u.position_at).total_seconds(), 1)
    station = None
    if u.station is not None:
        station = {"id": u.station.id, "name": u.station.name, "lat": u.station.lat, "lon": u.station.lon}
    return {
        "id": u.id,
        "callsign": u.callsign,
        "type": u.type,
        "agency": u.agency.code,
        "status": u.status,
        "position": position,
        "position_age_s": age,
        "station": station,
        "capabilities": list(u.capabilities or []),
        "incident_id": incident_id,
    }


def recommendation(r: Ranked) -> dict[str, Any]:
    """One ranked unit; `stop` as {lat, lon} like a route's."""
    out = vars(r).copy()
    out["stop"] = None if r.stop is None else {"lat": r.stop[0], "lon": r.stop[1]}
    return out


def caller_history(record: CallerRecord) -> dict[str, Any]:
    flags = record.flags
    return {
        "phone": record.caller.phone,
        "name": record.caller.name,
        "calls_total": record.calls_total,
        "prank_flags": sum(1 for f in flags if f.kind == "prank"),
        "ghost_flags": sum(1 for f in flags if f.kind == "ghost"),
        "flags": [{"kind": f.kind, "at": f.at, "note": f.note, "call_id": f.call_id} for f in flags],
        "earlier_calls": [
            {
                "id": c.id,
                "received_at": c.received_at,
                "channel": c.channel,
                "state": c.state,
                "disposition": c.disposition,
                "incident_number": number,
            }
            for c, number in record.earlier_calls
        ],
    }


def call(c: Call, history: CallerRecord | None) -> dict[str, Any]:
    return {
        "id": c.id,
        "state": c.state,
        "channel": c.channel,
        "phone": c.caller.phone if c.caller else None,
        "caller_name": c.caller.name if c.caller else None,
        "sip_call_id": c.sip_call_id,
        "received_at": c.received_at,
        "answered_at": c.answered_at,
        "ended_at": c.ended_at,
        "location": location(c.lat, c.lon, c.location_accuracy_m, c.location_source),
        "location_address": c.location_address,
        "location_ref": c.location_ref,
        "sip_headers": json.loads(c.sip_headers) if c.sip_headers else None,
        "sip_agent": c.sip_agent,
        "disposition": c.disposition,
        "incident_id": c.incident_id,
        "caller_history": caller_history(history) if history else None,
    }


def message(m: Message) -> dict[str, Any]:
    return {
        "id": m.id,
        "call_id": m.call_id,
        "direction": m.direction,
        "channel": m.channel,
        "body": m.body,
        "status": m.status,
        "at": m.at,
    }
