"""FeedSchedule: routine feeds at whole blocks (token ids) or every eighth block (text); cuts at once."""

from __future__ import annotations

from relaychat.core.feeds import FeedSchedule


def test_token_id_feeds_are_due_when_the_prompt_crosses_a_block() -> None:
    schedule = FeedSchedule("small", 32, ids_before=60)  # the idle prompt holds 60 ids: next block at 64
    assert [n for n in range(1, 40) if schedule.due(n, pending=False)][:1] == [4]
    schedule.fed(4)
    assert not schedule.due(35, pending=False) and schedule.due(36, pending=False)  # 96 = 3 blocks


def test_text_feeds_are_due_every_eighth_of_a_block() -> None:
    schedule = FeedSchedule("large", 32, ids_before=None)
    assert not schedule.due(3, pending=False) and schedule.due(4, pending=False)
    schedule.fed(4)
    assert not schedule.due(7, pending=False) and schedule.due(8, pending=False)


def test_a_pending_cut_makes_a_feed_due_but_only_with_something_new() -> None:
    schedule = FeedSchedule("small", 32, ids_before=0)
    assert schedule.due(1, pending=True)
    schedule.fed(1)
    assert not schedule.due(1, pending=True) and schedule.due(2, pending=True)
