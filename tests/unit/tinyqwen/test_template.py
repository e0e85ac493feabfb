"""Our qwen3.jinja first turn against the official Qwen3 template shipped with the real tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaychat.core.profile import PromptFormat, load_profile
from relaychat.core.prompt import render_messages, render_prefix
from relaychat.tinyqwen.tokenizer_files import (
    END_OF_TEXT,
    IM_END,
    THINK_END,
    TokenizerMissing,
    official_chat_template,
    tokenizer_dir,
)

QUESTIONS = [
    "Mia has 24 stickers. She buys 4 packs of 3 stickers. How many stickers does Mia have at the end?",
    "What is 12% of 250?\nShow your work.",
]


@pytest.fixture(scope="module")
def folder() -> Path:
    try:
        return tokenizer_dir()
    except TokenizerMissing as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("question", QUESTIONS)
def test_our_first_turn_is_the_official_rendering_byte_for_byte(folder: Path, question: str) -> None:
    """Rendered with the same Jinja settings as transformers (the live test renders with transformers)."""
    fmt = load_profile("qwen3-tiny").large.prompt
    ours = render_prefix(fmt, [{"role": "user", "content": question}])
    official = PromptFormat(template=official_chat_template(), instruction=None)
    user = f"{question}\n{fmt.instruction}"
    theirs = render_messages(official, [{"role": "user", "content": user}])
    assert ours == theirs + "<think>\n"


def test_the_real_tokenizer_has_the_ids_the_pair_relies_on(folder: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    assert [tok.token_to_id(t) for t in ("<|im_end|>", "<|endoftext|>", "</think>")] == [
        IM_END,
        END_OF_TEXT,
        THINK_END,
    ]
    assert len(tok.encode("1234", add_special_tokens=False).ids) == 4  # one token per digit
    assert len(tok.encode(".\n", add_special_tokens=False).ids) == 1
