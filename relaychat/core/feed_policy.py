"""How often, and how much, to feed the idle server, from what its tokens cost (pure; numbers in).

While one model writes, the idle server is fed the new tokens (`core.prefill`). A feed of F tokens
costs the idle server about `request_ms + F x prefill_ms` and must be done before the writer has
written the next F tokens (`F x decode_ms`), or the idle server falls behind and the next switch
waits for its backlog. So the cadence is the smallest whole number of KV blocks (vLLM caches whole
blocks only) for which a feed takes at most `HEADROOM` of the time the writer needs to write it:
smaller feeds leave less unfed at a switch, but each pays the fixed cost of a request.

Where prefill is about as slow as decode (bfloat16 on a CPU without native bf16: ~25 ms per token
against ~45-55 ms per decoded token) no cadence keeps up with room to spare, and one feed occupies
the idle server for up to a block's prefill (~0.8 s): a real request arriving then queues behind it.
There, and only there, `max_feed_tokens` caps one feed to what the idle server computes in about
`MAX_FEED_STEPS` decode steps of the writer, so a lagging server catches up in steps that a switch
waits for briefly. A server that keeps up gets no cap.

Early starts stay on whatever the costs: the receiver's request goes out one writer step before the
cut is confirmed, so its prefill of the unfed tail overlaps that step on any machine, and a cancelled
one has prefilled tokens the next request reads anyway.

The numbers come from the serving layer's measurements (`serving.costs`) through the front ends;
the core never imports serving.
"""

from __future__ import annotations

from dataclasses import dataclass

HEADROOM = 0.8  # a feed may occupy the idle server for this share of the time its tokens took to write
MAX_BLOCKS = 8  # never wait longer than this many blocks between feeds
MAX_FEED_STEPS = 4.0  # one feed's prefill: at most about this many writer decode steps


@dataclass(frozen=True)
class FeedCosts:
    """What the policy needs (milliseconds): the idle server's costs and the writer's decode."""

    block_size: int
    prefill_ms_per_token: float  # the idle (receiving) server, per uncached prompt token
    decode_ms_per_token: float  # the writing server
    request_ms: float  # the fixed cost of one request on the idle server (TTFT at zero new tokens)


@dataclass(frozen=True)
class FeedPolicy:
    feed_every: int  # tokens between routine feeds: a multiple of the KV block size
    max_feed_tokens: int | None  # cap on one feed's new tokens (None: no cap needed)
    keeps_up: bool  # the idle server can keep up with the writer at this cadence
    busy_share: float  # share of the writer's time the idle server spends on routine feeds
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {
            "feed_every": self.feed_every,
            "max_feed_tokens": self.max_feed_tokens,
            "keeps_up": self.keeps_up,
            "busy_share": round(self.busy_share, 3),
            "reason": self.reason,
        }


def feed_policy(costs: FeedCosts) -> FeedPolicy:
    """The smallest whole-block cadence the idle server keeps up with, and a cap on one feed."""
    block = max(costs.block_size, 1)
    p, d, c = costs.prefill_ms_per_token, costs.decode_ms_per_token, costs.request_ms
    if d <= 0:
        return FeedPolicy(block, None, False, 1.0, "no decode cost known: feed every block")
    for blocks in range(1, MAX_BLOCKS + 1):
        every = blocks * block
        share = (c + every * p) / (every * d)
        if share <= HEADROOM:
            # No cap: a server that keeps up never builds a backlog, and a cap only held back its first
            # feed of the prompt (same-model bench, Zen 4: 41 instead of 23 ms net per switch).
            return FeedPolicy(
                every,
                None,
                True,
                share,
                f"a feed of {every} tokens takes {c + every * p:.0f} ms, "
                f"{share:.0%} of the {every * d:.0f} ms the writer needs for them",
            )
    share = (c + block * p) / (block * d)
    return FeedPolicy(
        block,
        _cap(block, p, d),
        False,
        share,
        f"prefill ({p:.1f} ms/token) is too close to decode ({d:.1f} ms/token) to keep up: "
        f"feed every block, at most {_cap(block, p, d) or 'all'} tokens at a time",
    )


def _cap(block: int, prefill_ms: float, decode_ms: float) -> int | None:
    """Whole blocks the idle server prefills in about MAX_FEED_STEPS writer steps (at least one)."""
    if prefill_ms <= 0:
        return None
    blocks = int(MAX_FEED_STEPS * decode_ms / prefill_ms) // block
    if blocks >= MAX_BLOCKS * 4:
        return None  # prefill is so cheap that no realistic backlog needs capping
    return max(blocks, 1) * block
