"""The issue's "done when" check, automated: the chat app in a real terminal (tmux), against fake
servers whose model writes escape sequences, leaves the screen and the window title untouched."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.fakes.fault_server import FaultServer, profile_toml
from tests.reliability.conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

LARGE = "Let me see. \x1b[2J\x1b]0;pwned\x07\x1b[31mred \x1b[?1049h ok</think>"
SMALL = "Answer: \x1b[2J\x1b]0;pwned\x07\x1b[31m**4**"


class AppPane:
    """The chat app in a tmux server of its own (a private socket), on a profile of fake servers."""

    def __init__(self, profile: Path, home: Path) -> None:
        self.socket = f"relaychat-test-{uuid.uuid4().hex[:8]}"
        self.command = (
            f"env PYTHONPATH={ROOT} RELAYCHAT_HOME={home} {sys.executable} "
            f"-m relaychat.cli.main --profile {profile} --no-autostart; sleep 60"
        )

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout

    def wait_for(self, check: Callable[[str], bool], timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.tmux("capture-pane", "-p", "-t", "app")
            if check(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"the screen never got there:\n{screen}")

    def title(self) -> str:
        return self.tmux("display", "-p", "-t", "app", "#{pane_title}").strip()

    @contextmanager
    def running(self) -> Iterator[AppPane]:
        """Start the app with a known pane title; wait until both servers are up, then the panels as
        they start (below 100 columns they start hidden: F7 shows them for the wait, then hides them)."""
        self.tmux("new-session", "-d", "-s", "app", "-x", "160", "-y", "45", self.command)
        try:
            self.tmux("select-pane", "-t", "app", "-T", "title-before")
            screen = self.wait_for(lambda s: "Ask something" in s)
            narrow = "servers" not in screen
            if narrow:
                self.tmux("send-keys", "-t", "app", "F7")
            self.wait_for(lambda s: s.count(" up ") >= 2)
            if narrow:
                self.tmux("send-keys", "-t", "app", "F7")
            yield self
        finally:
            subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


def test_a_model_writing_escape_sequences_leaves_the_terminal_alone(tmp_path: Path) -> None:
    with FaultServer(text=LARGE) as large, FaultServer(text=SMALL) as small:
        profile = tmp_path / "hostile.toml"
        profile.write_text(profile_toml(large.url, small.url))
        with AppPane(profile, tmp_path / "home").running() as app:
            app.tmux("send-keys", "-t", "app", "What is 2 + 2?", "Enter")
            screen = app.wait_for(lambda s: "tokens · large share" in s)
            assert "␛[2J␛]0;pwned␇␛[31mred" in screen  # shown, inert
            assert "you What is 2 + 2?" in screen  # not cleared
            assert app.title() == "title-before"


HOSTILE_ID = "evil\x1b]0;pwned-by-id\x07\x1b[2Jmodel"


def test_a_hostile_model_id_leaves_the_terminal_alone(tmp_path: Path) -> None:
    """A server whose /v1/models id holds `ESC]0;...BEL` retitled the pane from the margin panel (and the
    title stayed after quitting); now the id shows inert in the panels, and the title never changes."""
    slow = "Let me see. " + "and then " * 40 + "ok</think>"
    with (
        FaultServer(text=slow, model=HOSTILE_ID) as large,
        FaultServer(text="Answer: 4", model=HOSTILE_ID) as small,
    ):
        large.default.kind, large.default.after, large.default.seconds = "stall", 4, 3.0
        profile = tmp_path / "hostile.toml"
        profile.write_text(profile_toml(large.url, small.url))
        with AppPane(profile, tmp_path / "home").running() as app:
            if "servers" not in app.tmux("capture-pane", "-p", "-t", "app"):
                app.tmux("send-keys", "-t", "app", "F7")  # the panels name the writer: show them
            app.tmux("send-keys", "-t", "app", "What is 2 + 2?", "Enter")
            screen = app.wait_for(lambda s: "␛]0;pwned" in s)  # the panels name the writer, inert
            assert app.title() == "title-before"
            app.wait_for(lambda s: "tokens · large share" in s)
            app.tmux("send-keys", "-t", "app", "C-q", "")
            time.sleep(1.0)
            assert app.title() == "title-before"
            assert "\x1b" not in screen
