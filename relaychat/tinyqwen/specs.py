"""The two models of the `qwen3-tiny` profile: shapes and training recipes (fixed: they are the models).

Two separate runs over the same corpus, whose traces work every sum in columns (`synthetic`), with the
same batches (seed), optimiser and cosine schedule over 1,500 steps; only the shape differs. Greedy
accuracy on 64 validation problems, by step:

- large, hidden 64, 2 layers: 0 % at 600, 75 % at 800, 89 % at 1,000, 100 % at 1,200, 1,400 and 1,500;
- small, hidden 48, 2 layers: 0-3 % from 700 to 1,500. Its traces are well formed and its column
  arithmetic right, but it does not learn to copy the operands from the question (it writes "gives
  away 32" for 46): a weaker model, as a 1.7B is to a 32B, not an early checkpoint of the large one.
  (Also measured: hidden 32 with one head, 2-3 %; hidden 64 with one layer, 0-2 % at 900 steps.)

The large model is then served wider with exactly-no-op zero dimensions (simulated cost, see
`export.widen_state`) so that it is slower per token on this CPU the way the paper's large model is.
"""

from __future__ import annotations

from relaychat.tinyqwen.train import TinySpec

# Large: hidden 64, 2 layers, 2 heads of 32, MLP 192; served 16x wider (hidden 1,024) with a 40x wider
# MLP (192 -> 7,680), all extra dimensions zeros: ~410 MB of bf16 weights read per token.
LARGE = TinySpec(
    name="qwen3-tiny-large",
    hidden=64,
    layers=2,
    heads=2,
    intermediate=192,
    steps=1500,
    lr=3e-3,
    seed=153,
    widen=16,
    served_intermediate=192 * 40,
)
SMALL = TinySpec(
    name="qwen3-tiny-small",
    hidden=48,
    layers=2,
    heads=2,
    head_dim=24,
    intermediate=144,
    steps=1500,
    lr=3e-3,
    seed=153,
)
SPECS: dict[str, TinySpec] = {spec.name: spec for spec in (SMALL, LARGE)}
