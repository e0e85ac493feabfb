"""`relaychat bench --client-only`: what the client costs per token, against a load generator.

The servers are `fake_vllm.py` in a child process replaying real vLLM streams, so every CPU second of
this process is the client's own: SSE and JSON parsing, the relay's state machine, events, margins
and (with `traces=True`) the trace writer. At each concurrency K, K sessions run relays side by side;
the result is process CPU per received token (kept + discarded + cancelled early-start tokens),
tokens/s, and the event-loop lag: how late a 60 Hz heartbeat wakes up, which is how long a UI or any
other coroutine in the process could not run. Before each level the heartbeat runs alone for a second:
what an idle process with that clock costs (on a VM every wake-up from idle costs CPU) is reported as
the "idle loop" part of the per-token figure.
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import aclosing, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from relaychat.backends.base import Backend
from relaychat.backends.vllm import VLLMBackend
from relaychat.core.events import RelayEvent, Role, RunFailed, RunFinished, SegmentEnded
from relaychat.core.memory import WarmupMemory
from relaychat.core.profile import PairProfile
from relaychat.core.trace import recorded
from relaychat.relay import Relay, open_relay

HEARTBEAT_S = 1 / 60  # a 60 Hz frame clock: the TUI's budget, and cheap enough not to weigh on K = 1
IDLE_S = 1.0  # how long the heartbeat runs alone before each level, to measure what it costs by itself


@dataclass(frozen=True)
class ClientLevel:
    """One concurrency level's measurement."""

    concurrency: int
    runs: int
    failed: int
    tokens: int  # received from the servers: kept, discarded past cuts, cancelled early starts
    cpu_s: float
    wall_s: float
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    server_cpu_s: float | None  # the load generator's CPU over the same span
    first_error: str | None = None
    idle_cpu_per_s: float = 0.0  # CPU of the process with only the heartbeat running, per second

    @property
    def idle_us_per_token(self) -> float:
        """The part of `us_per_token` an idle process with the same 60 Hz heartbeat spends anyway."""
        return self.idle_cpu_per_s * self.wall_s / self.tokens * 1e6 if self.tokens else float("nan")

    @property
    def us_per_token(self) -> float:
        return self.cpu_s / self.tokens * 1e6 if self.tokens else float("nan")

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall_s if self.wall_s else float("nan")

    @property
    def core_share(self) -> float:
        """Share of one core the client used at this level's token rate."""
        return self.cpu_s / self.wall_s if self.wall_s else float("nan")

    def as_dict(self) -> dict[str, object]:
        derived = {
            "us_per_token": self.us_per_token,
            "idle_us_per_token": self.idle_us_per_token,
            "tokens_per_s": self.tokens_per_s,
        }
        return asdict(self) | derived | {"core_share": self.core_share}


class FakeServerError(RuntimeError):
    pass


@contextmanager
def fake_servers(
    rate: float | None = None, recording: Path | None = None
) -> Iterator[tuple[dict[str, str], int]]:
    """Start the load generator in a child process; yields ({role: url}, its pid)."""
    command = [sys.executable, "-m", "relaychat.bench.fake_vllm", "--serve", "large=0", "--serve", "small=0"]
    if rate:
        command += ["--rate", str(rate)]
    if recording is not None:
        command += ["--recording", str(recording)]
    # stderr goes to a file: a pipe nobody reads would block the server once its buffer filled.
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("ready "):
            process.wait(timeout=5)
            log.seek(0)
            raise FakeServerError(f"the load generator did not start: {line}{log.read()[-2000:]}".strip())
        urls = {}
        for item in line.split()[1:]:
            role, _, port = item.partition("=")
            urls[role] = f"http://127.0.0.1:{port}"
        yield urls, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of another process (Linux /proc); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _received(event: RelayEvent) -> int:
    if isinstance(event, SegmentEnded):
        return event.tokens + event.discarded_tokens
    if isinstance(event, RunFinished | RunFailed):
        return event.summary.early_wasted_tokens
    return 0


async def _heartbeat(lags: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        began = loop.time()
        await asyncio.sleep(HEARTBEAT_S)
        lags.append(loop.time() - began - HEARTBEAT_S)


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * q), len(ordered) - 1)] if ordered else float("nan")


