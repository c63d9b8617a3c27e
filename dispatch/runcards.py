"""Run cards: which units, of which types and how many, an incident needs at once (pure).

A card is a list of slots; the recommendation fills each slot with its ranked candidates and
proposes the best ones, never the same unit for two slots.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dispatch.recommend import Ranked
from dispatch.units import UnitType

T = UnitType


@dataclass(frozen=True)
class Slot:
    role: str  # what the slot is for, said to the dispatcher
    unit_types: tuple[UnitType, ...]  # any of these, the first preferred only by ETA like the rest
    count: int = 1


RUN_CARDS: dict[str, tuple[Slot, ...]] = {
    "kebakaran": (Slot("pemadam", (T.FIRE_ENGINE,)),),
    "kebakaran_besar": (Slot("pemadam", (T.FIRE_ENGINE,), 2), Slot("tangki air", (T.WATER_TANKER,))),
    "medis": (Slot("medis", (T.HOME_CARE, T.AMBULANCE)),),
    "kecelakaan": (Slot("polisi", (T.POLICE,)), Slot("ambulans", (T.AMBULANCE, T.HOME_CARE))),
    "penyelamatan": (Slot("penyelamat", (T.RESCUE, T.FIRE_ENGINE)),),
    "bencana": (Slot("penyelamat", (T.RESCUE,)), Slot("pemadam", (T.FIRE_ENGINE, T.WATER_TANKER))),
    "keamanan": (Slot("polisi", (T.POLICE,)),),
    "lainnya": (Slot("unit", tuple(UnitType)),),
}


@dataclass(frozen=True)
class SlotProposal:
    slot: Slot
    candidates: tuple[Ranked, ...]
    proposed: tuple[int, ...]  # unit ids: the best `count` not already proposed for an earlier slot


def card_name(incident_type: str, priority: int, cards: Mapping[str, Sequence[Slot]] = RUN_CARDS) -> str:
    """A priority-1 incident takes the type's `_besar` (large) card when there is one."""
    if priority == 1 and f"{incident_type}_besar" in cards:
        return f"{incident_type}_besar"
    return incident_type if incident_type in cards else "lainnya"


def card_unit_types(slots: Sequence[Slot]) -> tuple[UnitType, ...]:
    seen: dict[UnitType, None] = {}
    for slot in slots:
        seen.update(dict.fromkeys(slot.unit_types))
    return tuple(seen)


#: How many candidates each slot of a run card lists.
CANDIDATES_PER_SLOT = 5


def reach(slots: Sequence[Slot], candidates_per_slot: int = CANDIDATES_PER_SLOT) -> int:
    """How far down each unit type's ranking `fill` can look: a slot lists its first
    `candidates_per_slot` fitting units and proposes the first `count` not proposed by an earlier
    slot, so it never passes more than that many units of one type."""
    return max(candidates_per_slot, sum(slot.count for slot in slots))


def fill(
    slots: Sequence[Slot], ranked: Sequence[Ranked], candidates_per_slot: int = CANDIDATES_PER_SLOT
) -> list[SlotProposal]:
    """Each slot's candidates in ETA order, and a proposal that uses each unit once."""
    used: set[int] = set()
    proposals = []
    for slot in slots:
        fitting = [r for r in ranked if r.type in slot.unit_types]
        proposed = tuple(r.unit_id for r in fitting if r.unit_id not in used)[: slot.count]
        used.update(proposed)
        proposals.append(SlotProposal(slot, tuple(fitting[:candidates_per_slot]), proposed))
    return proposals


def parse_run_cards(text: str) -> dict[str, tuple[Slot, ...]]:
    """Cards from JSON (`{"kebakaran": [{"role": "pemadam", "unit_types": ["fire_engine"], "count": 1}]}`),
    over the defaults; ValueError names the card and field at fault."""
    cards = dict(RUN_CARDS)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"run cards: not JSON ({error})") from None
    if not isinstance(document, dict):
        raise ValueError("run cards: expected an object of card name → slots")
    for name, raw_slots in document.items():
        if not isinstance(raw_slots, list) or not raw_slots:
            raise ValueError(f"run card {name!r}: expected a non-empty list of slots")
        slots = []
        for i, raw in enumerate(raw_slots):
            try:
                types = tuple(UnitType(t) for t in raw["unit_types"])
                count = int(raw.get("count", 1))
                role = str(raw["role"])
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(f"run card {name!r} slot {i}: {error}") from None
            if not types or not 1 <= count <= 10:
                raise ValueError(f"run card {name!r} slot {i}: needs unit types and a count of 1 to 10")
            slots.append(Slot(role, types, count))
        cards[str(name)] = tuple(slots)
    return cards
