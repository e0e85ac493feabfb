"""The issue's "done when" check, automated: the chat app in a real terminal (tmux), against fake
servers whose model writes escape sequences, leaves the screen and the window title untouched."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fakes.fault_server import FaultServer, profile_toml
from tests.reliability.conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

LARGE = "Let me see. \x1b[2J\x1b]0;pwned\x07\x1b[31mred \x1b[?1049h ok</think>"
SMALL = "Answer: \x1b[2J\x1b]0;pwned\x07\x1b[31m**4**"


def test_a_model_writing_escape_sequences_leaves_the_terminal_alone(tmp_path: Path) -> None:
    socket = f"relaychat-test-{uuid.uuid4().hex[:8]}"

    def tmux(*args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout

    def wait_for(check: Callable[[str], bool], timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = tmux("capture-pane", "-p", "-t", "app")
            if check(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"the screen never got there:\n{screen}")

    with FaultServer(text=LARGE) as large, FaultServer(text=SMALL) as small:
        profile = tmp_path / "hostile.toml"
        profile.write_text(profile_toml(large.url, small.url))
        command = (
            f"env PYTHONPATH={ROOT} RELAYCHAT_HOME={tmp_path / 'home'} {sys.executable} "
            f"-m relaychat.cli.main --profile {profile} --no-autostart; sleep 60"
        )
        tmux("new-session", "-d", "-s", "app", "-x", "160", "-y", "45", command)
        try:
            tmux("select-pane", "-t", "app", "-T", "title-before")
            screen = wait_for(lambda s: "Ask something" in s)
            narrow = "servers" not in screen  # below 100 columns the panels start hidden: F7 shows them
            if narrow:
                tmux("send-keys", "-t", "app", "F7")
            wait_for(lambda s: s.count(" up ") >= 2)
            if narrow:
                tmux("send-keys", "-t", "app", "F7")
            tmux("send-keys", "-t", "app", "What is 2 + 2?", "Enter")
            screen = wait_for(lambda s: "tokens · large share" in s)
            assert "␛[2J␛]0;pwned␇␛[31mred" in screen  # shown, inert
            assert "you What is 2 + 2?" in screen  # not cleared
            assert tmux("display", "-p", "-t", "app", "#{pane_title}").strip() == "title-before"
        finally:
            subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=10)


HOSTILE_ID = "evil\x1b]0;pwned-by-id\x07\x1b[2Jmodel"


def test_a_hostile_model_id_leaves_the_terminal_alone(tmp_path: Path) -> None:
    """A server whose /v1/models id holds `ESC]0;...BEL` retitled the pane from the margin panel (and the
    title stayed after quitting); now the id shows inert in the panels, and the title never changes."""
    socket = f"relaychat-test-{uuid.uuid4().hex[:8]}"

    def tmux(*args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout

    def wait_for(check: Callable[[str], bool], timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = tmux("capture-pane", "-p", "-t", "app")
            if check(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"the screen never got there:\n{screen}")

    slow = "Let me see. " + "and then " * 40 + "ok</think>"
    with (
        FaultServer(text=slow, model=HOSTILE_ID) as large,
        FaultServer(text="Answer: 4", model=HOSTILE_ID) as small,
    ):
        large.default.kind, large.default.after, large.default.seconds = "stall", 4, 3.0
        profile = tmp_path / "hostile.toml"
        profile.write_text(profile_toml(large.url, small.url))
        command = (
            f"env PYTHONPATH={ROOT} RELAYCHAT_HOME={tmp_path / 'home'} {sys.executable} "
            f"-m relaychat.cli.main --profile {profile} --no-autostart; sleep 60"
        )
        tmux("new-session", "-d", "-s", "app", "-x", "160", "-y", "45", command)
        try:
            tmux("select-pane", "-t", "app", "-T", "title-before")
            screen = wait_for(lambda s: "Ask something" in s)
            if "servers" not in screen:  # below 100 columns the panels start hidden: F7 shows them
                tmux("send-keys", "-t", "app", "F7")
            wait_for(lambda s: s.count(" up ") >= 2)
            tmux("send-keys", "-t", "app", "What is 2 + 2?", "Enter")
            screen = wait_for(lambda s: "␛]0;pwned" in s)  # the panels name the writer, inert
            assert tmux("display", "-p", "-t", "app", "#{pane_title}").strip() == "title-before"
            wait_for(lambda s: "tokens · large share" in s)
            tmux("send-keys", "-t", "app", "C-q", "")
            time.sleep(1.0)
            assert tmux("display", "-p", "-t", "app", "#{pane_title}").strip() == "title-before"
            assert "\x1b" not in screen
        finally:
            subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=10)
