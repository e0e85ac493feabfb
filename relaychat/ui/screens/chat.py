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

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header

from relaychat.backends.base import Backend
from relaychat.core.events import RelayEvent, Role, RunFailed
from relaychat.core.profile import PairProfile
from relaychat.core.trace import TraceError, load_trace
from relaychat.inert import inert
from relaychat.redact import redact_url
from relaychat.ui.advice import failure_sentence, server_advice
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
from relaychat.ui.widgets.prompt import PromptArea
from relaychat.ui.widgets.speedup_panel import SpeedupPanel
from relaychat.ui.widgets.status_panel import ServerRow, StatusPanel
from relaychat.ui.widgets.transcript import Transcript

BackendFactory = Callable[[PairProfile], Mapping[Role, Backend]]
HEALTH_POLL_S = 10.0
WIDE_ENOUGH_FOR_PANELS = 100  # below this many columns the side panels start hidden (F7 shows them)


class ChatScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("f1", "app.help", "Keys"),
        Binding("f2", "cycle_mode", "Mode"),
        Binding("f3", "app.pick_profile", "Profile", show=False),
        Binding("f4", "app.edit_cues", "Cues", show=False),
        Binding("f5", "app.pick_replay", "Replay"),
        Binding("f6", "export", "Export", show=False),
        Binding("f7", "toggle_panels", "Panels"),
        Binding("f8", "app.set_budget", "Budget", show=False),
        Binding("f9", "copy_answer", "Copy answer", show=False),
        Binding("f10", "app.race", "Race", show=False),
        Binding("f11", "app.pick_target", "Target", show=False),
        Binding("f12", "app.examples", "Examples", show=False),
        Binding("ctrl+n", "new_conversation", "New chat"),
        Binding("ctrl+r", "restart_servers", "Restart servers", show=False),
        Binding("pageup", "scroll_transcript('page_up')", "Scroll up", show=False),
        Binding("pagedown", "scroll_transcript('page_down')", "Scroll down", show=False),
        Binding("plus,equals_sign", "replay_speed(1)", "Faster", show=False),
        Binding("minus", "replay_speed(-1)", "Slower", show=False),
    ]

    def __init__(self, settings: ChatSettings, backend_factory: BackendFactory, autostart: bool) -> None:
        super().__init__()
        self.settings = settings
        self.backend_factory = backend_factory
        self.autostart = autostart
        self.session = Session(warn=self._warn_not_saved)
        self.keeper = ServerKeeper(settings.profile, backend_factory(settings.profile), autostart)
        self._retired: list[ServerKeeper] = []
        self.healthy: dict[Role, bool] = {}
        self.feed: LiveFeed | None = None
        self.last_stats: LiveStats | None = None
        self.pacer: Pacer | None = None
        self._large_rate: float | None = None  # decode rate measured in an earlier run of this session
        self._starting = False
        self._no_server_shown = False  # the "does not answer" banner is up: cleared when health returns
        self.panels_shown: bool | None = None  # None: by terminal width; F7 decides from then on

    def _warn_not_saved(self, message: str) -> None:
        """Something stopped being saved (a full disk): say where the valid part is, once, and go on.
        Plain text: a path may hold `[` `]`."""
        self.notify(message, title="not saved", severity="warning", timeout=30, markup=False)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield Transcript(id="transcript")
                yield Banner(id="banner")
                yield PromptArea(id="prompt")
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
        self._apply_panels()
        self.prompt.focus()

    def on_resize(self, event: events.Resize) -> None:
        self._apply_panels()

    def on_screen_resume(self) -> None:
        """Back from a dialog: typing goes to the prompt again (two typed questions were lost before)."""
        if not self.prompt.disabled:
            self.prompt.focus()

    def on_key(self, event: events.Key) -> None:
        """A character typed while the transcript or a panel has focus goes to the prompt, not nowhere."""
        prompt, focused = self.prompt, self.focused
        if not event.is_printable or not event.character or focused is prompt or prompt.disabled:
            return
        bound = getattr(focused, "_merged_bindings", None)
        if bound is None or event.key not in bound.key_to_bindings:  # a panel's own keys (s, r) stay
            event.stop()
            prompt.focus()
            prompt.insert(event.character, prompt.cursor_location)

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
    def keepers(self) -> list[ServerKeeper]:
        return [self.keeper, *self._retired]

    def sort_cues(self) -> None:
        self.query_one(CueTable).action_next_sort()

    @property
    def prompt(self) -> PromptArea:
        return self.query_one("#prompt", PromptArea)

    # -- layout and keys --------------------------------------------------------------------------

    def _apply_panels(self) -> None:
        shown = self.panels_shown
        width = self.size.width
        if shown is None:
            shown = width >= WIDE_ENOUGH_FOR_PANELS or width == 0
        side = self.query_one("#side")
        side.display = shown
        side.set_class(0 < width < 120, "-narrow")

    def action_toggle_panels(self) -> None:
        self.panels_shown = not self.query_one("#side").display
        self._apply_panels()

    def action_scroll_transcript(self, where: str) -> None:
        transcript = self.transcript
        if where == "page_up":
            transcript.scroll_page_up()
        elif where == "page_down":
            transcript.scroll_page_down()
        elif where == "home":
            transcript.scroll_home()
        else:
            transcript.scroll_end()

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
    async def prepare_servers(self, restart: bool = False) -> None:
        """Check the servers; start the bundled CPU pair in a thread when allowed; else say so."""
        await self._poll_health()
        roles: list[Role] = ["large", "small"] if restart else self.settings.roles()
        down = [r for r in roles if not self.healthy.get(r)]
        if not down:
            if restart:
                self.banner.hide()
                self.notify("both servers answer: nothing to restart")
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
            if self.keeper.quitting:
                return  # the quit banner stays: this start-up gave up because the user quit
            self.banner.say(f"could not start the servers: {exc}. F5 replays a saved trace.", kind="error")
            await self._poll_health()
            return
        self._starting = False
        self.banner.hide()
        self._no_server_shown = False
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
            short = {"bfloat16": "bf16", "float32": "fp32"}.get(record.dtype, record.dtype)
            setup = f"weights {short}, KV block {record.block_size} · {record.why}"
            status.set_setup(role, setup, record.reason)
        self.keeper.feed_policy()  # read again: the servers may have been started or measured since
        if self.keeper.reap_dead() and not self.quitting:  # its engine must not hold GBs until quit
            self.notify("a server RelayChat started has stopped: Ctrl+R restarts it", severity="error")
        if self._no_server_shown and all(self.healthy.get(r) for r in self.settings.roles()):
            self._no_server_shown = False
            self.banner.hide()
            self.notify("the servers answer again")

    def _advice(self, down: list[Role]) -> str:
        profile = self.settings.profile
        urls: dict[Role, str] = {role: redact_url(profile.spec(role).url) for role in ("large", "small")}
        return server_advice(
            down, urls, can_restart=self.keeper.can_start, mode=self.settings.mode, profile=profile.name
        )

    @property
    def quitting(self) -> bool:
        return bool(getattr(self.app, "quitting", False))

    def _say_no_server(self, down: list[Role]) -> None:
        if self.quitting:  # the quit banner stays: servers going down is what quitting does
            return
        self.banner.say(self._advice(down), kind="warning")
        self._no_server_shown = True

    def action_restart_servers(self) -> None:
        """Start again the servers this app started that stopped answering (Ctrl+R, palette)."""
        if self._starting:
            self.notify("the servers are starting already", severity="warning")
            return
        if not self.keeper.can_start:
            self.notify(
                "RelayChat did not start these servers: restart them where they run", severity="warning"
            )
            return
        self.keeper.reap_dead()
        self.banner.say("restarting the servers that do not answer…", 0.0)
        self.prepare_servers(restart=True)

    # -- generations ------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.feed is not None

    @on(PromptArea.Submitted, "#prompt")
    async def submit(self, event: PromptArea.Submitted) -> None:
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
        event.prompt.clear()
        self.generate(question)

    def _open_feed(self, view: object, reference_rate: float | None, replay: bool = False) -> LiveFeed:
        stats = LiveStats(reference_large_tok_s=reference_rate)
        self.query_one(CueTable).reset()
        # A replay's rates are another day's: they must not overwrite what the live servers panel says.
        panels = [p for p in self.panels if not (replay and isinstance(p, StatusPanel))]
        self.feed = LiveFeed(view, panels, stats)  # type: ignore[arg-type]
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
            down = await self._down_now()
            sentence = failure_sentence(None, inert(str(exc)), down, self._advice(down))
            view.set_result(Content.assemble(("✗ ", "bold $error"), sentence))  # plain text, not markup
            self.session.end_turn(turn, "failed", str(exc))
            return
        await self._close_feed()
        last = turn.events[-1] if turn.events else None
        failed = isinstance(last, RunFailed)
        if isinstance(last, RunFailed):
            down = await self._down_now()
            view.explain_failure(
                failure_sentence(last.error, inert(last.error.message), down, self._advice(down))
            )
            if down:
                self._say_no_server(down)
        self.session.end_turn(turn, "failed" if failed else "done", last.error.message if failed else None)  # type: ignore[union-attr]

    async def _down_now(self) -> list[Role]:
        """Which servers of this mode stop answering right now (asked after a failure)."""
        await self._poll_health()
        return [r for r in self.settings.roles() if not self.healthy.get(r)]

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
            question or "(no question in the trace)", label=f"replay {path.name} · not in the context ·"
        )
        feed = self._open_feed(view, None, replay=True)
        self.pacer = Pacer(speed)
        prompt = self.prompt
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

    async def action_new_conversation(self) -> None:
        """Start a new conversation: what was said so far is no longer sent with the next question."""
        if self.busy:
            self.notify("a generation is running: Esc cancels it first", severity="warning")
            return
        self.session.new_conversation()
        await self.transcript.add_divider("new conversation: earlier turns are not sent as context")
        self.notify("new conversation")
        self.prompt.focus()

    def action_copy_answer(self) -> None:
        """Copy the last answer to the clipboard (the terminal must allow OSC 52)."""
        answer = next((t.answer for t in reversed(self.session.turns) if t.answer), None)
        if not answer:
            self.notify("no answer to copy yet", severity="warning")
            return
        self.app.copy_to_clipboard(answer)
        self.notify(f"copied the last answer ({len(answer)} characters)")

    def set_budget(self, max_tokens: int | None) -> None:
        self.settings.max_tokens = max_tokens
        self._describe()
        budget = "the profile's" if max_tokens is None else f"{max_tokens} tokens"
        self.notify(f"budget: {budget} (next generation)")

    def events_of_last_turn(self) -> list[RelayEvent]:
        return self.session.turns[-1].events if self.session.turns else []
