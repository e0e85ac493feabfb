"""Every front end opens its relay one way and runs it under the same options, bar mode and budgets.

Each front end (run, chat, eval, bench, calibrate) is driven through its own code path against the
same scripted servers and the same measured feed policy; every controller it makes is recorded.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from relaychat import relay as relay_module
from relaychat.backends.base import Backend
from relaychat.backends.scripted import Reply, ScriptedBackend, words
from relaychat.bench.runner import BenchPlan
from relaychat.bench.scenarios import parse_scenario
from relaychat.calibration.traces import generate_trace
from relaychat.cli import bench as cli_bench
from relaychat.cli import evaluate as cli_evaluate
from relaychat.cli import run as cli_run
from relaychat.connect import Connection
from relaychat.core.controller import RelayController
from relaychat.core.events import Role
from relaychat.core.feed_policy import FeedPolicy
from relaychat.core.plan import RelayOptions
from relaychat.core.profile import PairProfile, load_profile
from relaychat.evaluation.datasets import Problem
from relaychat.evaluation.graders import InlineGrader
from relaychat.evaluation.records import ResultStore
from relaychat.evaluation.runner import EvalPlan
from relaychat.relay import Relay, open_relay
from tests.ui.conftest import SIZE, Scripted, ask, make_app, wait_turn_done

POLICY = FeedPolicy(feed_every=96, max_feed_tokens=64, keeps_up=False, busy_share=0.9, reason="measured")
REASONING = (
    "Let me add 2 and 3 carefully here, one step at a time. So, the sum is 5.\n</think>The answer is 5."
)


def _servers(profile: PairProfile, connection: Connection | None = None) -> dict[Role, Backend]:
    return {
        "large": ScriptedBackend("http://127.0.0.1:1/large", name="big", default=Reply(words(REASONING))),
        "small": ScriptedBackend("http://127.0.0.1:1/small", name="tiny", default=Reply(words(REASONING))),
    }


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[RelayOptions]:
    """Same servers and measured costs for every front end; the options of every controller made."""
    monkeypatch.setenv("RELAYCHAT_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(relay_module, "make_backends", _servers)
    monkeypatch.setattr(relay_module, "measured_policy", lambda backends, known=None: POLICY)
    made: list[RelayOptions] = []
    original = Relay.controller

    def recording(self: Relay, options: RelayOptions, **kwargs: Any) -> RelayController:
        made.append(options)
        return original(self, options, **kwargs)

    monkeypatch.setattr(Relay, "controller", recording)
    return made


def _shared(options: RelayOptions, profile: PairProfile) -> RelayOptions:
    """What must not depend on the front end: all but mode, budgets, seed and run id (cues: None is
    the profile's)."""
    return dataclasses.replace(
        options,
        mode="relay",
        max_tokens=None,
        answer_reserve=None,
        seed=None,
        run_id=None,
        cues=options.cues if options.cues is not None else tuple(profile.cues),
    )


async def test_every_front_end_runs_the_same_tuned_relay(seen: list[RelayOptions], tmp_path: Path) -> None:
    profile = load_profile("cpu-demo")
    fronts: dict[str, list[RelayOptions]] = {}

    def take(name: str) -> None:
        fronts[name] = list(seen)
        seen.clear()

    # run
    args = argparse.Namespace(json=True, trace=tmp_path / "run.jsonl")
    await cli_run._run(profile, RelayOptions(mode="relay", max_tokens=80, seed=3), "2+3?", args)
    take("run")
    # chat
    app = make_app(Scripted())
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, "What is 2 + 3?")
        await wait_turn_done(pilot, app)
    take("chat")
    # eval
    plan = EvalPlan([Problem(id="p1", question="2+3?", answer="5")], ["relay", "large"], 1, max_tokens=80)
    store = ResultStore(tmp_path / "eval")
    store.prepare({})
    quiet = Console(file=io.StringIO())
    await cli_evaluate._run_with_progress(open_relay(profile), plan, store, InlineGrader(), quiet)
    take("eval")
    # bench (warm-up and scenarios; the cached-TTFT probe runs on the backends, not a relay)
    scenarios = [parse_scenario("relay"), parse_scenario("large")]
    await cli_bench._bench(
        open_relay(profile), scenarios, BenchPlan(["2+3?"], max_tokens=80), True, True, quiet
    )
    take("bench")
    # calibrate (its traces are the large model's alone, with no answer reserve)
    async with open_relay(profile) as relay:
        await generate_trace(
            relay, Problem(id="p1", question="2+3?", answer="5"), sample=0, seed=1, max_tokens=80
        )
    take("calibrate")

    assert all(fronts.values()), {name: len(opts) for name, opts in fronts.items()}
    every = {name: {_shared(o, profile) for o in opts} for name, opts in fronts.items()}
    reference = every["run"]
    assert len(reference) == 1
    for name, shared in every.items():
        assert shared == reference, name
    (tuned,) = reference
    assert (tuned.feed_every, tuned.max_feed_tokens) == (96, 64)  # the measured policy, both fields
