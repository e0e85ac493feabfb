"""Train a tiny Qwen3 model once into the cache dir, the way the GGUF demo models are converted once.

Atomic: the model is exported into `<name>.partial` and renamed when complete. Resumable: training
checkpoints live in `<run>.train` and survive an interrupted run; they stay (a few MB) because both
models stop in the same run, and a re-export (another served width) then needs no training.
`python -m relaychat.tinyqwen.build [small|large|all]` trains ahead of time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from relaychat.paths import cache_dir
from relaychat.tinyqwen.specs import SPECS
from relaychat.tinyqwen.train import TinySpec


def folder(spec: TinySpec) -> Path:
    return cache_dir() / "models" / spec.name


STAMP = "relaychat-recipe.txt"  # in the model folder and the run's checkpoint folder
SOURCES = ("synthetic", "train", "export")  # the modules whose code decides what is trained


def recipe(spec: TinySpec, run_only: bool = False) -> str:
    """A hash of what makes the model what it is: its spec and the code of the data, training and export.

    A model (or a checkpoint folder) made by another recipe is stale: served under new code it would be
    another model than the one documented. `run_only`: the training run's part only (the specs that
    stop in one run differ in steps and served width, not in their run).
    """
    if run_only:
        spec = dataclasses.replace(spec, name="", steps=0, widen=1, served_intermediate=0)
    digest = hashlib.sha256(repr(spec).encode())
    for name in SOURCES:
        found = importlib.util.find_spec(f"relaychat.tinyqwen.{name}")
        if found is not None and found.origin:
            digest.update(Path(found.origin).read_bytes())
    return digest.hexdigest()[:16]


def _stamped(path: Path, value: str) -> bool:
    try:
        return (path / STAMP).read_text(encoding="utf-8").strip() == value
    except OSError:
        return False


def is_built(spec: TinySpec) -> bool:
    out = folder(spec)
    return (out / "config.json").exists() and any(out.glob("*.safetensors")) and _stamped(out, recipe(spec))


def ensure_trained(spec: TinySpec, log: Callable[[str], None] = print) -> Path:
    """The safetensors folder of `spec`, trained first if needed (minutes; see docs/qwen3-tiny.md)."""
    out = folder(spec)
    if is_built(spec):
        return out
    from relaychat.tinyqwen.export import export
    from relaychat.tinyqwen.tokenizer_files import tokenizer_dir
    from relaychat.tinyqwen.train import train

    tokenizer_dir()  # a clear error before minutes of work when the tokenizer package is missing
    work = out.with_name((spec.run or spec.name) + ".train")
    run_recipe = recipe(spec, run_only=True)
    if work.exists() and not _stamped(work, run_recipe):
        log(f"{work.name}: checkpoints of another recipe (older code or spec): training from the start")
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / STAMP).write_text(run_recipe + "\n", encoding="utf-8")
    log(f"training {spec.name} (once; {spec.steps} steps, checkpoints in {work})")
    started = time.monotonic()
    keep = frozenset(s.steps for s in SPECS.values() if (s.run or s.name) == (spec.run or spec.name))
    model, corpus = train(spec, work, log=log, keep=keep)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        export(spec, model.state_dict(), corpus.used, tmp)
        (tmp / STAMP).write_text(recipe(spec) + "\n", encoding="utf-8")
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    log(f"{spec.name}: ready in {out} ({(time.monotonic() - started) / 60:.1f} min)")
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    which = args[0] if args else "all"
    names = [name for name in SPECS if which == "all" or name.endswith(which)]
    if not names:
        print(f"unknown model {which!r}: use small, large or all", file=sys.stderr)
        return 2
    for name in names:
        ensure_trained(SPECS[name], log=lambda message: print(message, flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
