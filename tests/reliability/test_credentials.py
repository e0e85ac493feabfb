"""Row 5: per-role API keys are sent as Bearer tokens and never written anywhere; URL credentials are
masked in every output."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fakes.fault_server import Fault, FaultServer, profile_toml
from tests.reliability.conftest import LARGE_TEXT, SMALL_TEXT, Pair, cli_env, relaychat, traces

KEY_L, KEY_S = "sk-large-7f3a9c", "sk-small-2b8d41"


def _everything_written(home: Path, *texts: str) -> str:
    """Every byte RelayChat wrote: outputs, traces, eval records, reports, logs."""
    files = [p for p in home.rglob("*") if p.is_file()]
    return "\n".join([*texts, *(p.read_bytes().decode("utf-8", "replace") for p in files)])


def test_api_keys_from_the_environment_reach_each_server_and_nowhere_else(_isolated_home: Path) -> None:
    with (
        FaultServer(text=LARGE_TEXT, api_key=KEY_L) as large,
        FaultServer(text=SMALL_TEXT, api_key=KEY_S) as small,
    ):
        profile = _isolated_home / "keyed.toml"
        profile.write_text(profile_toml(large.url, small.url))
        env = cli_env(RELAYCHAT_LARGE_API_KEY=KEY_L, RELAYCHAT_SMALL_API_KEY=KEY_S)
        ok = relaychat("run", "--profile", str(profile), "--no-autostart", "--json", "2+2?", env=env)
        assert ok.returncode == 0, ok.stderr
        assert {s.headers.get("authorization") for s in large.completions()} == {f"Bearer {KEY_L}"}
        assert {s.headers.get("authorization") for s in small.completions()} == {f"Bearer {KEY_S}"}
        # A wrong key: the server refuses, and the error does not echo the key that was sent.
        bad = cli_env(RELAYCHAT_LARGE_API_KEY=KEY_L + "-old", RELAYCHAT_SMALL_API_KEY=KEY_S)
        refused = relaychat("run", "--profile", str(profile), "--no-autostart", "2+2?", env=bad)
        assert refused.returncode == 1 and "HTTP 401" in refused.stderr
    written = _everything_written(_isolated_home, ok.stdout, ok.stderr, refused.stdout, refused.stderr)
    assert KEY_L not in written and KEY_S not in written


def test_a_shared_profile_names_the_variable_that_holds_the_key(_isolated_home: Path) -> None:
    with FaultServer(text=LARGE_TEXT, api_key=KEY_L) as large, FaultServer(text=SMALL_TEXT) as small:
        profile = _isolated_home / "shared.toml"
        text = profile_toml(large.url, small.url).replace(
            f'urls = ["{large.url}"]', f'urls = ["{large.url}"]\napi_key_env = "TEAM_GPU_KEY"'
        )
        profile.write_text(text)
        result = relaychat(
            "run", "--profile", str(profile), "--no-autostart", "2+2?", env=cli_env(TEAM_GPU_KEY=KEY_L)
        )
        assert result.returncode == 0, result.stderr
        assert large.completions()[-1].headers.get("authorization") == f"Bearer {KEY_L}"
        assert "authorization" not in small.completions()[-1].headers
    assert KEY_L not in _everything_written(_isolated_home, result.stdout, result.stderr)


def test_credentials_in_a_url_are_masked_in_errors_events_traces_and_eval_records(
    pair: Pair, _isolated_home: Path, tmp_path: Path
) -> None:
    secret = "pw-hunter2"
    url = pair.large.url.replace("http://", f"http://alice:{secret}@")
    pair.large.default = Fault("status", status=500)
    run = relaychat("run", "--profile", str(pair.profile), "--large-url", url, "--no-autostart", "2+2?")
    assert run.returncode == 1 and "HTTP 500" in run.stderr and "***@127.0.0.1" in run.stderr
    as_json = relaychat(
        "run", "--profile", str(pair.profile), "--large-url", url, "--no-autostart", "--json", "2+2?"
    )
    failed = json.loads(as_json.stdout.splitlines()[-1])
    assert failed["type"] == "failed" and "***@" in failed["error"]["message"]
    dataset = tmp_path / "one.jsonl"
    dataset.write_text(json.dumps({"id": "p1", "problem": "2+2?", "answer": "4"}) + "\n")
    evaluated = relaychat(
        "eval", "--dataset", str(dataset), "--modes", "relay", "--retries", "0", "--out",
        str(_isolated_home / "eval"), "--profile", str(pair.profile), "--large-url", url, "--no-autostart",
    )  # fmt: skip
    assert evaluated.returncode == 1
    samples = (_isolated_home / "eval" / "samples.jsonl").read_text()
    assert "***@127.0.0.1" in samples
    down = relaychat("run", "--large-url", "http://bob:pw-hunter2@127.0.0.1:9", "--no-autostart", "2+2?")
    assert down.returncode == 2 and "***@127.0.0.1:9" in down.stderr  # the servers_up check
    assert traces(_isolated_home)
    outputs = [run.stdout, run.stderr, as_json.stdout, as_json.stderr, evaluated.stdout, evaluated.stderr]
    assert secret not in _everything_written(_isolated_home, *outputs, down.stdout, down.stderr)
