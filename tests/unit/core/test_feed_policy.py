"""The feed cadence and size follow from what the idle server's prefill costs against the writer's decode."""

from __future__ import annotations

from relaychat.core.feed_policy import HEADROOM, FeedCosts, feed_policy


def test_cheap_prefill_feeds_every_block() -> None:
    policy = feed_policy(
        FeedCosts(block_size=32, prefill_ms_per_token=0.8, decode_ms_per_token=30, request_ms=30)
    )
    assert policy.feed_every == 32 and policy.keeps_up
    assert policy.busy_share == (30 + 32 * 0.8) / (32 * 30)


def test_a_costly_request_stretches_the_cadence_to_whole_blocks_that_keep_up() -> None:
    # 100 ms per request and 1 ms/token against 5 ms/token decode: 32 tokens take 132 of 160 ms (82%),
    # 64 take 164 of 320 ms: the first cadence within the headroom is two blocks.
    policy = feed_policy(
        FeedCosts(block_size=32, prefill_ms_per_token=1.0, decode_ms_per_token=5, request_ms=100)
    )
    assert policy.feed_every == 64 and policy.keeps_up
    assert policy.busy_share <= HEADROOM
    assert feed_policy(FeedCosts(64, 1.0, 5, 100)).feed_every % 64 == 0


def test_prefill_as_slow_as_decode_cannot_keep_up_and_each_feed_is_capped() -> None:
    # bf16 on an AVX2-only CPU (issue 14): 25 ms per prompt token against ~45 ms per decoded token.
    policy = feed_policy(
        FeedCosts(block_size=32, prefill_ms_per_token=40, decode_ms_per_token=45, request_ms=30)
    )
    assert not policy.keeps_up and policy.feed_every == 32
    assert policy.max_feed_tokens == 32  # one block: ~1.3 s of prefill already
    assert "too close to decode" in policy.reason


def test_a_server_that_keeps_up_gets_no_cap() -> None:
    # Measured on the Zen 4 (bf16, block 32): a cap there held back the first feed of the prompt.
    policy = feed_policy(FeedCosts(32, 1.2, 27.7, 30))
    assert policy.keeps_up and policy.max_feed_tokens is None
    assert feed_policy(FeedCosts(32, 0.01, 30, 30)).max_feed_tokens is None
