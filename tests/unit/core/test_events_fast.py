"""`token_delta` builds the very event `TokenDelta(...)` builds, only without validating twice."""

from __future__ import annotations

from relaychat.core.events import TokenDelta, dump_event, parse_event, token_delta


def test_token_delta_equals_the_validated_event() -> None:
    args = {
        "t": 1.5,
        "model": "small",
        "segment": 3,
        "stage": "answer",
        "text": " 4.",
        "token_ids": [19, 20],
        "margins": [0.5, None],
    }
    fast, checked = token_delta(**args), TokenDelta(**args)  # type: ignore[arg-type]
    assert fast == checked
    assert dump_event(fast) == dump_event(checked)
    assert parse_event(dump_event(fast)) == checked
    assert fast.model_fields_set == checked.model_fields_set | {"type"}
    assert hash(fast.model_dump_json()) == hash(checked.model_dump_json())


def test_token_delta_is_frozen_like_the_validated_one() -> None:
    event = token_delta(0.0, "large", 0, "reasoning", "a", [1], [0.1])
    try:
        event.text = "b"  # type: ignore[misc]
    except Exception as exc:  # pydantic's frozen-instance error
        assert "frozen" in str(exc).lower()
    else:
        raise AssertionError("a TokenDelta must stay immutable")


def test_a_fast_token_event_can_be_copied_with_a_new_time() -> None:
    """The race view retimes live events with `model_copy`: the fast event must allow it."""
    fast = token_delta(0.5, "large", 0, "reasoning", "First", [7280], [0.86])
    moved = fast.model_copy(update={"t": 2.0})
    assert moved.t == 2.0 and moved.text == "First" and fast.t == 0.5
    assert moved == TokenDelta(t=2.0, model="large", segment=0, stage="reasoning", text="First",
                               token_ids=[7280], margins=[0.86])  # fmt: skip
