"""What lives how long: a generation's state dies with its run; learning lives in the WarmupMemory's owner;
nothing in relaychat/core/ is module-level mutable state."""

from __future__ import annotations

import ast
from pathlib import Path

import relaychat.core
from relaychat.backends.scripted import Reply, ScriptedBackend, words
from relaychat.core.controller import RelayController, RelayOptions
from relaychat.core.memory import WarmupMemory
from relaychat.core.profile import load_profile

QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]


def controller(memory: WarmupMemory | None = None) -> tuple[RelayController, ScriptedBackend]:
    """A relay whose large model writes "So," once; the small model answers whatever is asked."""
    profile = load_profile("qwen3-1.7b-32b").model_copy(
        update={"max_tokens": 200, "answer_reserve": 40, "shared_tokenizer": False, "small_max_tokens": 30}
    )
    large, small = ScriptedBackend("http://large", name="L"), ScriptedBackend("http://small", name="S")
    large.delay = small.delay = 0.002
    large.default = Reply(["We", " add", " the", " numbers", " here", ".", " So", ",", " we"])
    large.replies_after = {"4.": Reply(["</think>"])}
    small.replies_after = {"</think>": Reply(["4"]), "So,": Reply(words(" the sum is 4. Next"))}
    small.default = Reply(words(" never read"))
    options = RelayOptions(feed_every=10_000)
    return RelayController(profile, {"large": large, "small": small}, options, memory), small


async def early_endings(relay: RelayController, small: ScriptedBackend) -> list[str]:
    before = len(small.requests)
    async for _ in relay.run(QUESTION):
        pass
    return [r.prompt[-3:] for r in small.requests[before:-1]]  # type: ignore[index]


async def test_one_controller_learns_across_its_generations() -> None:
    relay, small = controller()
    assert await early_endings(relay, small) == [" So", "So,"]
    assert await early_endings(relay, small) == ["So,"]


async def test_controllers_share_learning_only_through_a_memory_they_are_given() -> None:
    assert await early_endings(*controller()) == [" So", "So,"]
    assert await early_endings(*controller()) == [" So", "So,"]  # nothing leaked from the first
    memory = WarmupMemory()
    assert await early_endings(*controller(memory)) == [" So", "So,"]
    assert await early_endings(*controller(memory)) == ["So,"]


MUTABLE_CALLS = {"dict", "list", "set", "defaultdict", "Counter", "deque", "OrderedDict"}


def _mutable(value: ast.expr | None) -> bool:
    if isinstance(value, ast.Dict | ast.List | ast.Set | ast.DictComp | ast.ListComp | ast.SetComp):
        return True
    return isinstance(value, ast.Call) and getattr(value.func, "id", None) in MUTABLE_CALLS


def test_no_module_level_mutable_state_in_the_core() -> None:
    found = []
    for path in sorted(Path(relaychat.core.__file__).parent.glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign | ast.AnnAssign) and _mutable(node.value):
                found.append(f"{path.name}:{node.lineno}")
            if isinstance(node, ast.Global):
                found.append(f"{path.name}:{node.lineno}")
    assert found == []
