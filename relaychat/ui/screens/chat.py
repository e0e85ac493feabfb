"""The main screen: transcript and prompt on the left, live panels on the right, and the actions.

Generations and replays run in one exclusive async worker; their events go through a `LiveFeed`
that a 25 Hz timer flushes into the widgets, so the event loop is never blocked by a fast stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from contextlib import aclosing
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Input

from relaychat.backends.base import Backend
from relaychat.core.events import RelayEvent, Role, RunFailed
from relaychat.core.profile import PairProfile
from relaychat.core.trace import TraceError, load_trace
from relaychat.inert import inert
from relaychat.redact import redact_url
from relaychat.ui.chat_settings import ChatSettings
from relaychat.ui.feed import FLUSH_INTERVAL_S, MAX_BATCH, LiveFeed
from relaychat.ui.gc_pacing import collections_paused
from relaychat.ui.live_stats import LiveStats
from relaychat.ui.pacing import Pacer
from relaychat.ui.servers import ServerKeeper
from relaychat.ui.session import Session
from relaychat.ui.stall import stall_notice
from relaychat.ui.widgets.banner import Banner
from relaychat.ui.widgets.cue_table import CueTable
from relaychat.ui.widgets.margin_panel import MarginPanel
from relaychat.ui.widgets.speedup_panel import SpeedupPanel
from relaychat.ui.widgets.status_panel import ServerRow, StatusPanel
from relaychat.ui.widgets.transcript import Transcript

BackendFactory = Callable[[PairProfile], Mapping[Role, Backend]]
HEALTH_POLL_S = 10.0


class ChatScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("f1", "app.help", "Keys"),
        Binding("f2", "cycle_mode", "Mode"),
        Binding("f3", "app.pick_profile", "Profile"),
        Binding("f4", "app.edit_cues", "Cues"),
        Binding("f5", "app.pick_replay", "Replay"),
        Binding("f6", "export", "Export"),
        Binding("f7", "app.pick_target", "Target", show=False),
        Binding("f8", "app.race", "Race", show=False),
        Binding("f9", "app.examples", "Examples", show=False),
        Binding("plus,equals_sign", "replay_speed(1)", "Faster", show=False),
        Binding("minus", "replay_speed(-1)", "Slower", show=False),
    ]

    def __init__(self, settings: ChatSettings, backend_factory: BackendFactory, autostart: bool) -> None:
        super().__init__()
        self.settings = settings
        self.backend_factory = backend_factory
        self.autostart = autostart
        self.session = Session()
        self.keeper = ServerKeeper(settings.profile, backend_factory(settings.profile), autostart)
        self._retired: list[ServerKeeper] = []
        self.healthy: dict[Role, bool] = {}
        self.feed: LiveFeed | None = None
        self.last_stats: LiveStats | None = None
        self.pacer: Pacer | None = None
        self._large_rate: float | None = None  # decode rate measured in an earlier run of this session
        self._starting = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield Transcript(id="transcript")
                yield Banner(id="banner")
                yield Input(placeholder="Ask something… (Enter sends, Esc cancels)", id="prompt")
            with Vertical(id="side"):
                yield MarginPanel(id="margin", classes="panel")
                yield SpeedupPanel(id="speedup", classes="panel")
                yield CueTable(id="cues", classes="panel")
                yield StatusPanel(id="status", classes="panel")
        yield Footer()

    def on_mount(self) -> None:
        self._describe()
        self._show_servers()
        self.set_interval(FLUSH_INTERVAL_S, self._flush)
        self.set_interval(HEALTH_POLL_S, self._poll_health)
        self.set_interval(1.0, self._show_stall)
        self.prepare_servers()
        self.query_one("#prompt", Input).focus()

    async def on_unmount(self) -> None:
        for keeper in [self.keeper, *self._retired]:
            await keeper.aclose()
            keeper.stop()

    # -- widgets ----------------------------------------------------------------------------------

    @property
    def transcript(self) -> Transcript:
        return self.query_one(Transcript)

    @property
    def banner(self) -> Banner:
        return self.query_one(Banner)

    @property
    def panels(self) -> list[MarginPanel | SpeedupPanel | CueTable | StatusPanel]:
        return [
            self.query_one(MarginPanel),
            self.query_one(SpeedupPanel),
            self.query_one(CueTable),
            self.query_one(StatusPanel),
        ]

    def _describe(self) -> None:
        self.sub_title = self.settings.describe()

    def _show_servers(self) -> None:
        profile = self.settings.profile
        self.query_one(StatusPanel).set_servers(
            {
                role: ServerRow(profile.spec(role).display_name or role, redact_url(profile.spec(role).url))
                for role in ("large", "small")
            }
        )

    async def _flush(self) -> None:
        if self.feed is not None:
            await self.feed.flush()

    def _show_stall(self) -> None:
        """While a live stream is silent, the banner counts the seconds since its last token."""
        feed = self.feed
        notice = (
            stall_notice(time.monotonic() - feed.last_event_at) if feed is not None and feed.live else None
        )
        if notice is not None:
            self.banner.say(notice, kind="warning")
            self._stalled = True
        elif getattr(self, "_stalled", False):
            self.banner.hide()
            self._stalled = False

    # -- servers ----------------------------------------------------------------------------------

    @work(group="servers", exclusive=True)
    async def prepare_servers(self) -> None:
        """Check the servers; start the bundled CPU pair in a thread when allowed; else say so."""
        await self._poll_health()
        down = [r for r in self.settings.roles() if not self.healthy.get(r)]
        if not down:
            return
        if not self.keeper.can_start:
            self._say_no_server(down)
            return
        self._starting = True
        status = self.query_one(StatusPanel)
        for role in down:
            status.set_health(role, "starting")

        def progress(message: str, fraction: float | None) -> None:
            self.app.call_from_thread(self.banner.say, message, fraction or 0.0)

        def log(message: str) -> None:
            self.app.call_from_thread(self.banner.say, message, None)

        self.banner.say("starting the CPU demo servers…", 0.0)
        try:
            await asyncio.to_thread(self.keeper.start_blocking, progress, log)
        except Exception as exc:
            self._starting = False
            self.banner.say(f"could not start the servers: {exc}. F5 replays a saved trace.", kind="error")
            await self._poll_health()
            return
        self._starting = False
        self.banner.hide()
        await self._poll_health()
        self.notify("servers ready")

    async def _poll_health(self) -> None:
        if self._starting:
            return
        self.healthy = await self.keeper.health()
        names = await self.keeper.model_names() if any(self.healthy.values()) else {}
        status = self.query_one(StatusPanel)
        for role, up in self.healthy.items():
            status.set_health(role, "up" if up else "down", names.get(role) if up else None)
        for role, record in self.keeper.setups().items():
            status.set_setup(role, f"{record.summary()} · {record.why}", record.reason)
        self.keeper.feed_policy()  # read again: the servers may have been started or measured since

    def _say_no_server(self, down: list[Role]) -> None:
        where = ", ".join(f"{role} at {redact_url(self.settings.profile.spec(role).url)}" for role in down)
        hint = (
            f"start them with `relaychat serve --profile {self.settings.profile.name}`"
            if self.keeper.can_start or self.settings.profile.large.bundled
            else "start them, or point --large-url/--small-url at running servers"
        )
        self.banner.say(
            f"No server answers ({where}): {hint}. Press F5 to replay a saved or the bundled demo trace.",
            kind="warning",
        )

    # -- generations ------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.feed is not None

    @on(Input.Submitted, "#prompt")
    async def submit(self, event: Input.Submitted) -> None:
        question = event.value.strip()
        if not question:
            return
        if self.busy:
            self.notify("still generating: Esc cancels it", severity="warning")
            return
        down = [r for r in self.settings.roles() if not self.healthy.get(r)]
        if down:
            await self._poll_health()
            down = [r for r in self.settings.roles() if not self.healthy.get(r)]
        if down:
            if self._starting:
                self.notify("the servers are still starting", severity="warning")
            else:
                self._say_no_server(down)
            return
        event.input.clear()
        self.generate(question)

    def _open_feed(self, view: object, reference_rate: float | None) -> LiveFeed:
        stats = LiveStats(reference_large_tok_s=reference_rate)
        self.query_one(CueTable).reset()
        self.feed = LiveFeed(view, self.panels, stats)  # type: ignore[arg-type]
        return self.feed

    async def _close_feed(self) -> None:
        feed, self.feed = self.feed, None
        if feed is not None:
            while feed.backlog:
                await feed.flush()
            await feed.flush(final=True)
            feed.gc.stop()
            self.last_stats = feed.stats
            rate = feed.stats.decode_tok_s("large")
            if rate:
                self._large_rate = rate

    @work(group="generation", exclusive=True)
    async def generate(self, question: str) -> None:
        conversation = self.session.conversation(question)
        turn = self.session.start_turn(question)
        view = await self.transcript.add_turn(question)
        feed = self._open_feed(view, self._large_rate)
        feed.live = True
        try:
            relay = self.keeper.relay
            controller = relay.controller(relay.options(self.settings.options()))
            async with aclosing(self.session.record(turn, controller.run(conversation))) as events:
                async for event in events:
                    feed.push(event)
        except asyncio.CancelledError:
            await self._close_feed()
            await view.mark_cancelled()
            self.session.end_turn(turn, "cancelled")
            raise
        except Exception as exc:
            await self._close_feed()
            view.set_result(Content(inert(f"could not run: {exc}")))  # plain text, not markup
            self.session.end_turn(turn, "failed", str(exc))
            return
        await self._close_feed()
        last = turn.events[-1] if turn.events else None
        failed = isinstance(last, RunFailed)
        self.session.end_turn(turn, "failed" if failed else "done", last.error.message if failed else None)  # type: ignore[union-attr]

    @work(group="generation", exclusive=True)
    async def replay(self, path: Path, speed: float) -> None:
        try:
            with collections_paused():  # a long trace takes a while to parse
                events = await asyncio.to_thread(load_trace, path)
        except TraceError as exc:
            self.notify(str(exc), severity="error")
            return
        question = next(
            (e.messages[-1]["content"] for e in events if e.type == "run_started" and e.messages), ""
        )
        turn = self.session.start_turn(question or path.name, source="replay", trace=path)
        view = await self.transcript.add_turn(
            question or "(no question in the trace)", label=f"replay {path.name} ·"
        )
        feed = self._open_feed(view, None)
        self.pacer = Pacer(speed)
        prompt = self.query_one("#prompt", Input)
        prompt.disabled = True
        self._say_replay()
        try:
            async for event in self.pacer.play(events):
                feed.push(event)
                turn.events.append(event)
                while feed.backlog > MAX_BATCH:  # faster than the screen can draw: let it catch up
                    await asyncio.sleep(FLUSH_INTERVAL_S / 2)
        except asyncio.CancelledError:
            await self._close_feed()
            await view.mark_cancelled()
            self.session.end_turn(turn, "cancelled")
            raise
        finally:
            self.pacer = None
            prompt.disabled = False
            prompt.focus()
            self.banner.hide()
        await self._close_feed()
        self.session.end_turn(turn, "failed" if isinstance(turn.events[-1], RunFailed) else "done")

    def _say_replay(self) -> None:
        if self.pacer is not None:
            speed = "max" if self.pacer.speed == float("inf") else f"{self.pacer.speed:g}×"
            self.banner.say(f"replaying at {speed} · +/- change speed · Esc stops")

    def action_replay_speed(self, direction: int) -> None:
        if self.pacer is not None:
            self.pacer.faster() if direction > 0 else self.pacer.slower()
            self._say_replay()

    def action_cancel(self) -> None:
        workers = [w for w in self.workers if w.node is self and w.group == "generation" and w.is_running]
        for worker in workers:
            worker.cancel()
        if workers:
            self.notify("cancelled")

    # -- settings ---------------------------------------------------------------------------------

    def action_cycle_mode(self) -> None:
        self.set_mode(self.settings.cycle_mode())

    def set_mode(self, mode: str) -> None:
        self.settings.mode = mode  # type: ignore[assignment]
        self._describe()
        self.notify(f"mode: {mode} (next generation)")
        self.prepare_servers()

    def set_profile(self, profile: PairProfile) -> None:
        self._retired.append(self.keeper)
        self.settings.set_profile(profile)
        self.keeper = ServerKeeper(profile, self.backend_factory(profile), self.autostart)
        self._describe()
        self._show_servers()
        self.banner.hide()
        self.prepare_servers()

    def set_cues(self, cues: list[str], disabled: set[str], source: str) -> None:
        self.settings.cues, self.settings.disabled, self.settings.cue_source = cues, disabled, source
        self._describe()

    def action_export(self) -> None:
        self.app.export_transcript()  # type: ignore[attr-defined]

    def events_of_last_turn(self) -> list[RelayEvent]:
        return self.session.turns[-1].events if self.session.turns else []
