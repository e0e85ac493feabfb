"""The cost probe on the real servers: a few seconds each, sane numbers, vLLM's block size read back."""

from __future__ import annotations

from relaychat.core.profile import PairProfile
from relaychat.serving.cost_probe import CostProbe, ProbePlan, served_block_size
from relaychat.serving.manager import Server


def test_the_probe_measures_each_demo_server(demo_profile: PairProfile) -> None:
    for role in ("large", "small"):
        server = Server(role, demo_profile.spec(role))
        block = served_block_size(server.url)
        assert block is not None and block % 32 == 0
        probe = CostProbe(server.url, server.name, server.spec.sampling)
        try:
            costs = probe.measure("unknown", "test-machine", ProbePlan(block_size=block))
        finally:
            probe.close()
        # No timing goals on a shared machine: only what must hold on any.
        assert costs.decode_ms_per_token > 0 and costs.prefill_ms_per_token >= 0 and costs.cached_ttft_ms > 0
        assert (costs.block_size, costs.source, costs.model) == (block, "measured", server.name)
