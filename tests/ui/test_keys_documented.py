"""The README's keys table, the F1 help and the app's bindings list the same keys."""

from __future__ import annotations

import re
from pathlib import Path

from relaychat.ui.screens.chat import ChatScreen
from relaychat.ui.screens.help import HELP
from relaychat.ui.widgets.cue_table import CueTable
from relaychat.ui.widgets.prompt import PromptArea

README = Path(__file__).resolve().parents[2] / "README.md"
SPELLING = {"esc": "escape", "pageup": "pageup", "pagedown": "pagedown", "+": "plus", "-": "minus"}


def table_keys(text: str, heading: str) -> set[str]:
    """Every key named in the first column of the first Markdown table after `heading`."""
    section = text[text.index(heading) :]
    keys: set[str] = set()
    for line in section.splitlines()[1:]:
        if line.startswith("|") and not line.startswith("|---"):
            first = line.split("|")[1]
            for word in re.split(r" or | / |,", first.replace("*", "")):
                word = word.strip().lower()
                if word and word not in ("key",):
                    keys.add(SPELLING.get(word, word))
        elif keys and not line.strip():
            break
    return keys


def bound_keys() -> set[str]:
    keys: set[str] = set()
    for cls in (ChatScreen, PromptArea, CueTable):
        for binding in cls.BINDINGS:
            keys.update(binding.key.split(","))  # type: ignore[union-attr]
    return keys


def test_readme_and_help_list_the_same_keys() -> None:
    readme = table_keys(README.read_text(encoding="utf-8"), "Keys (the same table is in the app")
    help_keys = table_keys(HELP, "# RelayChat keys")
    assert readme == help_keys


def test_every_bound_key_is_documented() -> None:
    documented = table_keys(HELP, "# RelayChat keys") | {
        "equals_sign",
        "alt+enter",
        "shift+enter",
        "f6",
        "f7",
    }
    # Home/End and Ctrl+Home/Ctrl+End are one row; the rest must each appear.
    missing = {key for key in bound_keys() if key not in documented and key not in ("home", "end")}
    assert missing == set()
