"""The shapes of the JSON API v1 (requests strict, responses as served)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from cad.domain.calls import CallDisposition, CallState, Channel
from cad.domain.incidents import Disposition, IncidentStatus, IncidentType
from dispatch.units import DeclineReason, UnitStatus, UnitType

#: Row ids fit a 32-bit signed integer column on every backend.
MAX_ID = 2_147_483_647
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]

LocationSource = Literal["pidf-lo", "aml", "gps", "geocoded", "manual"]


class Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class Query(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class Reply(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- shared pieces ------------------------------------------------------------


class LocationIn(Request):
    lat: float = Field(ge=-90, le=90, description="WGS84 latitude")
    lon: float = Field(ge=-180, le=180, description="WGS84 longitude")
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000)
    source: LocationSource = "manual"


class Location(Reply):
    lat: float
    lon: float
    accuracy_m: float | None = None
    source: str | None = None


class TimedPosition(Reply):
    lat: float
    lon: float
    at: datetime | None
    accuracy_m: float | None = None


# --- incidents -----------------------------------------------------------------


class IncidentCreate(Request):
    type: IncidentType
    priority: int = Field(ge=1, le=4, description="1 most urgent … 4 least")
    location: LocationIn | None = None
    address: str | None = Field(default=None, min_length=1, max_length=255)
    district: str | None = Field(default=None, max_length=120)
    description: str | None = Field(default=None, max_length=4000)
    caller_phone: str | None = Field(default=None, max_length=32)
    caller_name: str | None = Field(default=None, max_length=120)
    call_id: RowId | None = Field(default=None, description="the call this incident comes from")

    @model_validator(mode="after")
    def _somewhere(self) -> IncidentCreate:
        if self.location is None and not self.address and self.call_id is None:
            raise ValueError("give a location or an address (or the call that has one)")
        return self


class IncidentStatusChange(Request):
    status: Literal["closed", "cancelled"]
    reason: str | None = Field(default=None, max_length=500)
    disposition: Disposition | None = Field(default=None, description="how it ended: required to close")
    release_units: bool = Field(
        default=False, description="close even with units committed: they are released (the dispatcher saw them)"
    )

    @model_validator(mode="after")
    def _outcome(self) -> IncidentStatusChange:
        if self.status == "closed" and self.disposition is None:
            raise ValueError("disposition: say how the incident ended to close it")
        return self


class IncidentEdit(Request):
    """Only the fields given change; `address`, `district`, `description` and the caller's
    details may be cleared with null, the others only changed."""

    type: IncidentType | None = None
    priority: int | None = Field(default=None, ge=1, le=4)
    location: LocationIn | None = None
    address: str | None = Field(default=None, min_length=1, max_length=255)
    district: str | None = Field(default=None, max_length=120)
    description: str | None = Field(default=None, max_length=4000)
    caller_phone: str | None = Field(default=None, max_length=32)
    caller_name: str | None = Field(default=None, max_length=120)
    version: int | None = Field(default=None, ge=0, description="the version you saw: a later change answers 409")

    @model_validator(mode="after")
    def _something(self) -> IncidentEdit:
        if not self.model_fields_set - {"version"}:
            raise ValueError("give at least one field to change")
        return self


class IncidentMerge(Request):
    into: RowId = Field(description="the incident this duplicate joins")


class UnitRelease(Request):
    reason: str = Field(min_length=1, max_length=500)
    return_to_station: bool = False


class Decline(Request):
    reason: DeclineReason = Field(description="rusak: vehicle broken; sibuk: busy elsewhere; lainnya: other")
    note: str | None = Field(default=None, max_length=500)


def _one_of(value: str | None, choices: list[str]) -> str | None:
    if value is not None and value not in choices:
        raise ValueError(f"expected one of {', '.join(choices)}")
    return value


class IncidentFilter(Query):
    status: str | None = Field(
        default=None,
        description="a status, or 'open' for new/dispatched/on_scene",
        json_schema_extra={"enum": [*IncidentStatus, "open"]},
    )
    limit: int = Field(default=100, ge=1, le=1000)

    @field_validator("status")
    @classmethod
    def _status(cls, value: str | None) -> str | None:
        return _one_of(value, [*IncidentStatus, "open"])


class Caller(Reply):
    phone: str
    name: str | None = None


class AssignmentOut(Reply):
    id: int
    incident_id: int
    incident_number: str
    unit_id: int
    callsign: str
    active: bool
    assigned_at: datetime
    acknowledged_at: datetime | None
    en_route_at: datetime | None
    on_scene_at: datetime | None
    cleared_at: datetime | None


class TimelineEventOut(Reply):
    id: int
    incident_id: int | None = Field(default=None, description="a duplicate merged into this one keeps its own")
    kind: str
    at: datetime
    recorded_at: datetime
    actor: str
    unit_id: int | None
    call_id: int | None
    source: str | None
    data: dict[str, object]


class IncidentOut(Reply):
    id: int
    number: str
    type: IncidentType
    priority: int
    status: IncidentStatus
    location: Location | None
    address: str | None
    district: str | None
    description: str | None
    caller: Caller | None
    created_at: datetime
    closed_at: datetime | None
    disposition: Disposition | None = None
    merged_into_id: int | None = None
    version: int = Field(description="bumped by every change; send it back with an edit")
    assignments: list[AssignmentOut]


class IncidentDetail(IncidentOut):
    timeline: list[TimelineEventOut]


class AssignmentCreate(Request):
    unit_id: RowId
    preempt: bool = Field(
        default=False, description="take the unit from the less urgent incident it is on its way to (confirmed)"
    )


class Recommendation(Reply):
    unit_id: int
    callsign: str
    type: UnitType
    agency: str
    eta_s: float
    distance_m: float
    position_age_s: float | None
    ranked_from: Literal["position", "station"]
    reason: str | None
    method: Literal["road", "geodesic"]
    walk_m: float = Field(description="metres the crew walks where the vehicle cannot reach the spot")
    closed_road: bool = Field(default=False, description="the vehicle stops short because a camera closed the way on")
    walk_reason: str | None = Field(default=None, description="why the crew walks the last part (None: they drive up)")
    stop: dict[str, float] | None = Field(default=None, description="where the vehicle stops when the crew walks on")


#: Recommendations sent when the query names no `limit`: the best few the dispatcher's console
#: shows first (its "All units (N)" asks for `limit=all`).
RECOMMENDATIONS_SHOWN = 5


def _all_is_none(value: Any) -> Any:
    return None if value == "all" else value


class RecommendationQuery(Query):
    limit: Annotated[
        int | None,
        BeforeValidator(_all_is_none),
        WithJsonSchema(
            {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 10_000}, {"type": "string", "const": "all"}]}
        ),
    ] = Field(
        default=RECOMMENDATIONS_SHOWN,
        ge=1,
        le=10_000,
        description="the best N (1–10000), or `all` for every capable available unit (`total` says how many)",
    )


class RunCardSlot(Reply):
    role: str
    unit_types: list[UnitType]
    count: int
    candidates: list[Recommendation]
    proposed: list[int] = Field(description="unit ids proposed for this slot (each unit in one slot only)")


class RunCard(Reply):
    name: str
    slots: list[RunCardSlot]
    complete: bool = Field(description="every slot has its count of proposed units")


class RecommendationList(Reply):
    incident_id: int
    unit_types: list[UnitType]
    recommendations: list[Recommendation] = Field(description="the best `limit` by arrival time")
    total: int = Field(description="capable available units ranked, of which `recommendations` are the best")
    run_card: RunCard


class PreemptableOut(Recommendation):
    status: UnitStatus
    incident_id: int
    incident_number: str
    incident_priority: int


class DeclineOut(Reply):
    kind: str
    incident_id: int
    incident_number: str
    unit_id: int
    callsign: str
    reason: DeclineReason
    note: str | None
    unit_status: UnitStatus
    next_unit_id: int | None
    next_callsign: str | None
    next_eta_s: float | None


class DispatchCreate(Request):
    unit_ids: list[RowId] = Field(min_length=1, max_length=20, description="every unit to send, in one action")


class DispatchOut(Reply):
    assignments: list[AssignmentOut]


# --- units -----------------------------------------------------------------------


class Station(Reply):
    id: int
    name: str
    lat: float
    lon: float


class UnitOut(Reply):
    id: int
    callsign: str
    type: UnitType
    agency: str
    status: UnitStatus
    position: TimedPosition | None
    position_age_s: float | None
    station: Station | None
    capabilities: list[str]
    incident_id: int | None = Field(description="the incident of the unit's active assignment")


class UnitFilter(Query):
    status: UnitStatus | None = None
    type: UnitType | None = None


class CrewJobQuery(Query):
    unit_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="the unit (crews: their own, the default)")


class UnitStatusChange(Request):
    status: Literal[
        "acknowledged", "en_route", "on_scene", "transporting", "at_hospital", "available", "out_of_service"
    ]
    reason: str | None = Field(default=None, max_length=500)


# --- calls -----------------------------------------------------------------------


class CallCreate(Request):
    phone: str = Field(min_length=1, max_length=32)
    name: str | None = Field(default=None, max_length=120)
    channel: Channel = Channel.VOICE
    location: LocationIn | None = None


class CallDispositionIn(Request):
    disposition: CallDisposition
    note: str | None = Field(default=None, max_length=1000)


class CallFilter(Query):
    state: str | None = Field(
        default=None,
        description="a state, or 'active' for waiting/ringing/answered",
        json_schema_extra={"enum": [*CallState, "active"]},
    )
    limit: int = Field(default=100, ge=1, le=1000)
    before_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="next page: calls older than this id")

    @field_validator("state")
    @classmethod
    def _state(cls, value: str | None) -> str | None:
        return _one_of(value, [*CallState, "active"])


class EarlierCall(Reply):
    id: int
    received_at: datetime
    channel: Channel
    state: CallState
    disposition: CallDisposition | None
    incident_number: str | None


class CallerFlagOut(Reply):
    kind: CallDisposition
    at: datetime
    note: str | None
    call_id: int | None


class CallerHistory(Reply):
    phone: str
    name: str | None
    calls_total: int
    prank_flags: int
    ghost_flags: int
    flags: list[CallerFlagOut]
    earlier_calls: list[EarlierCall]


class CallOut(Reply):
    id: int
    state: CallState
    channel: Channel
    phone: str | None
    caller_name: str | None
    sip_call_id: str | None
    received_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    location: Location | None
    location_address: str | None
    location_ref: str | None = Field(description="location by reference (RFC 6442): where the network keeps it")
    sip_headers: dict[str, str] | None = Field(description="header values too long to show, whole as they came")
    sip_agent: str | None = Field(
        default=None, description="the SIP agent that took the call (WARROOM_NODE:port); its death drops the call"
    )
    disposition: CallDisposition | None
    incident_id: int | None
    caller_history: CallerHistory | None


class IntakeFailureOut(Reply):
    """A call or text the intake took but could not record: the consoles alert until it is handled."""

    id: int
    entry_id: str
    kind: str
    phone: str | None
    received_at: datetime | None
    reason: str
    reported_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None


class MessageCreate(Request):
    body: str = Field(min_length=1, max_length=1600)


class MessageOut(Reply):
    id: int
    call_id: int
    direction: Literal["in", "out"]
    channel: Channel
    body: str
    status: str
    at: datetime


# --- roads and cameras -------------------------------------------------------------


class RouteQuery(Query):
    from_: str = Field(alias="from", description="origin as 'lat,lon'", pattern=r"^\s*-?[\d.]+\s*,\s*-?[\d.]+\s*$")
    to: str = Field(description="destination as 'lat,lon'", pattern=r"^\s*-?[\d.]+\s*,\s*-?[\d.]+\s*$")
    profile: UnitType = Field(default=UnitType.FIRE_ENGINE, description="the vehicle type to route for")


class CongestedEdge(Reply):
    camera: str
    level: str
    edge: int
    way_id: int
    name: str
    extra_delay_s: float | None


class RouteOut(Reply):
    profile: str
    geometry: dict[str, object]
    eta_s: float
    eta_free_flow_s: float
    distance_m: float
    reachable: bool
    walk_m: float
    walk_s: float
    closed_road: bool = Field(default=False, description="the vehicle stops at `stop`: a camera closed the way on")
    stop: dict[str, float]
    origin_snap_distance_m: float
    destination_snap_distance_m: float
    congested_edges_on_route: list[CongestedEdge]
    congested_edges_avoided: list[CongestedEdge]


class CongestionIn(Request):
    level: str = Field(description="free, slow, heavy, jam or closed")
    observed_at: datetime | None = Field(default=None, description="when the camera saw it (UTC); default now")


class CameraOut(Reply):
    id: int
    code: str
    name: str
    lat: float
    lon: float
    heading_deg: float | None
    radius_m: float
    district: str | None
    level: str
    observed_at: datetime | None
    expires_at: datetime | None
    watches_road: bool | None = Field(description="null when no road network is loaded")


# --- coverage ----------------------------------------------------------------------


class CoverageQuery(Query):
    type: UnitType | None = Field(default=None, description="one unit type (default: every type in the fleet)")
    suggestions: int = Field(default=3, ge=0, le=10, description="how many move-ups to suggest per type")
    layer: bool = Field(default=True, description="include the uncovered roads as GeoJSON")


class CoverageDistrict(Reply):
    name: str
    covered_km: float
    total_km: float
    share: float
    covered: bool = Field(description="at least 90 % of its road length is within the target")


class DistrictGain(Reply):
    name: str
    share_before: float
    share_after: float


class MoveUpOut(Reply):
    unit_id: int
    callsign: str
    origin: dict[str, object] = Field(description="where the unit is measured from: lat, lon, ranked_from")
    station_id: int
    station: str
    post: dict[str, float] = Field(description="the station's lat, lon")
    gain_km: float = Field(description="road length brought within the target by this move")
    gain_share: float = Field(description="the same as a share of the type's road length")
    share_after: float
    districts: list[DistrictGain] = Field(description="districts whose covered share rises")


class TypeCoverage(Reply):
    type: UnitType
    target_s: float
    units_total: int
    units_available: int
    units_unplaced: list[str] = Field(description="available units with neither a fresh GPS fix nor a station")
    units_off_road: list[str] = Field(description="available units too far from a road their vehicle may use")
    covered_km: float
    total_km: float = Field(description="length of the roads this type's vehicle may use")
    share: float = Field(description="covered share of that length (0 to 1)")
    districts: list[CoverageDistrict]
    districts_covered: int
    suggestions: list[MoveUpOut]
    uncovered: dict[str, object] | None = Field(description="GeoJSON of the roads not wholly within the target")


class CoverageOut(Reply):
    computed_at: datetime
    types: list[TypeCoverage]
