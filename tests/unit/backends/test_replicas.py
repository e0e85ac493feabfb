"""Replica sets: one role on several servers, every request of a session on the same one."""

from __future__ import annotations

from relaychat.backends.base import Backend
from relaychat.backends.replicas import ReplicaBackend, pinned
from relaychat.backends.scripted import Reply, ScriptedBackend, words
from relaychat.backends.vllm import VLLMBackend
from relaychat.connect import make_backends
from relaychat.core.controller import RelayController, RelayOptions
from relaychat.core.events import RunFinished
from relaychat.core.profile import load_profile


def replicas(count: int, text: str = "Fine. So the sum is 4.") -> list[ScriptedBackend]:
    return [ScriptedBackend(f"http://r{i}", name="m", default=Reply(words(text))) for i in range(count)]


async def test_sessions_go_to_the_least_busy_replica_and_rotate_on_ties() -> None:
    pool = ReplicaBackend(replicas(3))
    assert isinstance(pool, Backend)
    async with pool.session() as a, pool.session() as b, pool.session() as c:
        assert len({a.url, b.url, c.url}) == 3
        assert pool.open_sessions == [1, 1, 1]
        async with pool.session() as d:
            assert d.url in {a.url, b.url, c.url} and sorted(pool.open_sessions) == [1, 1, 2]
    assert pool.open_sessions == [0, 0, 0]
    seen = set()
    for _ in range(3):
        async with pool.session() as e:
            seen.add(e.url)
    assert len(seen) == 3  # idle ties rotate rather than always hitting the first


async def test_a_key_always_maps_to_the_same_replica_and_adding_one_moves_few() -> None:
    four = ReplicaBackend(replicas(4))
    keys = [f"chat-{i}" for i in range(200)]
    first = {k: four.replicas[four.choose(k)].url for k in keys}
    assert first == {k: four.replicas[four.choose(k)].url for k in keys}
    assert len(set(first.values())) == 4
    five = ReplicaBackend(replicas(5))
    moved = sum(1 for k in keys if five.replicas[five.choose(k)].url != first[k])
    assert moved < len(keys) * 0.35  # about 1/5 move, never a reshuffle


async def test_every_segment_of_one_relay_run_uses_one_replica_per_role() -> None:
    large_pool = ReplicaBackend(replicas(2, "Let me add. So the"))
    small_pool = ReplicaBackend(replicas(2, " sum is 4. Next"))
    profile = load_profile("qwen3-1.7b-32b").model_copy(
        update={"max_tokens": 120, "answer_reserve": 30, "shared_tokenizer": False, "small_max_tokens": 20}
    )
    for _ in range(2):
        async with pinned({"large": large_pool, "small": small_pool}) as chosen:
            controller = RelayController(profile, chosen, RelayOptions(max_tokens=120))
            events = [e async for e in controller.run([{"role": "user", "content": "2+2?"}])]
            assert isinstance(events[-1], RunFinished) and events[-1].summary.switches >= 2
    for pool in (large_pool, small_pool):
        used = [len(r.requests) for r in pool.replicas]  # type: ignore[attr-defined]
        assert all(n > 1 for n in used)  # the two runs went to different replicas...
    for pool in (large_pool, small_pool):
        for replica in pool.replicas:
            prompts = [r.prompt for r in replica.requests]  # type: ignore[attr-defined]
            # ...and each replica saw one run: every prompt extends the first one it got.
            assert all(isinstance(p, str) and p.startswith(prompts[0]) for p in prompts)


def test_a_profile_role_with_several_urls_becomes_a_replica_set() -> None:
    profile = load_profile("cpu-demo")
    large = profile.large.model_copy(update={"urls": ["http://a:1", "http://b:2"]})
    small = profile.small.model_copy(update={"urls": ["http://c:3,http://d:4"]})
    backends = make_backends(profile.model_copy(update={"large": large, "small": small}))
    assert isinstance(backends["large"], ReplicaBackend) and isinstance(backends["small"], ReplicaBackend)
    assert [r.url for r in backends["small"].replicas] == ["http://c:3", "http://d:4"]
    assert isinstance(make_backends(load_profile("cpu-demo"))["large"], VLLMBackend)


async def test_without_sessions_a_generations_continuations_follow_its_first_prompt() -> None:
    import asyncio

    large_pool = ReplicaBackend(replicas(2, "Let me add. So the"))
    small_pool = ReplicaBackend(replicas(2, " sum is 4. Next"))
    profile = load_profile("qwen3-1.7b-32b").model_copy(
        update={"max_tokens": 120, "answer_reserve": 30, "shared_tokenizer": False, "small_max_tokens": 20}
    )
    for pool in (large_pool, small_pool):
        for replica in pool.replicas:
            replica.delay = 0.001  # type: ignore[attr-defined]  # let the two runs interleave

    async def one(question: str) -> None:
        controller = RelayController(
            profile, {"large": large_pool, "small": small_pool}, RelayOptions(max_tokens=120)
        )
        events = [e async for e in controller.run([{"role": "user", "content": question}])]
        assert isinstance(events[-1], RunFinished) and events[-1].summary.switches >= 2

    await asyncio.gather(one("What is 2+2?"), one("What is 3+3?"))
    for pool in (large_pool, small_pool):
        assert all(len(r.requests) > 1 for r in pool.replicas)  # type: ignore[attr-defined]  # both used
        for replica in pool.replicas:
            prompts = [r.prompt for r in replica.requests]  # type: ignore[attr-defined]
            assert all(isinstance(p, str) and p.startswith(prompts[0]) for p in prompts)  # one run each
    assert large_pool.open_sessions == [0, 0] and small_pool.open_sessions == [0, 0]


async def test_a_speculative_prompt_the_generation_did_not_take_keeps_its_affinity() -> None:
    pool = ReplicaBackend(replicas(2))
    first = pool._route("Q: 2+2? Now")
    assert pool._route("Q: 2+2? Now,") == first  # an early start betting on a comma
    async with pool.session(), pool.session():  # the other replica is no busier than this one
        pool.open_sessions[first] += 5
        assert pool._route("Q: 2+2? Now we add") == first  # the real continuation: still its replica
        pool.open_sessions[first] -= 5
