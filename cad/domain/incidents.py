"""Incident types, priorities, the incident lifecycle and incident numbers (pure)."""

from __future__ import annotations

from datetime import date
from enum import IntEnum, StrEnum


class IncidentType(StrEnum):
    """What happened, in the words of an Indonesian 112 centre."""

    KEBAKARAN = "kebakaran"  # fire
    MEDIS = "medis"  # medical
    KECELAKAAN = "kecelakaan"  # traffic accident
    PENYELAMATAN = "penyelamatan"  # rescue: trapped people, animals
    BENCANA = "bencana"  # flood, landslide, disaster
    KEAMANAN = "keamanan"  # police matter
    LAINNYA = "lainnya"  # anything else


INCIDENT_TYPE_LABELS: dict[IncidentType, dict[str, str]] = {
    IncidentType.KEBAKARAN: {"id": "Kebakaran", "en": "Fire"},
    IncidentType.MEDIS: {"id": "Medis", "en": "Medical"},
    IncidentType.KECELAKAAN: {"id": "Kecelakaan lalu lintas", "en": "Traffic accident"},
    IncidentType.PENYELAMATAN: {"id": "Penyelamatan", "en": "Rescue"},
    IncidentType.BENCANA: {"id": "Bencana / banjir", "en": "Flood / disaster"},
    IncidentType.KEAMANAN: {"id": "Keamanan", "en": "Police / security"},
    IncidentType.LAINNYA: {"id": "Lainnya", "en": "Other"},
}


class Priority(IntEnum):
    """1 is the most urgent (life at risk now), 4 the least."""

    IMMEDIATE = 1
    URGENT = 2
    PROMPT = 3
    ROUTINE = 4


class IncidentStatus(StrEnum):
    NEW = "new"
    DISPATCHED = "dispatched"
    ON_SCENE = "on_scene"
    CLOSED = "closed"
    CANCELLED = "cancelled"


I = IncidentStatus

INCIDENT_TRANSITIONS: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    I.NEW: frozenset({I.DISPATCHED, I.CLOSED, I.CANCELLED}),
    # back to NEW when the last committed unit is withdrawn before arriving; closed when the
    # dispatcher learns it is over before anyone arrived (its units are released first)
    I.DISPATCHED: frozenset({I.ON_SCENE, I.NEW, I.CLOSED, I.CANCELLED}),
    I.ON_SCENE: frozenset({I.CLOSED}),
    I.CLOSED: frozenset(),
    I.CANCELLED: frozenset(),
}

OPEN_STATUSES = frozenset({I.NEW, I.DISPATCHED, I.ON_SCENE})


class IllegalIncidentTransition(ValueError):
    def __init__(self, current: IncidentStatus, requested: IncidentStatus, why: str = "") -> None:
        allowed = ", ".join(sorted(INCIDENT_TRANSITIONS[current])) or "none"
        reason = why or f"allowed: {allowed}"
        super().__init__(f"an incident that is {current} cannot become {requested} ({reason})")
        self.current = current
        self.requested = requested


def change_incident_status(
    current: IncidentStatus, requested: IncidentStatus, committed_units: int = 0
) -> IncidentStatus:
    """The new status, or IllegalIncidentTransition.

    An incident is closed only when no unit is still committed to it; cancelling
    releases its units (the caller of this function does that).
    """
    if requested not in INCIDENT_TRANSITIONS[current]:
        raise IllegalIncidentTransition(current, requested)
    if requested is I.CLOSED and committed_units:
        raise IllegalIncidentTransition(
            current, requested, f"{committed_units} unit(s) still committed: clear them first"
        )
    return requested


def status_after_unit_released(current: IncidentStatus, committed_left: int, ever_on_scene: bool) -> IncidentStatus:
    """When a unit is cleared or withdrawn: a dispatched incident nobody reached goes back to NEW."""
    if current is I.DISPATCHED and committed_left == 0 and not ever_on_scene:
        return I.NEW
    return current


class Disposition(StrEnum):
    """How an incident ended: asked for on closing, counted in reports."""

    HANDLED = "selesai_ditangani"
    NOT_FOUND = "tidak_ditemukan"
    HOAX = "palsu_iseng"
    REFERRED = "dialihkan"
    DUPLICATE = "ganda"


DISPOSITION_LABELS: dict[Disposition, dict[str, str]] = {
    Disposition.HANDLED: {"id": "Selesai ditangani", "en": "Handled"},
    Disposition.NOT_FOUND: {"id": "Tidak ditemukan", "en": "Nothing found"},
    Disposition.HOAX: {"id": "Palsu / iseng", "en": "Hoax / prank"},
    Disposition.REFERRED: {"id": "Dialihkan ke instansi lain", "en": "Referred to another agency"},
    Disposition.DUPLICATE: {"id": "Ganda (digabung)", "en": "Duplicate (merged)"},
}


class MergeRefused(ValueError):
    """Two incidents that cannot be merged, and why."""


def check_merge(duplicate_open: bool, into_open: bool, same: bool, into_merged: bool) -> None:
    """A duplicate is merged into another open incident, never into itself or into one that was
    itself merged away (follow the chain to the incident that lives on instead)."""
    if same:
        raise MergeRefused("an incident cannot be merged into itself")
    if not duplicate_open:
        raise MergeRefused("only an open incident can be merged into another")
    if not into_open or into_merged:
        raise MergeRefused("the incident to merge into is no longer open")


def format_incident_number(prefix: str, day: date, sequence: int) -> str:
    """`MKS-20261122-0001`: prefix, local day, a per-day sequence."""
    if not 1 <= sequence <= 999_999:
        raise ValueError(f"incident sequence out of range: {sequence}")
    return f"{prefix}-{day:%Y%m%d}-{sequence:04d}"
