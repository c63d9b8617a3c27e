"""Replies in flight: pjsua2's delivery report names the destination, so one reply per destination at a time."""

from __future__ import annotations

import pytest

from telephony.replies import RepliesInFlight, Reply, delivery_status

PHONE = "sip:0813@10.1.2.3:35090"


@pytest.mark.parametrize(
    ("code", "status"),
    [(200, "sent"), (202, "sent"), (404, "failed"), (408, "failed"), (480, "failed"), (503, "failed")],
)
def test_only_a_2xx_is_sent(code: int, status: str) -> None:
    assert delivery_status(code) == status


def test_replies_to_one_phone_go_one_after_another_in_order() -> None:
    replies = RepliesInFlight()
    assert replies.offer(Reply(1, PHONE, "a")) is True
    assert replies.offer(Reply(2, PHONE, "b")) is False
    assert replies.offer(Reply(3, PHONE, "c")) is False
    assert replies.offer(Reply(4, "sip:other@10.9.9.9:5060", "d")) is True  # another phone does not wait
    assert replies.settle(PHONE) == (1, Reply(2, PHONE, "b"))
    assert replies.settle(PHONE) == (2, Reply(3, PHONE, "c"))
    assert replies.settle(PHONE) == (3, None)
    assert replies.settle(PHONE) == (None, None)  # a report for nothing in flight settles nothing
    assert len(replies) == 1


def test_a_send_that_failed_at_once_settles_only_its_own_reply() -> None:
    """pjsua2 may report the failure through the callback and raise as well: the second is ignored."""
    replies = RepliesInFlight()
    replies.offer(Reply(1, PHONE, "a"))
    replies.offer(Reply(2, PHONE, "b"))
    assert replies.settle(PHONE) == (1, Reply(2, PHONE, "b"))  # the callback
    assert replies.settle(PHONE, 1) == (None, None)  # the exception, for a reply already settled
    assert replies.settle(PHONE, 2) == (2, None)


def test_stopping_gives_up_every_reply_in_flight_or_waiting() -> None:
    replies = RepliesInFlight()
    for i, to in enumerate([PHONE, PHONE, "sip:x@10.0.0.9:5060"]):
        replies.offer(Reply(i, to, "x"))
    assert sorted(replies.abandon()) == [0, 1, 2]
    assert len(replies) == 0 and replies.offer(Reply(9, PHONE, "y")) is True
