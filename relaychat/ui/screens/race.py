"""The race view: the same question, relay and large alone, side by side, to the finish line.

Each pane is coloured as the transcript is (each model's colour), shows its clock and tokens, and a
finish line with its time once it is done. Pacing is the runs' own (as measured), or both re-timed
at a target's projected pace (then every label says "projected"). A 25 Hz timer moves one virtual
clock; a pane renders only the tail of its text, so frames cost the same at any length.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Static

from relaychat.ui.race import Lane, Race

FRAME_S = 1 / 25
STYLES = {"large": "$relay-large", "small": "$relay-small", "marker": "$relay-muted"}


class LanePane(Vertical):
    def __init__(self, lane: Lane, pace: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.lane = lane
        self.pace = pace

    def compose(self) -> ComposeResult:
        yield Static(classes="race-clock")
        yield Static(classes="race-text")
        yield Static(classes="race-finish")

    def on_mount(self) -> None:
        self.border_title = self.lane.label

    def draw(self, now: float) -> None:
        lane = self.lane
        shown = lane.finished_at if lane.finished_at is not None else now
        clock = f"{shown:6.2f} s"
        projected = " projected" if self.pace.startswith("projected") else ""
        self.query_one(".race-clock", Static).update(
            Content.assemble(
                (clock, "bold"),
                (f"{projected} · {lane.tokens} tokens", "$relay-muted"),
            )
        )
        text = self.query_one(".race-text", Static)
        runs = lane.tail_rows(text.size.width or 60, text.size.height or 20)
        text.update(Content.assemble(*((piece, STYLES.get(writer, "")) for piece, writer in runs)))
        finish = self.query_one(".race-finish", Static)
        if lane.finished_at is None:
            finish.update(Content.styled("┄" * max((finish.size.width or 40) - 2, 4), "$relay-muted"))
        else:
            mark = "failed" if lane.failed else "FINISH"
            finish.update(
                Content.styled(f"━━ {mark} {lane.finished_at:.2f} s{projected} ━━", "bold $success")
            )


class RaceScreen(Screen[None]):
    """Two lanes on one clock. Esc closes; space pauses; r restarts; +/- change the speed."""

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Close"),
        Binding("space", "pause", "Pause"),
        Binding("r", "restart", "Restart"),
        Binding("plus,equals_sign", "speed(2)", "Faster"),
        Binding("minus", "speed(0.5)", "Slower"),
    ]
    DEFAULT_CSS = """
    RaceScreen { layout: vertical; }
    RaceScreen #race-title { height: auto; padding: 0 1; }
    RaceScreen #lanes { height: 1fr; }
    RaceScreen LanePane {
        width: 1fr; border: round $panel-lighten-2; border-title-style: bold; padding: 0 1;
    }
    RaceScreen #lane-relay { border-title-color: $relay-small; }
    RaceScreen #lane-alone { border-title-color: $relay-large; }
    RaceScreen .race-clock { height: 1; }
    RaceScreen .race-text { height: 1fr; overflow: hidden; }
    RaceScreen .race-finish { height: 1; }
    """

    def __init__(self, race: Race, tick: bool = True) -> None:
        super().__init__()
        self.race = race
        self._tick = tick  # tests drive the clock themselves
        self.frames = 0

    def compose(self) -> ComposeResult:
        yield Static(id="race-title")
        with Horizontal(id="lanes"):
            yield LanePane(self.race.relay, self.race.pace, id="lane-relay")
            yield LanePane(self.race.alone, self.race.pace, id="lane-alone")
        yield Footer()

    def on_mount(self) -> None:
        if self._tick:
            self.set_interval(FRAME_S, self.frame)
        self.draw()

    def frame(self) -> None:
        self.race.tick(FRAME_S)
        self.draw()

    def draw(self) -> None:
        race = self.race
        question = race.relay.question.replace("\n", " ")
        verdict = race.verdict()
        state = "paused" if race.paused else f"{race.speed:g}×"
        self.query_one("#race-title", Static).update(
            Content.assemble(
                ("race ", "bold"),
                (f"· {race.pace} · {state} · ", "$relay-muted"),
                question[:200],
                *((("\n", ""), (verdict, "bold $accent")) if verdict else ()),
            )
        )
        for pane in self.query(LanePane):
            pane.draw(race.now)
        self.frames += 1

    def action_pause(self) -> None:
        self.race.paused = not self.race.paused
        self.draw()

    def action_restart(self) -> None:
        self.race.restart()
        self.draw()

    def action_speed(self, factor: float) -> None:
        self.race.speed = min(max(self.race.speed * factor, 0.125), 64.0)
        self.draw()
