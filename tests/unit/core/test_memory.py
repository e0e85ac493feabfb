"""WarmupMemory: cue-ending habits and suffix token ids, learned per model and server, kept by their owner."""

from __future__ import annotations

from dataclasses import dataclass, field

from relaychat.backends.scripted import ScriptedBackend
from relaychat.core.memory import CueHabits, SuffixTokens, WarmupMemory

NOW = (("Now", ""), ("Now", ","))


def test_without_a_habit_every_pending_ending_is_started() -> None:
    assert CueHabits().likely("L", NOW) == ["", ","]


def test_the_more_frequent_ending_wins_once_seen_and_ties_keep_both() -> None:
    habits = CueHabits()
    habits.learn("L", "Now,")
    assert habits.likely("L", NOW) == [","]
    habits.learn("L", "now")  # the word is matched without case: "Now" and "now" are one habit
    assert habits.likely("L", NOW) == ["", ","]
    habits.learn("L", "Now")
    assert habits.likely("L", NOW) == [""]


def test_habits_belong_to_one_model_and_one_word() -> None:
    habits = CueHabits()
    habits.learn("L", "Now,")
    assert habits.likely("S", NOW) == ["", ","]  # another model has shown nothing yet
    thus = (("Thus", ""), ("Thus", ","))
    assert habits.likely("L", thus) == ["", ","]
    mixed = (("Now", ","), ("So", ""))  # two different words pending: nothing to choose between
    assert habits.likely("L", mixed) == [",", ""]


def test_two_memories_share_nothing() -> None:
    first, second = WarmupMemory(), WarmupMemory()
    first.habits.learn("L", "Now,")
    assert first.habits.likely("L", NOW) == [","] and second.habits.likely("L", NOW) == ["", ","]


@dataclass
class CountingBackend(ScriptedBackend):
    asked: list[str] = field(default_factory=list)

    async def tokenize(self, text: str, add_special_tokens: bool = False) -> list[int]:
        self.asked.append(text)
        return await super().tokenize(text, add_special_tokens)


async def test_suffix_ids_are_asked_once_per_server_and_split_texts_are_left_out() -> None:
    suffixes = SuffixTokens()
    large = CountingBackend("http://large")
    found = await suffixes.single_tokens(large, "L", {"", ",", "\n", ", so"})
    assert set(found) == {",", "\n"}  # ", so" is two tokens here: no stream could end on it
    assert found[","] == await large.tokenize(",")
    large.asked.clear()
    again = await suffixes.single_tokens(large, "L", {",", "\n"})
    assert again == {",": found[","], "\n": found["\n"]} and large.asked == []
    other = CountingBackend("http://other")
    await suffixes.single_tokens(other, "L", {","})
    assert other.asked == [","]  # another server may tokenize differently: asked again
