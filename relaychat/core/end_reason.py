"""Why a segment ended: the one place that names it, from the client's cut or the server's stream end.

A cut the client found (`CutScanner`) names itself: a cue, a sentence end, the reasoning marker, an end
text, the single-model budget. A stream the client did not cut ended on the server, and its last chunk
says how: `finish_reason` "length" (the request's token limit), or "stop" with `stop_reason` naming the
stop string that fired, or "stop" with no stop string: the model ended its text (EOS).
"""

from __future__ import annotations

from relaychat.backends.base import StreamEnd
from relaychat.core.cuts import Cut
from relaychat.core.events import SegmentEndReason, Stage


def stopped_on_stop_string(end: StreamEnd) -> bool:
    """The server stopped on one of the request's stop strings (vLLM names it in `stop_reason`).

    The one test that tells a stop string from the model's end of text: a stream that finished with
    "stop" and is not this ended at EOS. vLLM names a stop *string* by its text and a stop *token* by
    its id: an integer is an end of text (Qwen3's second EOS id, 151643, listed in its
    generation_config), not a cue to resume after."""
    return end.finish_reason == "stop" and isinstance(end.stop_reason, str)


def segment_end_reason(
    cut: Cut | None,
    end: StreamEnd,
    stage: Stage,
    *,
    in_answer: bool,
    reasoning_spent: bool,
    context_bound: bool = False,
) -> SegmentEndReason:
    """Why a segment ended.

    `in_answer`: a single-model stream already crossed into the answer. `reasoning_spent`: the
    generation's reasoning budget is used up (a "length" end then means the budget, not a turn's cap).
    `context_bound`: the request's token limit was lowered to fit the server's context window (a
    "length" end then means the window is full).
    """
    if cut is not None:
        return cut.reason
    if stage == "reasoning" and stopped_on_stop_string(end):
        return "server_stop"  # a stop string the client does not count (inside the first min_tokens)
    if end.finish_reason == "length" and context_bound:
        return "context_limit"
    if end.finish_reason == "length":
        if in_answer or stage == "answer":
            return "length"
        return "reasoning_budget" if reasoning_spent else "small_limit"
    return "eos"