async def run_level(
    relay: Relay,
    concurrency: int,
    runs: int,
    max_tokens: int | None,
    trace_dir: Path | None,
    server_pid: int | None = None,
    prompt: str = "What is the sum of the first 20 positive integers?",
) -> ClientLevel:
    """`runs` relay generations, `concurrency` at a time, measured as one block."""
    pending = list(range(runs))
    counts = {"tokens": 0, "failed": 0}
    errors: list[str] = []

    def count(event: RelayEvent) -> None:
        counts["tokens"] += _received(event)
        if isinstance(event, RunFailed):
            counts["failed"] += 1
            errors.append(f"{event.error.kind}: {event.error.message}")

    async def one(index: int) -> None:
        options = relay.options(mode="relay", max_tokens=max_tokens, seed=index)
        # A fresh warm-up memory per run: each run pays what a first question does.
        controller = relay.controller(options, memory=WarmupMemory())
        events = controller.run([{"role": "user", "content": prompt}])
        if trace_dir is not None:
            path = trace_dir / f"run-{concurrency}-{index}.jsonl"
            async with aclosing(recorded(events, path=path)) as stream:
                async for event, _ in stream:
                    count(event)
        else:
            async with aclosing(events) as stream:
                async for event in stream:
                    count(event)

    async def worker() -> None:
        while pending:
            await one(pending.pop())

    lags: list[float] = []
    ticker = asyncio.create_task(_heartbeat(lags))
    idle0 = time.process_time()
    await asyncio.sleep(IDLE_S)  # the heartbeat alone: on a VM each wake-up from idle costs CPU
    idle_cpu_per_s = (time.process_time() - idle0) / IDLE_S
    lags.clear()
    server0 = process_cpu_s(server_pid) if server_pid else None
    cpu0, t0 = time.process_time(), time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        ticker.cancel()
    server1 = process_cpu_s(server_pid) if server_pid else None
    return ClientLevel(
        concurrency=concurrency,
        runs=runs,
        failed=counts["failed"],
        tokens=counts["tokens"],
        cpu_s=cpu,
        wall_s=wall,
        lag_p50_ms=_quantile(lags, 0.5) * 1000,
        lag_p99_ms=_quantile(lags, 0.99) * 1000,
        lag_max_ms=max(lags, default=float("nan")) * 1000,
        server_cpu_s=None if server0 is None or server1 is None else server1 - server0,
        first_error=errors[0] if errors else None,
        idle_cpu_per_s=idle_cpu_per_s,
    )


async def client_only(
    profile: PairProfile,
    levels: Sequence[int],
    runs_per_session: int,
    max_tokens: int | None,
    traces: bool,
    rate: float | None = None,
    cprofile: Path | None = None,
) -> list[ClientLevel]:
    """Start the load generator, point `profile` at it, and measure every level in turn.

    `cprofile`: write a cProfile of the measured levels (not the warm-up) there (it slows them down)."""
    results = []
    with fake_servers(rate) as (urls, pid), tempfile.TemporaryDirectory(prefix="relaychat-bench-") as tmp:
        pointed = profile.with_urls(large=urls["large"], small=urls["small"])
        backends: dict[Role, Backend] = {
            "large": VLLMBackend(urls["large"], read_timeout=60),
            "small": VLLMBackend(urls["small"], read_timeout=60),
        }
        # The load generator has no measured costs: the relay's default feed cadence.
        async with open_relay(pointed, backends=backends, policy=None) as relay:
            await run_level(relay, 2, 2, max_tokens, None)  # warm-up: connections, names
            profiler = cProfile.Profile() if cprofile is not None else None
            if profiler is not None:
                profiler.enable()
            for level in levels:
                trace_dir = Path(tmp) if traces else None
                runs = max(level * runs_per_session, 8)
                results.append(await run_level(relay, level, runs, max_tokens, trace_dir, pid))
            if profiler is not None and cprofile is not None:
                profiler.disable()
                profiler.dump_stats(cprofile)
            # No feed outlives its run: the relay's warm-up cancels and awaits them when the run ends.
    return results
