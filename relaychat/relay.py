"""One way to open a relay, for every front end (run, chat, eval, bench, calibrate).

`open_relay` turns a profile (and how to reach its servers) into a `Relay`: the two backends, owned
and closed once; the `WarmupMemory` that carries what the relay learns from one generation to the
next; and the feed policy measured for the servers at hand. Every `RelayOptions` a front end runs
with comes from `Relay.options`, which applies that policy, so `run`, `chat`, `eval` and `bench`
relay under the same settings and differ only in what they ask for (mode, budgets, seeds).

    async with open_relay(profile, connection) as relay:
        controller = relay.controller(relay.options(mode="relay", max_tokens=400))

This is composition (core + engine clients + serving records), like `connect.py`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from relaychat.backends.base import Backend
from relaychat.connect import Connection, make_backends
from relaychat.core.controller import RelayController
from relaychat.core.events import Role
from relaychat.core.feed_policy import FeedPolicy
from relaychat.core.memory import WarmupMemory
from relaychat.core.plan import RelayOptions
from relaychat.core.profile import PairProfile
from relaychat.serving.costs import ServerCosts
from relaychat.serving.records import SetupRecord, read_setup
from relaychat.serving.setup_plan import pair_feed_policy

PolicySource = Callable[[], FeedPolicy | None]


def tuned(options: RelayOptions, policy: FeedPolicy | None) -> RelayOptions:
    """`options` with the feed cadence and cap of `policy`; unchanged without one or without feeds."""
    if policy is None or not options.prefill_ahead:
        return options
    return dataclasses.replace(options, feed_every=policy.feed_every, max_feed_tokens=policy.max_feed_tokens)


def server_setups(backends: Mapping[Role, Backend]) -> dict[Role, SetupRecord]:
    """The recorded setups of the servers these backends talk to (servers RelayChat started here).

    Read by each backend's own URL: a backend that is no local server (a test double, a remote
    server) has no record, so no measured costs of another server are ever applied to it."""
    found: dict[Role, SetupRecord] = {}
    for role, backend in backends.items():
        record = read_setup(backend.url)
        if record is not None:
            found[role] = record
    return found


def measured_policy(
    backends: Mapping[Role, Backend], known: Mapping[Role, ServerCosts] | None = None
) -> FeedPolicy | None:
    """The feed policy from both servers' measured costs: `known` ones (measured in this process),
    else their records; None unless both are known (the relay then keeps its defaults)."""
    costs: dict[Role, ServerCosts] = dict(known or {})
    for role, setup in server_setups(backends).items():
        if role not in costs and setup.costs is not None:
            costs[role] = setup.costs
    large, small = costs.get("large"), costs.get("small")
    if large is None or small is None:
        return None
    return pair_feed_policy(large, small)


class Relay:
    """A profile's relay over its two backends: tuned options, controllers, one warm-up memory.

    Use it as `async with open_relay(...) as relay` (closed at the block's end), or keep it for a
    session and `await relay.aclose()` once (the chat app)."""

    def __init__(
        self,
        profile: PairProfile,
        backends: Mapping[Role, Backend],
        policy: FeedPolicy | PolicySource | None,
    ) -> None:
        self.profile = profile
        self.backends: dict[Role, Backend] = dict(backends)
        self.memory = WarmupMemory()  # what the relay learns of its models, for as long as it is open
        self._source: PolicySource | None = policy if callable(policy) else None
        self.policy: FeedPolicy | None = None if callable(policy) else policy
        self._closed = False
        self.refresh_policy()

    def refresh_policy(self) -> FeedPolicy | None:
        """Read the feed policy again (servers started since, or re-measured); the current one."""
        if self._source is not None:
            self.policy = self._source()
        return self.policy

    def options(self, base: RelayOptions | None = None, **changes: Any) -> RelayOptions:
        """`base` (default: all defaults) with `changes`, tuned to the servers' measured feed policy.

        The one place a front end's `RelayOptions` come from: front ends choose what the user asked
        for (mode, budgets, seed, cues...), the relay's tuning is the same for all of them."""
        options = dataclasses.replace(base or RelayOptions(), **changes)
        return tuned(options, self.policy)

    def controller(
        self,
        options: RelayOptions,
        *,
        profile: PairProfile | None = None,
        backends: Mapping[Role, Backend] | None = None,
        memory: WarmupMemory | None = None,
    ) -> RelayController:
        """A controller for one or more generations; `backends` narrows them (a pinned replica)."""
        return RelayController(
            profile or self.profile,
            backends if backends is not None else self.backends,
            options,
            memory if memory is not None else self.memory,
        )

    async def aclose(self) -> None:
        """Close the backends (once: later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        for backend in self.backends.values():
            await backend.aclose()

    async def __aenter__(self) -> Relay:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def open_relay(
    profile: PairProfile,
    connection: Connection | None = None,
    *,
    backends: Mapping[Role, Backend] | None = None,
    costs: Mapping[Role, ServerCosts] | None = None,
    policy: FeedPolicy | PolicySource | str | None = "measured",
) -> Relay:
    """The relay every front end runs: `async with open_relay(profile, connection) as relay`.

    `backends`: already made ones (a test double, a load generator's); default, the profile's servers
    (replica-aware, `connect.make_backends`). The relay owns them either way and closes them.
    `costs`: servers' costs measured in this process (servers just started, bench's probes); the
    others' come from their records.
    `policy`: default "measured", the policy of both servers' measured costs, read now and again on
    `refresh_policy`; or a `FeedPolicy` decided elsewhere; None for the relay's defaults."""
    made = dict(backends) if backends is not None else make_backends(profile, connection)
    chosen: FeedPolicy | PolicySource | None
    if policy == "measured":
        chosen = lambda: measured_policy(made, costs)  # noqa: E731 (read again by refresh_policy)
    elif isinstance(policy, str):
        raise ValueError(f"unknown policy source {policy!r}")
    else:
        chosen = policy
    return Relay(profile, made, chosen)
