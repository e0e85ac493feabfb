"""What tokens cost before anything was measured on this machine: priors per CPU class.

Numbers for a ~135M model (SmolLM2-135M), relay-shaped requests (sampled, top-2 logprobs), in ms.
- avx2: measured on an AMD EPYC with AVX2/FMA/F16C only (docs/performance.md, "vLLM on a CPU"): bf16
  prefills at ~25 ms per prompt token, fp32 at ~3.4; in `relaychat bench` the model alone decoded at
  18.2 tok/s in bf16 and 17.8 in fp32 (single greedy requests: 22-25 vs 15-17 tok/s); cached TTFT
  47-57 ms.
- avx512-bf16 / amx: measured on this project's AMD EPYC Zen 4 in bf16 (1000-token prompt in 830 ms:
  ~0.8 ms/token; decode ~30 ms/token in the bench; floor ~50 ms). Its fp32 numbers are estimates, not
  measurements: fp32 has half the matrix throughput of `avx512_bf16` (prefill x2) and moves twice the
  bytes per weight (decode x1.15 for a model this small, where per-step overheads dominate).
- avx512 without bf16, unknown: estimates; bf16 is emulated, so it is priced like AVX2's.
Only ratios between dtypes matter once one dtype has been measured: an unmeasured dtype is priced as
the measured one times these ratios, so a busy machine (everything slower) does not favour the
dtype that was never run on it.
"""

from __future__ import annotations

from relaychat.serving.costs import ServerCosts

DTYPES = ("bfloat16", "float32")

# class -> dtype -> (prefill ms/token, decode ms/token, cached TTFT ms, request ms)
PRIORS: dict[str, dict[str, tuple[float, float, float, float]]] = {
    "avx2": {"bfloat16": (25.0, 54.9, 52.0, 30.0), "float32": (3.4, 56.2, 55.0, 30.0)},
    "avx512": {"bfloat16": (8.0, 40.0, 50.0, 30.0), "float32": (1.7, 42.0, 52.0, 30.0)},
    "avx512-bf16": {"bfloat16": (0.8, 30.0, 50.0, 30.0), "float32": (1.6, 34.5, 55.0, 30.0)},
    "amx": {"bfloat16": (0.5, 30.0, 50.0, 30.0), "float32": (1.6, 34.5, 55.0, 30.0)},
    "unknown": {"bfloat16": (1.0, 40.0, 50.0, 30.0), "float32": (1.0, 40.0, 50.0, 30.0)},
}


def prior(cpu_class: str, model: str, dtype: str, block_size: int) -> ServerCosts:
    prefill, decode, floor, request = PRIORS.get(cpu_class, PRIORS["unknown"])[dtype]
    return ServerCosts(
        model=model,
        dtype=dtype,
        block_size=block_size,
        prefill_ms_per_token=prefill,
        decode_ms_per_token=decode,
        cached_ttft_ms=floor,
        request_ms=request,
        source="prior",
    )


def scaled(measured: ServerCosts, cpu_class: str, dtype: str, block_size: int) -> ServerCosts:
    """`measured` (another dtype, or block size) carried over to `dtype` by the class's ratios."""
    table = PRIORS.get(cpu_class, PRIORS["unknown"])
    to, of = table[dtype], table[measured.dtype] if measured.dtype in table else table[dtype]
    request = measured.request_ms if measured.request_ms is not None else of[3]
    return ServerCosts(
        model=measured.model,
        dtype=dtype,
        block_size=block_size,
        machine=measured.machine,
        prefill_ms_per_token=measured.prefill_ms_per_token * to[0] / of[0],
        decode_ms_per_token=measured.decode_ms_per_token * to[1] / of[1],
        cached_ttft_ms=measured.cached_ttft_ms * to[2] / of[2],
        request_ms=request * to[3] / of[3],
        source="prior",
    )
