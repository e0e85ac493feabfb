"""The chat app as people use it (issue 24): pasted questions, keys, small terminals, failures, endings."""

from __future__ import annotations

import math

from textual import events
from textual.widgets import Static

from relaychat.backends.errors import ProtocolError
from relaychat.backends.scripted import Reply, ScriptedBackend, words
from relaychat.core.events import RunFinished, RunStarted, RunSummary
from relaychat.ui.end_note import end_note
from relaychat.ui.export import export_html, turn_record
from relaychat.ui.screens.budget import BudgetScreen
from relaychat.ui.screens.help import HelpScreen
from relaychat.ui.screens.replay import bundled_trace
from relaychat.ui.widgets.cue_table import CueTable
from relaychat.ui.widgets.prompt import PromptArea
from relaychat.ui.widgets.speedup_panel import SpeedupPanel
from relaychat.ui.widgets.turn_view import TurnView
from tests.ui.conftest import SIZE, Scripted, ask, make_app, wait_turn_done

QUESTION = "A train leaves at 9:00.\nIt travels 60 km in 1.5 hours.\n\nWhat is its average speed?"


def result_text(view: TurnView) -> str:
    return str(view.query_one("#result", Static).content)


# -- 1. multi-line prompt ------------------------------------------------------------------------


async def test_a_pasted_question_keeps_every_line_and_is_shown_whole(scripted: Scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        prompt = app.query_one("#prompt", PromptArea)
        app.post_message(events.Paste(QUESTION))  # as the terminal sends it (bracketed paste)
        await pilot.pause()
        assert prompt.text == QUESTION  # nothing sent yet: a paste's line breaks do not send
        assert app.chat.session.turns == []
        await pilot.press("enter")
        await wait_turn_done(pilot, app)
        assert app.chat.session.turns[-1].question == QUESTION
        shown = str(app.chat.transcript.turns[-1].query_one(".question", Static).content)
        assert all(line in shown for line in QUESTION.splitlines())
        assert prompt.text == ""


async def test_ctrl_j_adds_a_line_and_enter_sends(scripted: Scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", "ctrl+j", "b")
        assert app.query_one("#prompt", PromptArea).text == "a\nb"
        assert app.chat.session.turns == []
        await pilot.press("enter")
        await wait_turn_done(pilot, app)
        assert app.chat.session.turns[-1].question == "a\nb"


async def test_typing_plus_and_minus_in_the_prompt_keeps_them(scripted: Scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "space", "plus", "space", "3", "space", "minus", "space", "1")
        assert app.query_one("#prompt", PromptArea).text == "2 + 3 - 1"


# -- 3. a server that dies -----------------------------------------------------------------------


class Dying(Scripted):
    """The large server breaks its stream mid-answer and then stops answering health checks."""

    def __call__(self, profile):  # type: ignore[no-untyped-def]
        made = super().__call__(profile)
        large = made["large"]
        large.replies.clear()
        error = ProtocolError("<TransferEncodingError: 400, message='Not enough data for satisfy transfer'>")
        large.add(Reply(words("Let me think about this one"), margin=0.8, fail_after=3, error=error))
        return made


async def test_a_dead_server_gives_a_sentence_to_act_on_and_the_bar_clears_when_it_is_back() -> None:
    factory = Dying()
    app = make_app(factory)
    async with app.run_test(size=SIZE) as pilot:
        large = factory.made["large"]
        alive = {"up": True}

        async def health() -> bool:
            return alive["up"]

        large.health = health  # type: ignore[method-assign]
        await pilot.pause()
        alive["up"] = False
        await ask(pilot, "What is 2 + 3?")
        await wait_turn_done(pilot, app)
        view = app.chat.transcript.turns[-1]
        text = result_text(view)
        assert "TransferEncodingError" not in text
        assert "large server" in text and "does not answer" in text
        assert "small-only mode" in text  # the pair's other half still works
        assert "relaychat serve" in text  # this app did not start them (scripted): where to restart
        banner = app.chat.banner
        assert banner.display and "small-only mode" in banner.text
        alive["up"] = True
        await app.chat._poll_health()
        await pilot.pause()
        assert not banner.display  # health is back: the bar goes


async def test_restart_is_a_key_and_a_command(scripted: Scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+r")
        await pilot.pause()
        # The scripted servers were not started by the app: it says so instead of starting anything.
        assert any("did not start these servers" in str(n.message) for n in app._notifications)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Restart servers" in titles and "New conversation" in titles and "Copy answer" in titles


# -- 4. small terminals --------------------------------------------------------------------------


async def test_at_80_columns_the_panels_start_hidden_and_f7_toggles_them(scripted: Scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=(80, 24)) as pilot:
        side = app.chat.query_one("#side")
        await pilot.pause()
        assert not side.display
        assert app.chat.transcript.size.width >= 70
        await pilot.press("f7")
        await pilot.pause()
        assert side.display
        await pilot.press("f7")
        await pilot.pause()
        assert not side.display
    app = make_app(scripted)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.chat.query_one("#side").display
        assert app.chat.transcript.size.width >= 55


# -- 5. keyboard only ----------------------------------------------------------------------------


async def test_page_keys_scroll_the_transcript_from_the_prompt(scripted: Scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=(100, 30)) as pilot:
        app.chat.replay(bundled_trace(), math.inf)
        await wait_turn_done(pilot, app)
        app.chat.replay(bundled_trace(), math.inf)
        await wait_turn_done(pilot, app, turns=2)
        transcript = app.chat.transcript
        prompt = app.query_one("#prompt", PromptArea)
        assert app.focused is prompt
        await pilot.pause(0.3)
        bottom = transcript.scroll_y
        assert bottom > 0
        await pilot.press("pageup")
        await pilot.pause(0.3)
        assert transcript.scroll_y < bottom
        await pilot.press("ctrl+home")
        await pilot.pause(0.3)
        assert transcript.scroll_y == 0
        await pilot.press("end")  # the prompt is empty: End goes to the bottom
        await pilot.pause(0.3)
        assert transcript.scroll_y == transcript.max_scroll_y
        await pilot.press("home")
        await pilot.pause(0.3)
        assert transcript.scroll_y == 0
        assert app.focused is prompt


async def test_keys_typed_on_the_transcript_go_to_the_prompt_and_focus_returns_after_dialogs(
    scripted: Scripted,
) -> None:
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        prompt = app.query_one("#prompt", PromptArea)
        assert app.chat.transcript.styles.border_left[0] == "blank"
        await pilot.press("shift+tab")  # the transcript is one Shift+Tab away, and shows it has focus
        await pilot.pause()
        assert app.focused is app.chat.transcript
        assert app.chat.transcript.styles.border_left[0] == "thick"
        await pilot.press("h", "i")
        assert prompt.text == "hi" and app.focused is prompt
        for key in ("f1", "f3", "f4", "f5", "f8"):
            app.chat.transcript.focus()
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is not app.chat
            await pilot.press("escape")
            await pilot.pause()
            assert app.focused is prompt, key


async def test_help_scrolls_from_the_keyboard_and_shows_its_own_footer(scripted: Scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        scroll = app.screen.query_one("#help-scroll")
        assert scroll.scroll_y == 0
        await pilot.press("pagedown")
        await pilot.pause(0.3)
        assert scroll.scroll_y > 0
        footer_keys = {b.key for _, b, _, _ in app.screen.active_bindings.values() if b.show}
        assert "f2" not in footer_keys  # the main screen's keys are not offered in a dialog


async def test_cue_table_sorts_from_the_keyboard(scripted: Scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, "What is 2 + 3?")
        await wait_turn_done(pilot, app)
        table = app.chat.query_one(CueTable)
        table.focus()
        await pilot.pause()
        await pilot.press("s")
        assert table.sort_column == "tokens"
        await pilot.press("r")
        assert table.sort_reverse is False
        assert "sorted by →small ↑" in str(table.border_subtitle)


# -- 6. budget and context endings ---------------------------------------------------------------


def test_the_end_note_says_budget_or_context() -> None:
    assert end_note(RunSummary(mode="relay", profile="p", finish_reason="eos")) is None
    assert "stopped at the budget" in str(
        end_note(RunSummary(mode="relay", profile="p", finish_reason="length"))
    )
    budget_cut = RunSummary(mode="relay", profile="p", finish_reason="eos", reasoning_ended_by="budget")
    assert "reasoning stopped at the budget" in str(end_note(budget_cut, 400))
    context = RunSummary.model_construct(mode="relay", profile="p", finish_reason="context_limit")
    assert "context window" in str(end_note(context))


async def test_a_cut_answer_says_stopped_at_the_budget_and_the_budget_is_set_in_the_app() -> None:
    long = " ".join(["step"] * 60)

    class Long(Scripted):
        def __call__(self, profile):  # type: ignore[no-untyped-def]
            large = ScriptedBackend("http://127.0.0.1:1/large", name="big-model")
            small = ScriptedBackend("http://127.0.0.1:1/small", name="tiny-model")
            large.default = Reply(words(long), margin=0.9)
            small.default = Reply(words(long), margin=0.9)
            self.made = {"large": large, "small": small}
            return self.made

    app = make_app(Long())
    async with app.run_test(size=SIZE) as pilot:
        app.chat.set_mode("large")
        await pilot.press("f8")
        await pilot.pause()
        assert isinstance(app.screen, BudgetScreen)
        await pilot.press("4", "0", "enter")
        await pilot.pause()
        assert app.chat.settings.max_tokens == 40
        await ask(pilot, "Count.")
        await wait_turn_done(pilot, app)
        turn = app.chat.session.turns[-1]
        started = next(e for e in turn.events if isinstance(e, RunStarted))
        assert started.max_tokens == 40
        assert isinstance(turn.events[-1], RunFinished)
        text = result_text(app.chat.transcript.turns[-1])
        assert "stopped at the budget" in text and "✓" not in text


# -- 7. export says where -------------------------------------------------------------------------


async def test_export_says_the_folder_above_the_prompt(scripted: Scripted, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("relaychat.ui.app.data_dir", lambda: tmp_path)
    app = make_app(scripted)
    async with app.run_test(size=(80, 24)) as pilot:
        await ask(pilot, "What is 2 + 3?")
        await wait_turn_done(pilot, app)
        await pilot.press("f6")
        await pilot.pause()
        banner = app.chat.banner
        assert banner.display and str(tmp_path / "exports") in banner.text.replace("\n", "")
        assert app.last_export is not None and app.last_export[0].name in banner.text


# -- 8. new conversation, replays marked ---------------------------------------------------------


async def test_new_conversation_drops_the_context_and_replays_are_marked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    factory = Scripted(runs=2)
    app = make_app(factory)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, "What is 2 + 3?")
        await wait_turn_done(pilot, app)
        app.chat.replay(bundled_trace(), math.inf)
        await wait_turn_done(pilot, app, turns=2)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.chat.session.conversation("next") == [{"role": "user", "content": "next"}]
        assert any("new conversation" in str(s.content) for s in app.chat.transcript.query(".divider"))
        replay_view = app.chat.transcript.turns[1]
        assert "not in the context" in str(replay_view.query_one(".question", Static).content)
        records = [turn_record(t) for t in app.chat.session.turns]
        assert [r["source"] for r in records] == ["live", "replay"]
        page = export_html(app.chat.session.turns, tmp_path / "t.html", {}).read_text(encoding="utf-8")
        assert "replay of demo-trace.jsonl, not part of the conversation" in page


# -- 10. readable panels -------------------------------------------------------------------------


async def test_speedup_panel_says_estimate_and_nothing_in_single_model_mode(scripted: Scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, "What is 2 + 3?")
        await wait_turn_done(pilot, app)
        panel = app.chat.query_one(SpeedupPanel)
        assert "estimate" in str(panel.border_subtitle) and "measured" not in str(panel.border_title)
        assert "1 ÷ large share" in str(panel.content)


async def test_copy_answer_puts_the_answer_on_the_clipboard(scripted: Scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, "What is 2 + 3?")
        await wait_turn_done(pilot, app)
        await pilot.press("f9")
        await pilot.pause()
        assert app.clipboard == app.chat.session.turns[-1].answer


async def test_large_only_mode_shows_no_speedup_number() -> None:
    class LargeOnly(Scripted):
        def __call__(self, profile):  # type: ignore[no-untyped-def]
            made = super().__call__(profile)
            made["large"].replies.clear()
            made["large"].add(
                Reply(words("Two and three make five.\n</think>\nThe answer is 5."), margin=0.9)
            )
            return made

    app = make_app(LargeOnly())
    async with app.run_test(size=SIZE) as pilot:
        app.chat.set_mode("large")
        await ask(pilot, "What is 2 + 3?")
        await wait_turn_done(pilot, app)
        text = str(app.chat.query_one(SpeedupPanel).content)
        assert "large-only mode" in text and "×" not in text


def test_the_replay_picker_names_a_trace_by_its_question_mode_length_and_date() -> None:
    from relaychat.ui.trace_label import trace_label

    label = trace_label(bundled_trace())
    assert "A train travels 60 km" in label and "· relay ·" in label and "158 tokens" in label
    assert label.count("·") == 3  # question · mode · length · date


async def test_panel_borders_stay_visible_on_a_256_colour_terminal(scripted: Scripted) -> None:
    """Each theme's panel border must not round to the background's palette entry (it did on light)."""
    from rich.color import Color as RichColor
    from rich.color import ColorSystem
    from textual.color import Color

    from relaychat.ui.themes import load_themes

    def palette(colour: Color) -> int | None:
        return RichColor.from_rgb(*colour.rgb).downgrade(ColorSystem.EIGHT_BIT).number

    for theme in load_themes():
        app = make_app(scripted, theme=theme.name)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            panel = app.chat.query_one(SpeedupPanel)
            background = panel.background_colors[1]
            border = background + panel.styles.border_top[1]  # the border colour as drawn
            assert palette(border) != palette(background), theme.name


async def test_a_replay_leaves_the_live_servers_panel_alone(scripted: Scripted) -> None:
    from relaychat.ui.widgets.status_panel import StatusPanel

    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        app.chat.replay(bundled_trace(), math.inf)
        await wait_turn_done(pilot, app)
        rows = app.chat.query_one(StatusPanel).rows
        assert rows and all(row.tok_s is None and row.ttft_s is None for row in rows.values())
