"""Seeded arithmetic word problems with Qwen3-format reasoning traces whose cues are planted.

The tiny Qwen3 pair (`qwen3-tiny`) is trained on these traces, so the RelayGen premise holds *by
construction* and calibration has a known right answer:

- **Easy cues** (`EASY_CUES`: "So,", "Therefore,", "Thus,") only ever open a sentence that restates a
  result already written one sentence earlier ("So, Mia has 51 stickers.", "Thus, the answer is 36.").
  Every token after the cue is a copy of the context, so a small model continues it with a high margin.
- **Hard cues** (`HARD_CUES`: "Wait,", "Alternatively,", "Next,") only ever open a sentence that computes
  a new number ("Wait, Mia gives away 15 stickers, and 51 - 15 = 36."), the one place a small model
  makes carry slips.
- Plain computing sentences have no cue at all. The choice of cue, and whether a restatement is written
  at all, is random (seeded), so the cue words themselves are not predictable; what follows them is.

The numbers stay in [1, 99]; multiplications are one digit by one digit. A problem is three operations
(packs bought, items given away, items found) in a random order. Every addition and subtraction is
worked in columns before its result is written ("ones 7 + 6 = 13, tens 2 + 3 + 1 = 6, and 27 + 36 =
63."): each digit is then one local step (a one-digit sum, the carry or borrow read off the column
before), where a whole-number sum written at once was the models' main error (carry slips).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

EASY_CUES: tuple[str, ...] = ("So,", "Therefore,", "Thus,")
HARD_CUES: tuple[str, ...] = ("Wait,", "Alternatively,", "Next,")
INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
# A planted control prompt: its trained reply ends the reasoning with Qwen3's *second* EOS id
# (<|endoftext|>, 151643), so tests can make a real server stop on it.
EOT_QUESTION = "End the text now."
EOT_REPLY = "Nothing to compute."

NAMES = ("Mia", "Tom", "Ava", "Leo", "Zoe", "Sam", "Eli", "Ivy", "Max", "Amy", "Ben", "Kim")
SHE = {"Mia", "Ava", "Zoe", "Ivy", "Amy", "Kim"}
ITEMS = ("apples", "stickers", "marbles", "books", "cards", "coins", "pens", "shells")
# Seeds of disjoint streams: training never sees a held-out or validation problem (also checked by text).
TRAIN_SEED = 15_001
VALID_SEED = 15_002
HELDOUT_SEED = 15_003
HELDOUT_SIZE = 240


@dataclass(frozen=True)
class Example:
    """One problem with its reference trace and answer, split the way the chat template needs it."""

    question: str
    reasoning: str  # text after "<think>\n", up to (not including) "</think>"
    answer_text: str  # text after "</think>\n\n"
    answer: int
    # the (cue, kind) of every sentence that opens with a cue, in order, for checks and docs
    cues: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _State:
    name: str
    items: str
    value: int
    rng: random.Random
    lines: list[str] = field(default_factory=list)
    cues: list[tuple[str, str]] = field(default_factory=list)

    def compute(self, forms: list[str]) -> None:
        """A sentence that writes a new number: plain in its first wording, or opened by a hard cue in
        any of its wordings (after a hard cue the sentence is new content, so its wording is not fixed)."""
        roll = self.rng.random()
        if roll < 0.5:
            self.lines.append(forms[0][0].upper() + forms[0][1:])
            return
        cue = HARD_CUES[int((roll - 0.5) / 0.5 * len(HARD_CUES)) % len(HARD_CUES)]
        self.cues.append((cue, "hard"))
        self.lines.append(f"{cue} {self.rng.choice(forms)}")

    def restate(self, sentence: str, probability: float = 0.8) -> None:
        """A sentence that only repeats the number just written: opened by an easy cue, or left out."""
        if self.rng.random() >= probability:
            return
        cue = self.rng.choice(EASY_CUES)
        self.cues.append((cue, "easy"))
        self.lines.append(f"{cue} {sentence}")


def _operations(rng: random.Random, start: int) -> list[tuple[str, int, int]] | None:
    """Three operations in a random order whose running value stays in [1, 99] (None: retry)."""
    kinds = ["pack", "give", "find"]
    rng.shuffle(kinds)
    value, ops = start, []
    for kind in kinds:
        if kind == "pack":
            packs, each = rng.randint(2, 5), rng.randint(2, 9)
            value += packs * each
            ops.append((kind, packs, each))
        elif kind == "give":
            if value < 3:
                return None
            amount = rng.randint(2, min(value - 1, 49))
            value -= amount
            ops.append((kind, amount, 0))
        else:
            amount = rng.randint(2, 39)
            value += amount
            ops.append((kind, amount, 0))
        if not 1 <= value <= 99:
            return None
    return ops


def add_columns(x: int, y: int) -> str:
    """Column addition written out, ones then tens with the carry, so every digit is a local step."""
    ones = x % 10 + y % 10
    return f"ones {x % 10} + {y % 10} = {ones}, tens {x // 10} + {y // 10} + {ones // 10} = {(x + y) // 10}"


def subtract_columns(x: int, y: int) -> str:
    """Column subtraction written out: the ones digit borrows ten when it must, the tens pay it back."""
    borrow = int(x % 10 < y % 10)
    top = x % 10 + 10 * borrow
    return f"ones {top} - {y % 10} = {top - y % 10}, tens {x // 10} - {y // 10} - {borrow} = {(x - y) // 10}"


def make_example(rng: random.Random) -> Example:
    """One problem and its trace, drawn from `rng` (deterministic for a seeded generator)."""
    while True:
        start = rng.randint(10, 49)
        ops = _operations(rng, start)
        if ops is not None:
            break
    name, items = rng.choice(NAMES), rng.choice(ITEMS)
    pronoun = "She" if name in SHE else "He"
    question = [f"{name} has {start} {items}."]
    for kind, a, b in ops:
        if kind == "pack":
            question.append(f"{pronoun} buys {a} packs of {b} {items}.")
        elif kind == "give":
            question.append(f"{pronoun} gives away {a} {items}.")
        else:
            question.append(f"{pronoun} finds {a} more {items}.")
    question.append(f"How many {items} does {name} have at the end?")
    state = _State(name, items, start, rng)
    state.lines.append(f"{name} starts with {start} {items}.")
    for kind, a, b in ops:
        x = state.value
        if kind == "pack":
            p = a * b
            state.compute(
                [
                    f"{a} packs of {b} {items} is {a} * {b} = {p} {items}.",
                    f"the packs hold {a} * {b} = {p} {items}.",
                    f"{name} buys {a} packs of {b}, which is {a} * {b} = {p} {items}.",
                ]
            )
            state.restate(f"{name} gets {p} more {items}.", probability=0.5)
            state.value = v = x + p
            col = add_columns(x, p)
            state.compute(
                [
                    f"adding them: {col}, and {x} + {p} = {v}.",
                    f"together: {col}, and {x} + {p} = {v} {items}.",
                    f"the total: {col}, and {x} + {p} = {v}.",
                ]
            )
        elif kind == "give":
            state.value = v = x - a
            col = subtract_columns(x, a)
            state.compute(
                [
                    f"{name} gives away {a} {items}: {col}, and {x} - {a} = {v}.",
                    f"after giving away {a}: {col}, and {name} keeps {x} - {a} = {v}.",
                    f"giving {a} away: {col}, and {x} - {a} = {v} {items} are left.",
                ]
            )
        else:
            state.value = v = x + a
            col = add_columns(x, a)
            state.compute(
                [
                    f"{name} finds {a} more {items}: {col}, and {x} + {a} = {v}.",
                    f"with {a} more: {col}, and {name} holds {x} + {a} = {v}.",
                    f"finding {a} more: {col}, and {x} + {a} = {v} {items}.",
                ]
            )
        state.restate(f"{name} has {v} {items}.")
    cue = rng.choice(EASY_CUES)
    state.cues.append((cue, "easy"))
    state.lines.append(f"{cue} the answer is {state.value}.")
    return Example(
        question=" ".join(question),
        reasoning="\n".join(state.lines) + "\n",
        answer_text=f"{name} has \\boxed{{{state.value}}} {items} at the end.",
        answer=state.value,
        cues=state.cues,
    )


def examples(seed: int, count: int, exclude: set[str] | frozenset[str] = frozenset()) -> list[Example]:
    """`count` distinct problems from the stream `seed`, skipping any question in `exclude`."""
    rng = random.Random(seed)
    out: list[Example] = []
    seen = set(exclude)
    while len(out) < count:
        example = make_example(rng)
        if example.question in seen:
            continue
        seen.add(example.question)
        out.append(example)
    return out


def heldout(count: int = HELDOUT_SIZE) -> list[Example]:
    """The evaluation set (`--dataset qwen3-tiny-heldout`): never in training (see `training_stream`)."""
    return examples(HELDOUT_SEED, count)


def validation(count: int = 64) -> list[Example]:
    """Problems for progress reports during training; disjoint from the held-out set and training."""
    return examples(VALID_SEED, count, exclude={e.question for e in heldout()})


def training_stream(count: int) -> list[Example]:
    """The training problems, with every held-out and validation question excluded by text."""
    reserved = {e.question for e in heldout()} | {e.question for e in validation()}
    return examples(TRAIN_SEED, count, exclude=reserved)


def user_turn(question: str) -> str:
    """The user message exactly as the relay sends it (profile instruction appended)."""
    return f"{question}\n{INSTRUCTION}"


def prompt_text(question: str) -> str:
    """The first-turn prompt as our `qwen3.jinja` renders it, plus the reasoning opener."""
    return f"<|im_start|>user\n{user_turn(question)}<|im_end|>\n<|im_start|>assistant\n<think>\n"


def completion_text(example: Example) -> str:
    """What the model is trained to write after the prompt (the final EOS token is added separately)."""
    return f"{example.reasoning}</think>\n\n{example.answer_text}"
