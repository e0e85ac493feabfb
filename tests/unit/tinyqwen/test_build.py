"""Training is deterministic and resumable; the trained folder appears whole, with Qwen3's files."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from relaychat.tinyqwen.build import ensure_trained, is_built  # noqa: E402
from relaychat.tinyqwen.tokenizer_files import END_OF_TEXT, FILES, IM_END, TokenizerMissing, tokenizer_dir  # noqa: E402
from relaychat.tinyqwen.train import TinySpec, train  # noqa: E402

SPEC = TinySpec(
    name="test-tiny",
    hidden=32,
    layers=1,
    heads=1,
    intermediate=48,
    steps=4,
    lr=3e-3,
    seed=5,
    batch=2,
    corpus=40,
    checkpoint_every=2,
)


@pytest.fixture(autouse=True)
def _needs_tokenizer() -> None:
    try:
        tokenizer_dir()
    except TokenizerMissing as exc:
        pytest.skip(str(exc))


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    straight, _ = train(SPEC, tmp_path / "a", log=lambda _: None)
    train(replace(SPEC, steps=2, schedule_steps=4), tmp_path / "b", log=lambda _: None)  # "interrupted"
    logs: list[str] = []
    resumed, _ = train(SPEC, tmp_path / "b", log=logs.append)
    assert any("resuming at step 2/4" in line for line in logs)
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_ensure_trained_writes_a_complete_qwen3_folder_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAYCHAT_CACHE", str(tmp_path))
    out = ensure_trained(SPEC, log=lambda _: None)
    assert is_built(SPEC) and out == tmp_path / "models" / "test-tiny"
    assert not (tmp_path / "models" / "test-tiny.partial").exists()
    assert all((out / name).is_file() for name in FILES)
    generation = json.loads((out / "generation_config.json").read_text())
    assert generation["eos_token_id"] == [IM_END, END_OF_TEXT]
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["Qwen3ForCausalLM"] and config["vocab_size"] == 151_936
    stamp = (out / "config.json").stat().st_mtime_ns
    assert ensure_trained(SPEC, log=lambda _: None) == out  # second call: nothing retrained
    assert (out / "config.json").stat().st_mtime_ns == stamp


def test_a_model_or_checkpoints_of_another_recipe_are_stale_and_retrained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen: new training code kept serving the previous recipe's models from the cache (no stamp)."""
    from relaychat.tinyqwen import build

    monkeypatch.setenv("RELAYCHAT_CACHE", str(tmp_path))
    out = ensure_trained(SPEC, log=lambda _: None)
    assert (out / build.STAMP).read_text().strip() == build.recipe(SPEC)
    (out / build.STAMP).write_text("an-older-recipe\n")  # as a model built by older code looks
    (out.with_name("test-tiny.train") / build.STAMP).write_text("an-older-recipe\n")
    assert not is_built(SPEC)
    logs: list[str] = []
    ensure_trained(SPEC, log=logs.append)
    assert is_built(SPEC)
    assert any("checkpoints of another recipe" in line for line in logs)
    assert build.recipe(SPEC) != build.recipe(replace(SPEC, lr=1e-3))
    assert build.recipe(SPEC, run_only=True) == build.recipe(replace(SPEC, steps=2, widen=4), run_only=True)
