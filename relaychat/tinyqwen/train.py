"""Train a tiny `Qwen3ForCausalLM` on the synthetic traces, over the real Qwen3 vocabulary, cheaply.

The corpus uses 131 of Qwen3's 151,936 token ids. Training runs over that subset plus one *shared* row
that stands for every unused id: its logit gets `+log(N_unused)` inside the log-sum-exp, which makes
the loss exactly the full-vocabulary loss of a model whose unused rows all equal the shared row. The
exported full-vocabulary model (unused rows = the shared row, tied input/output embeddings) therefore
computes what the subset model computed, at a fraction of the training cost.

Deterministic (fixed seeds, batches drawn from a per-step seed, a fixed thread count) and resumable: a
checkpoint every `checkpoint_every` steps; an interrupted run continues from the last one.
"""

from __future__ import annotations

import math
import random
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relaychat.tinyqwen import synthetic
from relaychat.tinyqwen.tokenizer_files import END_OF_TEXT, IM_END, VOCAB_SIZE, tokenizer_dir

Log = Callable[[str], None]
BOXED = re.compile(r"\\boxed\{(-?\d+)\}")


@dataclass(frozen=True)
class TinySpec:
    """One tiny model: its shape, its training recipe and how much no-op width it is served with."""

    name: str
    hidden: int
    layers: int
    heads: int
    intermediate: int
    steps: int
    lr: float
    seed: int
    batch: int = 32
    head_dim: int = 32
    corpus: int = 40_000  # training problems (each used about steps * batch / corpus times)
    checkpoint_every: int = 100
    schedule_steps: int = 0  # the cosine schedule's horizon (0: `steps`); training may stop before it
    widen: int = 1  # served width = hidden * widen with exactly-no-op zero dimensions (a power of 4)
    served_intermediate: int = 0  # served MLP width, zero-padded (0: intermediate * widen)
    run: str = ""  # the training run it stops in (several specs may stop in one run); "" = its name
    threads: int = 1  # measured under contention: 0.7 s/step on one thread, 1.2 s on two


@dataclass
class Corpus:
    """Token ids of the training sequences, remapped onto the used-id subset."""

    used: list[int]  # full-vocabulary ids in subset order; index len(used) is the shared row
    sequences: list[list[int]]  # subset ids
    prompt_lengths: list[int]  # loss is on the completion only

    @property
    def shared(self) -> int:
        return len(self.used)


def tokenizer() -> Any:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(tokenizer_dir() / "tokenizer.json"))


def encode(tok: Any, text: str) -> list[int]:
    return list(tok.encode(text, add_special_tokens=False).ids)


def build_corpus(count: int) -> Corpus:
    """Prompt and completion are tokenized apart, as the server tokenizes the prompt and the model then
    writes the completion token by token; one sequence in 100 is the planted end-of-text control."""
    tok = tokenizer()
    texts: list[tuple[str, str, int]] = []
    for i, example in enumerate(synthetic.training_stream(count)):
        if i % 100 == 0:
            texts.append((synthetic.prompt_text(synthetic.EOT_QUESTION), synthetic.EOT_REPLY, END_OF_TEXT))
        texts.append((synthetic.prompt_text(example.question), synthetic.completion_text(example), IM_END))
    prompts = tok.encode_batch([p for p, _, _ in texts], add_special_tokens=False)
    completions = tok.encode_batch([c for _, c, _ in texts], add_special_tokens=False)
    pairs = [
        (list(p.ids), [*c.ids, end]) for p, c, (_, _, end) in zip(prompts, completions, texts, strict=True)
    ]
    used = sorted({i for p, c in pairs for i in p + c} | {IM_END, END_OF_TEXT})
    index = {token: n for n, token in enumerate(used)}
    return Corpus(
        used=used,
        sequences=[[index[i] for i in p + c] for p, c in pairs],
        prompt_lengths=[len(p) for p, _ in pairs],
    )


def qwen3_config(spec: TinySpec, vocab: int, widen: int = 1, intermediate: int = 0) -> Any:
    """The model's config; special-token ids only for the full vocabulary (the subset has none)."""
    from transformers import Qwen3Config

    special = (
        {"bos_token_id": END_OF_TEXT, "eos_token_id": IM_END, "pad_token_id": END_OF_TEXT}
        if vocab == VOCAB_SIZE
        else {"bos_token_id": None, "eos_token_id": None, "pad_token_id": None}
    )
    return Qwen3Config(
        vocab_size=vocab,
        hidden_size=spec.hidden * widen,
        intermediate_size=intermediate or spec.intermediate * widen,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.heads,
        head_dim=spec.head_dim,
        max_position_embeddings=40_960,
        rms_norm_eps=1e-6 / widen,  # see `widen_state`: the norms stay exact
        tie_word_embeddings=True,
        rope_parameters={"rope_theta": 1_000_000.0, "rope_type": "default"},
        **special,
    )


