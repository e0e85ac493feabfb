"""Composition: turn a profile and the user's settings into the backends every command talks to.

This is where the core's view (profiles, roles) meets the engine clients, so `backends/` never
imports `relaychat.core`. Per-role API keys and timeouts are resolved here, once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from relaychat.backends.base import Backend
from relaychat.backends.replicas import ReplicaBackend, pinned
from relaychat.backends.vllm import VLLMBackend
from relaychat.core.events import Role
from relaychat.core.profile import ModelSpec, PairProfile

__all__ = ["Connection", "backend_for", "make_backends", "pinned", "spec_urls"]

DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_READ_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Connection:
    """How to reach the servers: timeouts and per-role API keys (never printed: repr hides them)."""

    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S
    read_timeout: float = DEFAULT_READ_TIMEOUT_S
    api_keys: dict[str, str] = field(default_factory=dict, repr=False)


def api_key_for(role: str, spec: ModelSpec, explicit: str | None = None) -> str | None:
    """RELAYCHAT_<ROLE>_API_KEY (or config) first, else the variable the profile names (`api_key_env`)."""
    if explicit:
        return explicit
    if spec.api_key_env:
        return os.environ.get(spec.api_key_env) or None
    return None


def spec_urls(spec: ModelSpec) -> list[str]:
    """A spec's replica URLs; a comma-separated URL (e.g. from --large-url a,b) counts as several."""
    return [u.strip() for url in spec.urls for u in url.split(",") if u.strip()]


def backend_for(spec: ModelSpec, connection: Connection | None = None, role: str = "large") -> Backend:
    """One VLLMBackend, or a ReplicaBackend when the role names several servers."""
    conn = connection or Connection()
    key = api_key_for(role, spec, conn.api_keys.get(role))
    backends = [
        VLLMBackend(
            url,
            model=spec.served_name,
            api_key=key,
            connect_timeout=conn.connect_timeout,
            read_timeout=conn.read_timeout,
        )
        for url in spec_urls(spec)
    ]
    return backends[0] if len(backends) == 1 else ReplicaBackend(backends)


def make_backends(profile: PairProfile, connection: Connection | None = None) -> dict[Role, Backend]:
    return {
        "large": backend_for(profile.large, connection, "large"),
        "small": backend_for(profile.small, connection, "small"),
    }
