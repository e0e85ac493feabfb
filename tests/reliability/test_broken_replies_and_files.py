"""Row 4: no traceback and no lost `failed` event, whatever the server or the files hold."""

from __future__ import annotations

import json
from pathlib import Path

from relaychat.backends.scripted import Reply, ScriptedBackend, words
from relaychat.core.controller import RelayController
from relaychat.core.events import RunFailed
from relaychat.core.profile import load_profile
from tests.fakes.fault_server import Fault
from tests.reliability.conftest import Pair, last_event, relaychat, traces


def test_a_non_object_data_line_becomes_a_failed_event_not_a_traceback(
    pair: Pair, _isolated_home: Path
) -> None:
    pair.large.plan(Fault("non_object", after=2))
    result = relaychat("run", "--profile", str(pair.profile), "--no-autostart", "What is 2 + 2?")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "not a JSON object" in result.stderr
    failed = last_event(traces(_isolated_home)[-1])
    assert failed["type"] == "failed" and failed["error"]["kind"] == "protocol"  # type: ignore[index]
    assert failed["summary"]["reasoning"] == "Two plus"  # type: ignore[index]


class _Exploding(ScriptedBackend):
    """A backend with a bug: it raises something that is not a BackendError mid-stream."""

    async def stream(self, request):  # type: ignore[no-untyped-def,override]
        async for item in super().stream(request):
            yield item
            raise RuntimeError("boom")


async def test_an_unknown_exception_still_ends_in_failed_with_the_partial_output() -> None:
    large = _Exploding("http://large", name="L")
    small = ScriptedBackend("http://small", name="S")
    large.add(Reply(words("Let me think about it")))
    profile = load_profile("qwen3-1.7b-32b").model_copy(update={"max_tokens": 100, "answer_reserve": 20})
    events = [e async for e in RelayController(profile, {"large": large, "small": small}).run(
        [{"role": "user", "content": "2+2?"}]
    )]  # fmt: skip
    final = events[-1]
    assert isinstance(final, RunFailed)
    assert final.error.kind == "internal" and "RuntimeError: boom" in final.error.message
    assert final.summary.reasoning.startswith("Let")


def test_replay_and_cue_inspect_refuse_a_non_utf8_trace_without_a_traceback(tmp_path: Path) -> None:
    trace = tmp_path / "bad.jsonl"
    trace.write_bytes(b'{"t": 0, "type": "stage", "stage": "reasoning"}\n\xff\xfe garbage\n')
    for command in (["replay", str(trace), "--speed", "0"], ["cues", "inspect", str(trace)]):
        result = relaychat(*command)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert "bad.jsonl:2 is not UTF-8" in result.stderr


def _eval_on(dataset: Path, pair: Pair) -> str:
    result = relaychat(
        "eval", "--dataset", str(dataset), "--modes", "relay", "--out", str(dataset.parent / "out"),
        "--profile", str(pair.profile), "--no-autostart",
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return " ".join(result.stderr.split())  # unwrap the terminal's line folding


def test_eval_names_the_real_line_of_a_bad_dataset_row(pair: Pair, tmp_path: Path) -> None:
    good = [json.dumps({"id": f"p{i}", "problem": "1+1?", "answer": "2"}) for i in range(2)]
    dataset = tmp_path / "bad-line.jsonl"
    dataset.write_text("\n".join([*good, "{not json", ""]))
    assert "line 3 is not valid JSON" in _eval_on(dataset, pair)
    dataset.write_text("\n".join([*good, "[1, 2, 3]", ""]))
    assert "line 3 is a JSON list, not an object" in _eval_on(dataset, pair)
    dataset.write_text("\n".join([*good, json.dumps({"id": "x", "text": "?"}), ""]))
    assert "line 3 has no question/answer field" in _eval_on(dataset, pair)


def test_eval_refuses_duplicate_problem_ids_with_their_lines(pair: Pair, tmp_path: Path) -> None:
    rows = [{"id": i, "problem": f"{i}+1?", "answer": str(i + 1)} for i in (1, 2, 3, 2, 5)]
    dataset = tmp_path / "dupes.jsonl"
    dataset.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    message = _eval_on(dataset, pair)
    assert "repeats problem ids" in message and "'2' on lines 2, 4" in message
    assert not (tmp_path / "out" / "samples.jsonl").exists()  # nothing was run, nothing scored twice
