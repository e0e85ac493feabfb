"""Built-in profiles load, and every template's continuation is a byte-exact extension."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaychat.core.profile import ProfileError, builtin_names, load_profile
from relaychat.core.prompt import TemplateError, render_messages, render_prefix

QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]
TRACE = "Okay, 2 + 2.\nSo the sum is 4.\n</think>\n\nThe answer is \\boxed{4}."


def test_builtin_profiles_are_the_papers_pairs_and_the_demos() -> None:
    assert {"qwen3-1.7b-32b", "qwen3-1.7b-32b-eagle3", "r1-1.5b-32b", "cpu-demo", "same-model"} <= set(
        builtin_names()
    )


def test_paper_cue_sets() -> None:
    assert len(load_profile("qwen3-1.7b-32b").cues) == 28
    assert len(load_profile("r1-1.5b-32b").cues) == 25
    assert "So " in load_profile("qwen3-1.7b-32b").cues


def test_the_demo_pairs_cues_are_its_shipped_calibration() -> None:
    """The cpu-demo profile lists the cue set its calibration file selected (docs/demo-pair.md), for
    the models and the large model's template the profile uses."""
    import json
    from importlib import resources

    from relaychat.core.cueset import load_cue_set

    profile = load_profile("cpu-demo")
    shipped = resources.files("relaychat.profiles").joinpath("cpu-demo.cues.json")
    with resources.as_file(shipped) as path:
        cue_set = load_cue_set(path)
        record = json.loads(path.read_text(encoding="utf-8"))
    assert profile.cues == list(cue_set.cues)
    assert record["pair"] == {
        "profile": "cpu-demo",
        "large": profile.large.bundled,
        "small": profile.small.bundled,
    }
    assert record["template"]["large"] == profile.large.prompt.template
    # every word of the prompts the margins were measured with: new worked examples need a new calibration
    from relaychat.calibration.metadata import prompt_digest

    assert record["prompt_sha256"] == {role: prompt_digest(profile, role) for role in ("large", "small")}
    selected = {cue for cue, stats in record["statistics"].items() if stats["selected"]}
    assert selected == set(profile.cues) and record["rule"]["name"] == "all"


@pytest.mark.parametrize("name", builtin_names())
@pytest.mark.parametrize("role", ["large", "small"])
def test_continuation_prompt_extends_the_first_byte_for_byte(name: str, role: str) -> None:
    """The template renders a partial assistant turn verbatim, so first prompt + trace == continuation."""
    fmt = load_profile(name).spec(role).prompt  # type: ignore[arg-type]
    first = render_prefix(fmt, QUESTION)
    # The first prompt opens the reasoning: the generation continues right after the marker.
    assert first.endswith(fmt.reasoning_start)
    assert QUESTION[0]["content"] in first
    partial = fmt.reasoning_start + TRACE
    turns = [
        {
            "role": "user",
            "content": f"{QUESTION[0]['content']}\n{fmt.instruction}"
            if fmt.instruction
            else QUESTION[0]["content"],
        },
        {"role": "assistant", "content": partial},
    ]
    continued = render_messages(fmt, turns, add_generation_prompt=False, continue_final_message=True)
    assert continued == first + TRACE


def test_r1_template_has_real_newlines_and_one_bos() -> None:
    fmt = load_profile("r1-1.5b-32b").large.prompt
    text = render_prefix(fmt, QUESTION)
    assert "\\n" not in text.replace("\\boxed", "")
    assert text.count("<｜begin▁of▁sentence｜>") == 1
    assert fmt.add_special_tokens is False  # the template writes the BOS itself


def test_math_instruction_is_not_mangled() -> None:
    text = render_prefix(load_profile("qwen3-1.7b-32b").large.prompt, QUESTION)
    assert "within \\boxed{}." in text and "\b" not in text


def test_multi_turn_keeps_previous_answers() -> None:
    fmt = load_profile("qwen3-1.7b-32b").large.prompt
    convo = [*QUESTION, {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3 + 3?"}]
    text = render_prefix(fmt, convo)
    assert text.index("What is 2 + 2?") < text.index("4<|im_end|>") < text.index("And 3 + 3?")
    with pytest.raises(TemplateError):
        render_prefix(fmt, convo[:2])


def test_unknown_profile_names_the_built_ins() -> None:
    with pytest.raises(ProfileError, match="cpu-demo"):
        load_profile("nope")


def test_profile_file_validation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[large]\nurls = ["http://a"]\n')
    with pytest.raises(ProfileError, match="small"):
        load_profile(bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("name = ")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(broken)


def test_user_profile_file_and_cue_file_path(tmp_path: Path) -> None:
    (tmp_path / "cues.json").write_text('{"cues": ["So "]}')
    path = tmp_path / "mine.toml"
    path.write_text(
        'cue_file = "cues.json"\nmax_tokens = 100\nanswer_reserve = 10\n'
        '[large]\nurls = "http://127.0.0.1:9000"\n[small]\nurls = ["http://127.0.0.1:9001"]\n'
    )
    profile = load_profile(path)
    assert profile.name == "mine" and profile.large.url == "http://127.0.0.1:9000"
    assert profile.cue_file == str(tmp_path / "cues.json")


def test_reserve_must_be_below_budget(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        'max_tokens = 10\nanswer_reserve = 10\n[large]\nurls = "http://a"\n[small]\nurls = "http://b"\n'
    )
    with pytest.raises(ProfileError, match="answer_reserve"):
        load_profile(path)


def test_builtin_names_with_dots_are_kept_whole() -> None:
    """`Path(name).stem` cut `qwen3-1.7b-32b` to `qwen3-1`: the two Qwen pairs could not be told apart."""
    from relaychat.core.profile import builtin_names, load_profile

    for name in ("qwen3-1.7b-32b", "qwen3-1.7b-32b-eagle3", "r1-1.5b-32b"):
        assert load_profile(name).name == name
    assert len({load_profile(n).name for n in builtin_names()}) == len(builtin_names())


def test_a_profile_file_is_named_after_its_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from relaychat.core.profile import load_profile, resources

    text = resources.files("relaychat.profiles").joinpath("cpu-demo.toml").read_text(encoding="utf-8")
    path = tmp_path / "my.pair.toml"
    path.write_text(text.replace('name = "cpu-demo"\n', ""), encoding="utf-8")
    assert load_profile(path).name == "my.pair"
