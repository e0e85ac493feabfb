"""Turn a subset-vocabulary model into an ordinary full-vocabulary Qwen3 safetensors folder.

Unused ids get the shared row (so the full model's softmax equals the subset model's, see `train`). The
large model is then widened with zero dimensions, an exact no-op that only adds cost:

- embeddings, attention inputs/outputs and MLP weights are padded with zeros, so every padded hidden and
  intermediate dimension stays 0 in every layer, and zero columns add nothing to any projection;
- an RMSNorm over `w * hidden` dimensions whose extra ones are 0 sees a mean square `w` times smaller,
  so its weights are scaled by `1/sqrt(w)` and its epsilon by `1/w` (for `w` a power of 4 both scalings
  are powers of two: exact in floating point).

This is *simulated cost*: the served large model reads 4x the weights per token (its output head alone
is 151,936 x 512) but computes the same function as the 128-wide model it was trained as.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from relaychat.tinyqwen.tokenizer_files import END_OF_TEXT, FILES, IM_END, VOCAB_SIZE, tokenizer_dir
from relaychat.tinyqwen.train import TinySpec, qwen3_config


def full_vocab_state(state: dict[str, Any], used: list[int]) -> dict[str, Any]:
    """The subset embedding (rows: used ids, then the shared row) spread over the real vocabulary."""
    import torch

    subset = state["model.embed_tokens.weight"]
    full = subset[-1].repeat(VOCAB_SIZE, 1)
    full[torch.tensor(used)] = subset[: len(used)]
    out = {k: v for k, v in state.items() if k != "lm_head.weight"}  # tied: the head is the embedding
    out["model.embed_tokens.weight"] = full
    return out


def _pad(tensor: Any, shape: tuple[int, ...]) -> Any:
    import torch

    out = torch.zeros(shape, dtype=tensor.dtype)
    out[tuple(slice(0, n) for n in tensor.shape)] = tensor
    return out


def widen_state(
    state: dict[str, Any], hidden: int, intermediate: int, factor: int, mlp: int = 0
) -> dict[str, Any]:
    """Zero-pad the hidden width by `factor` (a power of 4) and the MLP width to `mlp` (any size; default
    `intermediate * factor`) without changing the function."""
    root = math.isqrt(factor)
    if factor < 1 or root * root != factor or (root & (root - 1)):
        raise ValueError(f"widen factor must be a power of 4, got {factor}")
    mlp = mlp or intermediate * factor
    if mlp < intermediate:
        raise ValueError(f"the served MLP width {mlp} is below the trained {intermediate}")
    wide = hidden * factor
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key == "lm_head.weight":
            continue  # tied to the embedding
        if key.endswith(("q_norm.weight", "k_norm.weight")) or (factor == 1 and "norm" in key):
            out[key] = value  # over the head dimension (or not widened): unchanged
        elif key.endswith("norm.weight"):  # input/post-attention layernorms and the final norm
            out[key] = _pad(value / root, (wide,))
        elif key == "model.embed_tokens.weight":
            out[key] = _pad(value, (value.shape[0], wide))
        elif key.endswith(("q_proj.weight", "k_proj.weight", "v_proj.weight")):
            out[key] = _pad(value, (value.shape[0], wide))
        elif key.endswith("o_proj.weight"):
            out[key] = _pad(value, (wide, value.shape[1]))
        elif key.endswith(("gate_proj.weight", "up_proj.weight")):
            out[key] = _pad(value, (mlp, wide))
        elif key.endswith("down_proj.weight"):
            out[key] = _pad(value, (wide, mlp))
        else:
            raise ValueError(f"widen_state: unexpected weight {key}")
    return out


def export(spec: TinySpec, state: dict[str, Any], used: list[int], out: Path) -> None:
    """Write `out` as a Qwen3 folder vLLM and transformers load: weights, config, tokenizer, generation."""
    import torch
    from transformers import Qwen3ForCausalLM

    full = widen_state(
        full_vocab_state(state, used), spec.hidden, spec.intermediate, spec.widen, spec.served_intermediate
    )
    config = qwen3_config(spec, VOCAB_SIZE, widen=spec.widen, intermediate=spec.served_intermediate)
    config.dtype = "bfloat16"
    model = Qwen3ForCausalLM(config)
    missing, unexpected = model.load_state_dict(full, strict=False)
    if unexpected or [k for k in missing if k != "lm_head.weight"]:
        raise RuntimeError(f"export of {spec.name}: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model.to(torch.bfloat16).save_pretrained(out)  # type: ignore[arg-type]  # transformers stubs
    for name in FILES:
        shutil.copy(tokenizer_dir() / name, out / name)
    generation = {
        "bos_token_id": END_OF_TEXT,
        "eos_token_id": [IM_END, END_OF_TEXT],  # like Qwen3's own generation_config
        "pad_token_id": END_OF_TEXT,
        "do_sample": True,
        "temperature": 0.6,
        "top_k": 20,
        "top_p": 0.95,
    }
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n", encoding="utf-8")
