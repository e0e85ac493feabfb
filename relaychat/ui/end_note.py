"""Why a finished generation is not complete: the budget or the context window cut it.

`✓ 400 tokens` read as finished when the answer had been cut at its token budget. The relay's last
segment end reason says how it ended; a context-window end is matched by name, so the note appears as
soon as the core reports one (whatever it is called exactly: any reason mentioning "context").
"""

from __future__ import annotations

from relaychat.core.events import RunSummary

BUDGET_HINT = "F8 changes the budget"


def end_note(summary: RunSummary, budget: int | None = None) -> str | None:
    """A short warning for a cut-short generation, or None when it ended on its own."""
    reason = str(summary.finish_reason or "")
    of = f" of {budget} tokens" if budget else ""
    if "context" in reason:
        return (
            "stopped at the context window (context_limit): the model could not write more; "
            "start a new conversation (Ctrl+N)"
        )
    if reason == "length":
        return f"stopped at the budget{of}: the answer is cut ({BUDGET_HINT})"
    if summary.reasoning_ended_by == "budget":
        return f"reasoning stopped at the budget{of}, the answer was forced ({BUDGET_HINT})"
    return None
