"""Call states and phone numbers as people write them."""

import itertools

import pytest

from cad.domain.calls import (
    CALL_TRANSITIONS,
    CallState,
    IllegalCallTransition,
    change_call_state,
    end_state,
    normalise_phone,
)

C = CallState
LEGAL = {
    (C.RINGING, C.ANSWERED),
    (C.RINGING, C.ABANDONED),
    (C.ANSWERED, C.ENDED),
    (C.WAITING, C.RINGING),
    (C.WAITING, C.ABANDONED),
    (C.WAITING, C.OVERFLOWED),
    (C.WAITING, C.DROPPED),
    (C.RINGING, C.DROPPED),
    (C.ANSWERED, C.DROPPED),
}


@pytest.mark.parametrize(("current", "requested"), list(itertools.product(C, C)))
def test_every_move(current: CallState, requested: CallState) -> None:
    if (current, requested) in LEGAL:
        assert change_call_state(current, requested) is requested
    else:
        with pytest.raises(IllegalCallTransition):
            change_call_state(current, requested)


def test_table_matches() -> None:
    assert {(a, b) for a, bs in CALL_TRANSITIONS.items() for b in bs} == LEGAL


def test_hang_up_while_ringing_is_abandoned_after_answer_is_ended() -> None:
    assert end_state(C.RINGING) is C.ABANDONED
    assert end_state(C.ANSWERED) is C.ENDED
    assert end_state(C.WAITING) is C.ABANDONED  # hung up in the queue
    with pytest.raises(IllegalCallTransition):
        end_state(C.ENDED)
    with pytest.raises(IllegalCallTransition):
        end_state(C.OVERFLOWED)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0812 3456 7890", "+6281234567890"),
        ("081234567890", "+6281234567890"),
        ("+62 812-3456-7890", "+6281234567890"),
        ("6281234567890", "+6281234567890"),
        ("0062 812 3456 7890", "+6281234567890"),
        ("(0411) 123456", "+62411123456"),
        ("112", "112"),
    ],
)
def test_normalise_phone(raw: str, expected: str) -> None:
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "abc", "+0123", "<script>", "12345678901234567890"])
def test_not_a_phone_number(raw: str) -> None:
    with pytest.raises(ValueError, match="not a phone number"):
        normalise_phone(raw)
