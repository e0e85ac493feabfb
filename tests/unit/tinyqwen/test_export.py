"""The export of a subset-vocabulary model: the same function over the real vocabulary, widening a no-op."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from relaychat.tinyqwen.export import full_vocab_state, widen_state  # noqa: E402
from relaychat.tinyqwen.tokenizer_files import VOCAB_SIZE  # noqa: E402
from relaychat.tinyqwen.train import TinySpec, qwen3_config, subset_loss  # noqa: E402

SPEC = TinySpec(name="t", hidden=32, layers=2, heads=2, intermediate=48, steps=1, lr=1e-3, seed=0)
USED = [5, 17, 198, 624, 151643, 151645, 151667, 151668]


def _model(vocab: int, widen: int = 1) -> object:
    torch.manual_seed(0)
    model = transformers.Qwen3ForCausalLM(qwen3_config(SPEC, vocab, widen=widen))
    model.eval()
    return model


def _randomize(model: object) -> None:
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in model.named_parameters():  # type: ignore[attr-defined]
            if name.endswith("norm.weight"):
                param.copy_(1 + 0.3 * torch.randn_like(param))  # norms that are not all ones


def test_the_exported_full_vocabulary_model_matches_the_subset_model_and_its_loss() -> None:
    subset = _model(len(USED) + 1)
    _randomize(subset)
    full = _model(VOCAB_SIZE)
    missing, unexpected = full.load_state_dict(  # type: ignore[attr-defined]
        full_vocab_state(subset.state_dict(), USED),  # type: ignore[attr-defined]
        strict=False,
    )
    assert not unexpected and set(missing) <= {"lm_head.weight"}
    full.tie_weights()  # type: ignore[attr-defined]
    ids = torch.tensor([[0, 3, 2, 6, 1, 4]])
    real_ids = torch.tensor([[USED[i] for i in ids[0].tolist()]])
    with torch.no_grad():
        small_logits = subset(ids).logits[0]  # type: ignore[operator]
        full_logits = full(real_ids).logits[0]  # type: ignore[operator]
        # the used ids carry the same logits, every unused id the shared row's
        assert torch.allclose(full_logits[:, USED], small_logits[:, : len(USED)], atol=1e-5)
        unused = torch.ones(VOCAB_SIZE, dtype=torch.bool)
        unused[USED] = False
        assert torch.allclose(full_logits[:, unused], small_logits[:, -1:].expand(-1, int(unused.sum())))
        # and the subset loss with the log(N_unused) correction is the full-vocabulary loss
        mask = torch.ones(ids.shape)
        loss = subset_loss(subset, ids, mask, math.log(VOCAB_SIZE - len(USED)))
        full_loss = torch.nn.functional.cross_entropy(full_logits[:-1], real_ids[0, 1:])
    assert abs(loss.item() - full_loss.item()) < 1e-4


@pytest.mark.parametrize(("factor", "mlp"), [(4, 0), (16, 0), (1, 1000), (4, 5000)])
def test_widening_with_zero_dimensions_computes_the_same_logits(factor: int, mlp: int) -> None:
    narrow = _model(40)
    _randomize(narrow)
    torch.manual_seed(0)
    wide = transformers.Qwen3ForCausalLM(qwen3_config(SPEC, 40, widen=factor, intermediate=mlp))
    wide.eval()
    wide.load_state_dict(
        widen_state(narrow.state_dict(), SPEC.hidden, SPEC.intermediate, factor, mlp),  # type: ignore[attr-defined]
        strict=False,
    )
    wide.tie_weights()
    ids = torch.tensor([[1, 7, 3, 39, 2, 2, 5]])
    with torch.no_grad():
        a, b = narrow(ids).logits, wide(ids).logits  # type: ignore[operator]
    assert wide.config.hidden_size == SPEC.hidden * factor
    assert wide.config.intermediate_size == (mlp or SPEC.intermediate * factor)
    assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()


def test_widening_refuses_a_factor_that_would_not_be_exact() -> None:
    with pytest.raises(ValueError, match="power of 4"):
        widen_state({}, 32, 48, 2)
