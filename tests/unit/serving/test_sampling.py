"""The launcher's top-p after top-k gives vLLM's masks without sorting the whole vocabulary."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
sampler = pytest.importorskip("vllm.v1.sample.ops.topk_topp_sampler")

from relaychat.serving.sampling import top_k_then_top_p  # noqa: E402 (after the importorskip)

VOCAB = 49_152  # SmolLM2's


def logits(seed: int, rows: int, bf16: bool) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, VOCAB, generator=generator) * (1 + seed % 7)
    return x.to(torch.bfloat16).float() if bf16 else x


def both(x: torch.Tensor, k: list[int], p: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    kk, pp = torch.tensor(k), torch.tensor(p)
    ours = top_k_then_top_p(x.clone(), kk.clone(), pp.clone())
    theirs = sampler.apply_top_k_top_p_pytorch(x.clone(), kk.clone(), pp.clone(), allow_cpu_sync=True)
    return ours, theirs


@pytest.mark.parametrize("seed", range(40))
def test_same_masked_logits_as_vllms_sort(seed: int) -> None:
    rows = 1 + seed % 3
    ours, theirs = both(logits(seed, rows, bf16=False), [20, 5, 50][:rows], [0.95, 0.5, 0.99][:rows])
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("seed", range(40))
def test_ties_at_the_boundary_keep_as_many_of_the_same_values(seed: int) -> None:
    # bf16 logits tie often; which tied token top-p cuts is arbitrary in vLLM's unstable sort too.
    ours, theirs = both(logits(seed, 1, bf16=True), [20], [0.9])
    kept_ours, kept_theirs = ours[ours > float("-inf")], theirs[theirs > float("-inf")]
    assert torch.equal(kept_ours.sort().values, kept_theirs.sort().values)


def test_rows_without_top_k_fall_back_to_vllm(monkeypatch: pytest.MonkeyPatch) -> None:
    from relaychat.serving import sampling

    monkeypatch.setattr(
        sampler, "apply_top_k_top_p_pytorch", sampler.apply_top_k_top_p_pytorch
    )  # undone after
    assert sampling.install()
    patched = sampler.apply_top_k_top_p_pytorch
    x = logits(1, 2, bf16=False)
    k, p = torch.tensor([20, VOCAB]), torch.tensor([0.9, 0.9])
    assert (patched(x.clone(), k, p) > float("-inf")).sum(dim=1)[1] > 20  # the row without top-k: top-p only
