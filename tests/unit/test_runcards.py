"""Run cards: slots, proposals that use each unit once, configuration."""

from __future__ import annotations

import pytest

from dispatch.recommend import Ranked
from dispatch.runcards import RUN_CARDS, Slot, card_name, card_unit_types, fill, parse_run_cards
from dispatch.units import UnitType

T = UnitType


def ranked(uid: int, unit_type: UnitType, eta_s: float) -> Ranked:
    return Ranked(uid, f"U-{uid}", unit_type, "x", eta_s, eta_s * 10, 5.0, "position", None, "road")


def test_a_big_fire_takes_the_large_card_and_others_their_own() -> None:
    assert card_name("kebakaran", 1) == "kebakaran_besar"
    assert card_name("kebakaran", 2) == "kebakaran"
    assert card_name("kecelakaan", 1) == "kecelakaan"
    assert card_name("gempa", 3) == "lainnya"
    assert card_unit_types(RUN_CARDS["kecelakaan"]) == (T.POLICE, T.AMBULANCE, T.HOME_CARE)


def test_each_unit_fills_one_slot_and_slots_come_in_eta_order() -> None:
    slots = (Slot("pemadam", (T.FIRE_ENGINE,), 2), Slot("tangki", (T.WATER_TANKER,)), Slot("lagi", (T.FIRE_ENGINE,)))
    units = [
        ranked(1, T.FIRE_ENGINE, 300),
        ranked(2, T.WATER_TANKER, 100),
        ranked(3, T.FIRE_ENGINE, 120),
        ranked(4, T.FIRE_ENGINE, 500),
    ]
    units.sort(key=lambda r: r.eta_s)
    first, tanker, extra = fill(slots, units)
    assert first.proposed == (3, 1) and tanker.proposed == (2,) and extra.proposed == (4,)
    assert [c.unit_id for c in first.candidates] == [3, 1, 4]


def test_a_slot_left_short_says_so_by_proposing_fewer() -> None:
    (slot,) = fill((Slot("pemadam", (T.FIRE_ENGINE,), 2),), [ranked(1, T.FIRE_ENGINE, 60)])
    assert slot.proposed == (1,)


def test_cards_from_configuration_override_the_defaults() -> None:
    cards = parse_run_cards('{"medis": [{"role": "ambulans", "unit_types": ["ambulance"], "count": 2}]}')
    assert cards["medis"] == (Slot("ambulans", (T.AMBULANCE,), 2),)
    assert cards["kebakaran"] == RUN_CARDS["kebakaran"]


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("not json", "not JSON"),
        ("[]", "expected an object"),
        ('{"medis": []}', "non-empty list"),
        ('{"medis": [{"role": "a", "unit_types": ["helicopter"]}]}', "slot 0"),
        ('{"medis": [{"unit_types": ["ambulance"]}]}', "slot 0"),
        ('{"medis": [{"role": "a", "unit_types": ["ambulance"], "count": 99}]}', "count of 1 to 10"),
    ],
)
def test_bad_cards_are_refused_naming_the_fault(text: str, fault: str) -> None:
    with pytest.raises(ValueError, match=fault):
        parse_run_cards(text)
