"""Bad settings and bad command lines end in one line that names the problem, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from relaychat.cli.common import UserError
from relaychat.cli.main import route
from relaychat.config import SettingsError, config_file, load_settings


def write_config(text: bytes) -> Path:
    path = config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text)
    return path


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"max_tokenz = 5\n", "unknown key `max_tokenz`"),
        (b"profile = \n", "is not valid TOML"),
        (b'max_tokens = "many"\n', "`max_tokens` in"),
        (b"max_tokens = 0\n", "greater than 0"),
        (b"\xff\xfe = 1\n", "is not UTF-8 text"),
    ],
)
def test_a_bad_config_file_names_its_problem(content: bytes, expected: str) -> None:
    path = write_config(content)
    with pytest.raises(SettingsError, match=expected) as caught:
        load_settings()
    assert str(path) in str(caught.value)  # the user is told which file


@pytest.mark.parametrize(("value", "expected"), [("abc", "valid integer"), ("0", "greater than 0")])
def test_a_bad_environment_value_is_refused_not_ignored(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("RELAYCHAT_MAX_TOKENS", value)
    with pytest.raises(SettingsError, match=f"RELAYCHAT_MAX_TOKENS: .*{expected}"):
        load_settings()


def test_good_settings_load_and_other_relaychat_variables_are_not_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_config(b'theme = "relay-light"\nmax_tokens = 512\n')
    monkeypatch.setenv("RELAYCHAT_VLLM_FAST_TOP_P", "0")  # read by the launcher, not a setting
    settings = load_settings()
    assert (settings.theme, settings.max_tokens) == ("relay-light", 512)


def test_an_unknown_command_suggests_the_closest_one() -> None:
    with pytest.raises(UserError, match="did you mean `relaychat run`"):
        route(["rnu", "What is 2 + 2?"])
    with pytest.raises(UserError, match="unknown command 'xyzzy'") as caught:
        route(["xyzzy"])
    assert "did you mean" not in str(caught.value)


def test_options_without_a_command_open_the_chat_app() -> None:
    assert route([]) == ["chat"]
    assert route(["--profile", "same-model"]) == ["chat", "--profile", "same-model"]
    assert route(["run", "x"]) == ["run", "x"]


def _cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relaychat.cli.main", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_the_cli_prints_one_plain_line_and_exits_2(tmp_path: Path) -> None:
    write_config(b"max_tokenz = 5\n")
    result = _cli("profiles")
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown key `max_tokenz`")
    assert "Traceback" not in result.stderr
    version = _cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("relaychat ")


def test_a_profile_file_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "pair.toml"
    bad.write_bytes(b"\xff\xfe name = 1\n")
    result = _cli("run", "--profile", str(bad), "--no-autostart", "What is 2 + 2?")
    assert result.returncode == 2
    assert "is not UTF-8 text" in result.stderr and "Traceback" not in result.stderr


def test_a_server_failing_mid_command_is_one_sentence_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Seen: a vLLM worker killed by the kernel's OOM killer mid-`bench` printed three chained tracebacks."""
    from relaychat.backends.errors import ServerFailed
    from relaychat.cli import bench, main

    def dies(*_: object) -> int:
        raise ServerFailed(
            "http://127.0.0.1:8112 closed the connection mid-stream", url="http://127.0.0.1:8112"
        )

    monkeypatch.setattr(bench, "cmd_bench", dies)
    with pytest.raises(SystemExit) as exit_:
        main.main(["bench", "--profile", "same-model", "--no-autostart"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "closed the connection mid-stream" in err and "Traceback" not in err


@pytest.mark.parametrize("depth", [1, 12])
def test_an_error_is_one_line_however_long_the_path_and_off_a_terminal(tmp_path: Path, depth: int) -> None:
    """Off a terminal rich wrapped at 80 columns, so the break fell wherever the temp path's length put it."""
    folder = tmp_path.joinpath(*[f"a-rather-long-folder-name-{i}" for i in range(depth)])
    folder.mkdir(parents=True)
    bad = folder / "pair.toml"
    bad.write_bytes(b"\xff\xfe name = 1\n")
    result = _cli("run", "--profile", str(bad), "--no-autostart", "What is 2 + 2?")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and str(bad) in lines[0] and "is not UTF-8 text" in lines[0]


def test_messages_on_stderr_are_never_hard_wrapped() -> None:
    """Setup lines, warnings and errors all go through this console (serve's setup lines too)."""
    from relaychat.cli.consoles import message_console

    console = message_console()
    with console.capture() as captured:
        console.print("word " * 60 + "end")
    assert captured.get() == "word " * 60 + "end\n"