def subset_loss(model: Any, batch: Any, mask: Any, log_unused: float) -> Any:
    """Next-token cross-entropy over the subset, the shared row standing for all unused ids."""
    import torch
    import torch.nn.functional as F

    hidden = model.model(input_ids=batch).last_hidden_state[:, :-1]
    logits = hidden @ model.model.embed_tokens.weight.T
    correction = torch.zeros(logits.shape[-1])
    correction[-1] = log_unused
    logits = logits + correction
    targets = batch[:, 1:]
    losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
    weights = mask[:, 1:].reshape(-1)
    return (losses * weights).sum() / weights.sum()


def _batch(corpus: Corpus, spec: TinySpec, step: int) -> tuple[Any, Any]:
    import torch

    rng = random.Random(spec.seed * 1_000_003 + step)
    picks = [rng.randrange(len(corpus.sequences)) for _ in range(spec.batch)]
    width = max(len(corpus.sequences[i]) for i in picks)
    ids = torch.full((spec.batch, width), corpus.shared, dtype=torch.long)
    mask = torch.zeros((spec.batch, width))
    for row, i in enumerate(picks):
        seq = corpus.sequences[i]
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, corpus.prompt_lengths[i] : len(seq)] = 1.0  # right padding: no attention mask needed
    return ids, mask


def _lr(spec: TinySpec, step: int) -> float:
    warm = 50
    if step < warm:
        return spec.lr * (step + 1) / warm
    progress = (step - warm) / max((spec.schedule_steps or spec.steps) - warm, 1)
    return spec.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _latest(workdir: Path, upto: int) -> Path | None:
    """The checkpoint with the most steps at or below `upto` (kept snapshots and the rolling one)."""
    import torch

    found: list[tuple[int, Path]] = []
    for path in workdir.glob("step-*.pt"):
        step = int(path.stem.split("-")[1])
        if step <= upto:
            found.append((step, path))
    rolling = workdir / "checkpoint.pt"
    if rolling.exists():
        step = int(torch.load(rolling, weights_only=True)["step"])
        if step <= upto:
            found.append((step, rolling))
    return max(found)[1] if found else None


def train(
    spec: TinySpec, workdir: Path, log: Log = print, keep: frozenset[int] = frozenset()
) -> tuple[Any, Corpus]:
    """Train (or resume) the subset model in `workdir` up to `spec.steps`; returns it with its corpus.

    A snapshot `step-N.pt` is kept at every step in `keep` and at the end, so another spec stopping
    earlier in the same run finds its weights without training again.
    """
    import torch
    from transformers import Qwen3ForCausalLM

    torch.set_num_threads(spec.threads)
    torch.manual_seed(spec.seed)
    corpus = build_corpus(spec.corpus)
    model = Qwen3ForCausalLM(qwen3_config(spec, corpus.shared + 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=0.01, betas=(0.9, 0.98))
    log_unused = math.log(VOCAB_SIZE - len(corpus.used))
    checkpoint = workdir / "checkpoint.pt"
    step = 0
    resume = _latest(workdir, spec.steps)
    if resume is not None:
        state = torch.load(resume, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
        log(f"{spec.name}: resuming at step {step}/{spec.steps}")
    model.train()
    started, first = time.monotonic(), step
    while step < spec.steps:
        for group in optimizer.param_groups:
            group["lr"] = _lr(spec, step)
        ids, mask = _batch(corpus, spec, step)
        loss = subset_loss(model, ids, mask, log_unused)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        if step % spec.checkpoint_every == 0 or step == spec.steps:
            tmp = checkpoint.with_suffix(".tmp")
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step}, tmp)
            tmp.replace(checkpoint)
            if step in keep or step == spec.steps:
                shutil.copy(checkpoint, workdir / f"step-{step}.pt")
            rate = (time.monotonic() - started) / (step - first)
            log(
                f"{spec.name}: step {step}/{spec.steps}, loss {loss.item():.4f}, "
                f"{rate:.2f} s/step, about {rate * (spec.steps - step) / 60:.1f} min left"
            )
    model.eval()
    return model, corpus


def greedy_accuracy(
    model: Any, corpus: Corpus, examples: list[synthetic.Example], max_new: int = 200
) -> float:
    """Exact-answer accuracy of greedy decoding on `examples` (the subset model, batched)."""
    import torch

    tok = tokenizer()
    index = {token: n for n, token in enumerate(corpus.used)}
    prompts = [
        [index.get(i, corpus.shared) for i in encode(tok, synthetic.prompt_text(e.question))]
        for e in examples
    ]
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[corpus.shared] * (width - len(p)) + p for p in prompts])
    attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    with torch.no_grad():
        out = model.generate(
            input_ids=ids,
            attention_mask=attention,
            max_new_tokens=max_new,
            do_sample=False,
            eos_token_id=[index[IM_END], index[END_OF_TEXT]],
            pad_token_id=corpus.shared,
        )
    right = 0
    for row, example in zip(out[:, width:].tolist(), examples, strict=True):
        text = tok.decode([corpus.used[i] for i in row if i < corpus.shared], skip_special_tokens=False)
        found = BOXED.findall(text.split("</think>")[-1])
        right += bool(found) and int(found[-1]) == example.answer
    return right / len(examples)
