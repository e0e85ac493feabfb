"""Top-p after top-k without sorting the whole vocabulary (a patch for vLLM's CPU sampler).

Without Triton, vLLM applies top-k and top-p together by sorting every row of logits: 262,144 entries
for Gemma 3, per decode step. Measured here: 26 ms of a Gemma step (its TTFT with one uncached token
is 52 ms greedy, 86 ms with the profiles' temperature 0.6, top-p 0.95, top-k 20). After top-k only k
tokens (plus ties at the k-th value) can survive, so top-p needs to rank just those: 1.8 ms.

Same masks as vLLM's, bit for bit on untied logits (tested). Where several tokens share the logit at
the top-p boundary, which of them is cut is arbitrary in vLLM too (an unstable sort); this keeps the
same number of them, possibly not the same ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

_NEG_INF = float("-inf")


def top_k_then_top_p(logits: torch.Tensor, k: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """vLLM's top-k then top-p mask (in place), ranking only the tokens top-k lets through."""
    from vllm.v1.sample.ops.topk_topp_sampler import apply_top_k_only

    logits = apply_top_k_only(logits, k)  # keeps every token tied with the k-th
    survivors = int((logits > _NEG_INF).sum(dim=1).max())
    if survivors == 0:  # every logit -inf or NaN (a broken model or kernel): leave the row as vLLM would
        return logits
    values, index = logits.topk(survivors, dim=1)
    values, index = values.flip(1), index.flip(1)  # ascending, as vLLM's sort
    cumulative = values.softmax(dim=-1).cumsum(dim=-1)
    cut = cumulative <= 1 - p.unsqueeze(dim=1)
    cut[:, -1] = False  # at least one
    values.masked_fill_(cut, _NEG_INF)
    return logits.scatter_(1, index, values)


def install() -> bool:
    """Route vLLM's sort-based top-k + top-p to `top_k_then_top_p` when every row has a top-k.

    Returns False (and changes nothing) when this vLLM lacks the function it replaces.
    """
    try:
        from vllm.v1.sample.ops import topk_topp_sampler as sampler
    except ImportError:
        return False
    original: Callable[..., torch.Tensor] | None = getattr(sampler, "apply_top_k_top_p_pytorch", None)
    if original is None or not hasattr(sampler, "apply_top_k_only"):
        return False
    if getattr(original, "_relaychat_patched", False):
        return True

    def apply(
        logits: torch.Tensor, k: torch.Tensor | None, p: torch.Tensor | None, *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        if k is None or p is None or logits.device.type != "cpu" or bool((k >= logits.shape[1]).any()):
            return original(logits, k, p, *args, **kwargs)
        return top_k_then_top_p(logits, k, p)

    apply._relaychat_patched = True  # type: ignore[attr-defined]
    sampler.apply_top_k_top_p_pytorch = apply
    return True
