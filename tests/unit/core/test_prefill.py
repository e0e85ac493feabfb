"""Feeds fill whole KV blocks: cut to a block boundary, skipped when they would add none."""

from __future__ import annotations

import asyncio

from relaychat.backends.scripted import ScriptedBackend
from relaychat.core.prefill import PrefillAhead


async def settled(prefill: PrefillAhead) -> None:
    for _ in range(5):
        await asyncio.sleep(0)
    await prefill.aclose()


async def test_token_id_feeds_are_cut_to_whole_blocks_and_never_repeat_one() -> None:
    small = ScriptedBackend("scripted://small")
    prefill = PrefillAhead({"small": small})
    ids = list(range(100, 190))
    for upto in (20, 40, 50, 63, 64, 90):
        prefill.feed("small", ids[:upto], add_special_tokens=False, block=32)
        await settled(prefill)
    # 20 and 63 reach no new boundary past what was fed; 50 only reaches 32 again.
    assert small.prefills == [ids[:32], ids[:64]]
    assert (prefill.sent, prefill.skipped) == (2, 4)


async def test_text_feeds_are_counted_by_the_server_and_keep_the_last_tokens_back() -> None:
    small = ScriptedBackend("scripted://small")
    prefill = PrefillAhead({"small": small})
    text = " go" * 40
    ids = await small.tokenize(text)
    assert len(ids) == 40
    prefill.feed("small", text, add_special_tokens=True, block=8)
    await settled(prefill)
    # 40 tokens, of which the last 2 may still merge with what comes next: 38 settled, 32 fed.
    assert small.prefills == [ids[:32]]
    prefill.feed("small", " go" * 41, add_special_tokens=True, block=8)
    await settled(prefill)
    assert len(small.prefills) == 1 and prefill.skipped == 1  # 39 settled: still inside block 5


async def test_urgent_and_unaligned_feeds_go_out_whole() -> None:
    small = ScriptedBackend("scripted://small")
    prefill = PrefillAhead({"small": small})
    prefill.feed("small", "the question", add_special_tokens=True)
    await settled(prefill)
    prefill.feed("small", [1, 2, 3], add_special_tokens=False, urgent=True)
    await settled(prefill)
    assert small.prefills == ["the question", [1, 2, 3]]


async def test_a_cancelled_feed_does_not_count_its_blocks_as_fed() -> None:
    small = ScriptedBackend("scripted://small")
    small.prefill_delay = 1.0
    prefill = PrefillAhead({"small": small})
    ids = list(range(64))
    prefill.feed("small", ids, add_special_tokens=False, block=32)
    await asyncio.sleep(0.01)
    assert prefill.settle("small", [7, 7, 7])  # a different prompt: the feed is cancelled
    small.prefill_delay = 0
    prefill.feed("small", ids, add_special_tokens=False, block=32)
    await settled(prefill)
    assert small.prefills == [ids, ids]


async def test_a_capped_feed_catches_a_lagging_server_up_a_few_blocks_at_a_time() -> None:
    small = ScriptedBackend("scripted://small")
    prefill = PrefillAhead({"small": small}, max_feed_tokens=64)
    ids = list(range(1000, 1200))
    for upto in (190, 190, 190, 190):
        prefill.feed("small", ids[:upto], add_special_tokens=False, block=32)
        await settled(prefill)
    # 160 whole-block tokens behind: two blocks per feed, then what is left (no block is sent twice).
    assert small.prefills == [ids[:64], ids[:128], ids[:160]]
    assert (prefill.sent, prefill.skipped) == (3, 1)
    uncapped = ScriptedBackend("scripted://small")
    whole = PrefillAhead({"small": uncapped})
    whole.feed("small", ids[:190], add_special_tokens=False, block=32)
    await settled(whole)
    assert uncapped.prefills == [ids[:160]]
    # An urgent feed is the exact prompt of the coming turn: never capped.
    urgent = PrefillAhead({"small": uncapped}, max_feed_tokens=32)
    urgent.feed("small", ids[:150], add_special_tokens=False, urgent=True)
    await settled(urgent)
    assert uncapped.prefills[-1] == ids[:150]
