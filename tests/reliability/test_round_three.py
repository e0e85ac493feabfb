"""Issue 23's rows (besides servers and hostile names): credentials, disk faults, cut traces, the eval
lock, stop signals in eval and run, cue limits and clear messages. Each failed before the change."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.fault_server import Fault, FaultServer, profile_toml
from tests.reliability.conftest import Pair, cli_env, last_event, relaychat, spawn, traces

NO_TRACEBACK = "Traceback"


def _flat(text: str) -> str:
    """Off a terminal, messages may be folded at some width: compare words, not line breaks."""
    return " ".join(text.split())


def _one_error_line(stderr: str) -> None:
    assert NO_TRACEBACK not in stderr, stderr
    assert stderr.startswith("error:"), stderr


# --- credentials ----------------------------------------------------------------------------------


def test_bench_meta_masks_credentials_in_urls(pair: Pair, _isolated_home: Path, tmp_path: Path) -> None:
    large = pair.large.url.replace("http://", "http://alice:s3cret-pw@")
    small = pair.small.url.replace("http://", "http://bob:other-pw@")
    out = tmp_path / "bench.json"
    result = relaychat(
        "bench", "--profile", str(pair.profile), "--large-url", large, "--small-url", small,
        "--no-autostart", "--scenarios", "large", "--prompts", "1", "--no-warmup", "--json", str(out),
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert "s3cret-pw" not in text and "other-pw" not in text
    meta = json.loads(text)["meta"]
    assert meta["large_urls"] == [pair.large.url.replace("http://", "http://***@")]
    assert "s3cret-pw" not in result.stdout + result.stderr


def test_profiles_masks_credentials_in_urls(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text(profile_toml("http://alice:s3cret-pw@127.0.0.1:1", "http://127.0.0.1:2"))
    result = relaychat("profiles", str(profile))
    assert result.returncode == 0, result.stderr
    assert "s3cret-pw" not in result.stdout and "http://***@127.0.0.1:1" in result.stdout


# --- disk faults before work starts ---------------------------------------------------------------


def _home_env(home: Path) -> dict[str, str]:
    return cli_env(RELAYCHAT_HOME=str(home))


def test_a_data_dir_that_is_a_file_is_one_clear_error(pair: Pair, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "data").write_text("not a folder")
    result = relaychat("run", "--profile", str(pair.profile), "--no-autostart", "hi", env=_home_env(home))
    assert result.returncode == 2
    _one_error_line(result.stderr)
    assert "is a file, not a folder" in _flat(result.stderr)
    assert not pair.large.seen  # before any server is contacted


def test_a_traces_path_that_is_a_file_is_one_clear_error(pair: Pair, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    (home / "data" / "traces").write_text("not a folder")
    result = relaychat("run", "--profile", str(pair.profile), "--no-autostart", "hi", env=_home_env(home))
    assert result.returncode == 2
    _one_error_line(result.stderr)
    assert "traces is a file" in " ".join(result.stderr.split())


def test_trace_at_a_directory_is_one_clear_error(pair: Pair, _isolated_home: Path, tmp_path: Path) -> None:
    result = relaychat(
        "run", "--profile", str(pair.profile), "--no-autostart", "--trace", str(tmp_path), "hi"
    )
    assert result.returncode == 2
    _one_error_line(result.stderr)
    assert "is a folder" in _flat(result.stderr)
    assert not pair.large.seen


@contextlib.contextmanager
def _tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A tiny file system of our own (root only): full or read-only on purpose."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(folder: Path) -> None:
    with contextlib.suppress(OSError), (folder / "filler").open("wb") as handle:
        while True:
            handle.write(b"\0" * 4096)
            handle.flush()


def test_a_full_disk_is_one_clear_error_before_work(pair: Pair, _isolated_home: Path, tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "full", "size=64k") as full:
        _fill(full)
        result = relaychat(
            "run", "--profile", str(pair.profile), "--no-autostart", "--trace", str(full / "t.jsonl"), "hi"
        )
        assert result.returncode == 2
        _one_error_line(result.stderr)
        assert "the disk is full" in _flat(result.stderr)
        out = relaychat(
            "eval", "--dataset", str(_dataset(tmp_path)), "--profile", str(pair.profile), "--no-autostart",
            "--out", str(full / "run"),
        )  # fmt: skip
        assert out.returncode == 2
        _one_error_line(out.stderr)
        assert not pair.large.seen


def test_a_read_only_out_folder_is_one_clear_error(pair: Pair, _isolated_home: Path, tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "ro", "size=1m,ro") as ro:
        out = relaychat(
            "eval", "--dataset", str(_dataset(tmp_path)), "--profile", str(pair.profile), "--no-autostart",
            "--out", str(ro / "run"),
        )  # fmt: skip
        assert out.returncode == 2
        _one_error_line(out.stderr)
        assert "read-only" in _flat(out.stderr)
        run = relaychat(
            "run", "--profile", str(pair.profile), "--no-autostart", "--trace", str(ro / "t.jsonl"), "hi"
        )
        assert run.returncode == 2 and "read-only" in _flat(run.stderr)
        assert not pair.large.seen


def test_a_disk_that_fills_mid_run_keeps_the_answer_and_whole_lines(tmp_path: Path) -> None:
    """The answer streams on with a warning; the trace ends on a whole line, and replay says it stops
    early. Before: a traceback, and a half-written last line."""
    long_text = "Let me think about it step by step. " * 120 + "</think>"
    with (
        FaultServer(text=long_text) as large,
        FaultServer(text="The answer is 4.") as small,
        _tmpfs(tmp_path / "small-disk", "size=64k") as disk,
    ):
        profile = tmp_path / "p.toml"
        profile.write_text(profile_toml(large.url, small.url, max_tokens=1200))
        trace = disk / "t.jsonl"
        result = relaychat("run", "--profile", str(profile), "--no-autostart", "--trace", str(trace), "hi")
        assert result.returncode == 0, result.stderr
        assert NO_TRACEBACK not in result.stderr
        assert "The answer is 4." in result.stdout  # nothing lost on screen
        assert "the trace stopped being saved" in " ".join(result.stderr.split())
        raw = trace.read_bytes()
        assert raw.endswith(b"\n")
        for line in raw.decode().splitlines():
            json.loads(line)  # every line whole
        replayed = relaychat("replay", str(trace), "--speed", "0")
        assert replayed.returncode == 0
        assert "no final event" in " ".join(replayed.stderr.split())


# --- replay of cut and failed traces -------------------------------------------------------------


def _saved_trace(pair: Pair, home: Path) -> Path:
    result = relaychat("run", "--profile", str(pair.profile), "--no-autostart", "hi")
    assert result.returncode == 0, result.stderr
    return traces(home)[-1]


def test_replay_of_a_cut_trace_plays_the_valid_part_and_warns(pair: Pair, _isolated_home: Path) -> None:
    trace = _saved_trace(pair, _isolated_home)
    lines = trace.read_text().splitlines()
    cut = "\n".join(lines[:-2]) + "\n" + lines[-2][: len(lines[-2]) // 2]  # killed mid-write
    trace.write_text(cut)
    result = relaychat("replay", str(trace), "--speed", "0")
    assert result.returncode == 0, result.stderr
    flat = " ".join(result.stderr.split())
    assert "warning:" in flat and "is cut short" in flat
    assert "Two plus two" in result.stdout


def test_replay_of_a_failed_trace_shows_the_failure_and_exits_1(pair: Pair, _isolated_home: Path) -> None:
    pair.large.plan(Fault(kind="status", status=400, text="the model refused"))
    failed = relaychat("run", "--profile", str(pair.profile), "--no-autostart", "hi")
    assert failed.returncode == 1
    trace = traces(_isolated_home)[-1]
    assert last_event(trace)["type"] == "failed"
    result = relaychat("replay", str(trace), "--speed", "0")
    assert result.returncode == 1
    assert "the model refused" in _flat(result.stderr)


# --- eval: one writer per --out, and stop signals -------------------------------------------------


def _dataset(folder: Path, count: int = 1) -> Path:
    path = folder / "problems.jsonl"
    rows = [{"id": f"p{i}", "problem": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(count)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _wait(predicate: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    pytest.fail("timed out waiting")


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_second_eval_on_the_same_out_says_who_holds_it(
    pair: Pair, _isolated_home: Path, tmp_path: Path
) -> None:
    pair.large.default = Fault(kind="stall", after=1, seconds=30)
    out = tmp_path / "run"
    args = ("eval", "--dataset", str(_dataset(tmp_path)), "--modes", "large", "--profile", str(pair.profile),
            "--no-autostart", "--out", str(out))  # fmt: skip
    first = spawn(*args)
    try:
        _wait(lambda: pair.large.seen and any(s.path == "/v1/completions" for s in pair.large.seen))
        second = relaychat(*args)
        assert second.returncode == 2, second.stderr
        _one_error_line(second.stderr)
        assert f"pid {first.pid}" in " ".join(second.stderr.split())
    finally:
        first.kill()
        first.wait()


@pytest.mark.parametrize(("how", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_eval_on_a_stop_signal_cancels_traces_stops_children_and_exits_128_plus_n(
    pair: Pair, _isolated_home: Path, tmp_path: Path, how: signal.Signals, code: int
) -> None:
    """Before: SIGTERM / SIGHUP killed eval silently, the in-flight trace had no `cancelled` and the
    grader worker and its resource tracker lived on under PID 1."""
    pair.large.plan(Fault())  # p0 answers at once (the grader worker starts to grade it)
    pair.large.default = Fault(kind="stall", after=1, seconds=60)  # p1 stays in flight
    out = tmp_path / "run"
    proc = spawn(
        "eval", "--dataset", str(_dataset(tmp_path, 2)), "--modes", "large", "--concurrency", "1",
        "--profile", str(pair.profile), "--no-autostart", "--out", str(out),
    )  # fmt: skip
    try:
        samples = out / "samples.jsonl"
        _wait(lambda: samples.is_file() and samples.read_text().count("\n") >= 1)
        _wait(
            lambda: (
                len(pair.large.seen) >= 2
                and (out / "traces").is_dir()
                and len(list((out / "traces").iterdir())) >= 2
            )
        )
        time.sleep(0.5)
        children = _descendants(proc.pid)
        assert children, "no grader worker"
        proc.send_signal(how)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == code, stderr
        assert NO_TRACEBACK not in stderr
        in_flight = [p for p in (out / "traces").iterdir() if p.name.startswith("p1")]
        assert in_flight and last_event(in_flight[0])["type"] == "failed"
        assert last_event(in_flight[0])["error"]["kind"] == "cancelled"  # type: ignore[index]
        _wait(lambda: not any(_alive(c) for c in children), timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(("how", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_run_on_a_stop_signal_ends_its_trace_cancelled_and_exits_128_plus_n(
    pair: Pair, _isolated_home: Path, how: signal.Signals, code: int
) -> None:
    pair.large.default = Fault(kind="stall", after=1, seconds=60)
    proc = spawn("run", "--profile", str(pair.profile), "--no-autostart", "hi")
    try:
        _wait(lambda: any(s.path == "/v1/completions" for s in pair.large.seen) and traces(_isolated_home))
        time.sleep(0.5)
        proc.send_signal(how)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == code, stderr
        event = last_event(traces(_isolated_home)[-1])
        assert event["type"] == "failed" and event["error"]["kind"] == "cancelled"  # type: ignore[index]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- resource limits and messages -----------------------------------------------------------------


def test_a_100000_cue_file_fails_fast_with_a_clear_error(pair: Pair, tmp_path: Path) -> None:
    cues = tmp_path / "many.json"
    cues.write_text(json.dumps({"cues": [f"cue {i}," for i in range(100_000)]}))
    result = relaychat(
        "run", "--profile", str(pair.profile), "--no-autostart", "--cues", str(cues), "hi", timeout=30
    )
    assert result.returncode == 2
    _one_error_line(result.stderr)
    assert "at most 1 MB" in _flat(result.stderr) or "at most 1,000" in _flat(result.stderr)
    assert not any(s.path == "/v1/completions" for s in pair.large.seen)


def test_a_huge_cue_is_refused(pair: Pair, tmp_path: Path) -> None:
    cues = tmp_path / "one.json"
    cues.write_text(json.dumps({"cues": ["Wait,", "x" * 5000]}))
    result = relaychat("run", "--profile", str(pair.profile), "--no-autostart", "--cues", str(cues), "hi")
    assert result.returncode == 2
    _one_error_line(result.stderr)
    assert "cue 2 is 5,000 characters long" in " ".join(result.stderr.split())


def test_a_non_utf8_dataset_names_the_line(pair: Pair, tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_bytes(
        b'{"id": "1", "problem": "ok", "answer": "1"}\n{"id": "2", "problem": "caf\xe9", "answer": "2"}\n'
    )
    result = relaychat("eval", "--dataset", str(data), "--profile", str(pair.profile), "--no-autostart",
                       "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.returncode == 2
    _one_error_line(result.stderr)
    assert "line 2 is not UTF-8" in " ".join(result.stderr.split())


def test_an_unknown_template_fails_at_load_before_any_server(pair: Pair, tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text(profile_toml(pair.large.url, pair.small.url).replace('"plain"', '"chatmlx"', 1))
    result = relaychat("run", "--profile", str(profile), "--no-autostart", "hi")
    assert result.returncode == 2, result.stderr
    _one_error_line(result.stderr)
    assert "chatmlx" in result.stderr
    assert not pair.large.seen and not pair.small.seen


def test_a_misspelled_relaychat_variable_is_an_error_that_never_prints_its_value(pair: Pair) -> None:
    env = cli_env(RELAYCHAT_MAX_TOKEN="50", RELAYCHAT_LARGE_APIKEY="super-secret-key")
    result = relaychat("run", "--profile", str(pair.profile), "--no-autostart", "hi", env=env)
    assert result.returncode == 2
    _one_error_line(result.stderr)
    flat = " ".join(result.stderr.split())
    assert "RELAYCHAT_MAX_TOKEN (did you mean RELAYCHAT_MAX_TOKENS?)" in flat
    assert "did you mean RELAYCHAT_LARGE_API_KEY?" in flat
    assert "super-secret-key" not in result.stderr + result.stdout


def test_api_key_variables_still_work(pair: Pair, _isolated_home: Path) -> None:
    env = cli_env(RELAYCHAT_LARGE_API_KEY="k1", RELAYCHAT_SMALL_API_KEY="k2")
    result = relaychat("run", "--profile", str(pair.profile), "--no-autostart", "hi", env=env)
    assert result.returncode == 0, result.stderr
