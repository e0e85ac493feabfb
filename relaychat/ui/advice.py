"""Sentences a person can act on when a server fails, instead of a library's exception text.

A killed server used to show `<TransferEncodingError: 400 ...>`; what the user needs is which server,
what to do now (restart it from here, or go on with the small model alone), and nothing to decode.
"""

from __future__ import annotations

from collections.abc import Mapping

from relaychat.core.events import ErrorInfo, Mode, Role

ROLES: tuple[Role, ...] = ("large", "small")


def server_advice(
    down: list[Role], urls: Mapping[Role, str], *, can_restart: bool, mode: Mode, profile: str
) -> str:
    """What to say when `down` servers do not answer (the rest do)."""
    if not down:
        return ""
    where = " and ".join(f"the {role} server ({urls.get(role, '?')})" for role in down)
    verb = "does" if len(down) == 1 else "do"
    parts = [f"{where[0].upper()}{where[1:]} {verb} not answer."]
    if can_restart:
        parts.append("Ctrl+R restarts the servers RelayChat started.")
    else:
        parts.append(
            f"Start it again where it ran (`relaychat serve --profile {profile}` starts the bundled pair)."
        )
    others = [r for r in ROLES if r not in down]
    if others and mode == "relay":
        other = others[0]
        parts.append(f"Meanwhile F2 switches to {other}-only mode, which still works.")
    parts.append("F5 replays a saved trace.")
    return " ".join(parts)


def failure_sentence(error: ErrorInfo | None, message: str, down: list[Role], advice: str) -> str:
    """The result line of a generation that failed: what happened in words, then what to do."""
    if down:
        return f"The answer stopped: {advice}"
    kind = error.kind if error is not None else ""
    who = f"the {error.model} server" if error is not None and error.model else "a server"
    if kind in ("connection", "protocol", "server", "timeout"):
        what = {
            "connection": f"{who} closed the connection mid-answer",
            "protocol": f"{who} sent a broken reply",
            "server": f"{who} reported an error",
            "timeout": f"{who} did not answer in time",
        }[kind]
        return f"The answer stopped: {what}. Ask again; if it keeps failing, Ctrl+R restarts the servers."
    return f"The answer stopped: {message}"
