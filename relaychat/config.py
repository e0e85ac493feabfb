"""User settings: `config.toml` in the config dir, then `RELAYCHAT_*` environment variables, then flags.

Precedence (highest first): command-line flags, environment, config file, defaults. A bad value in any
of them is a `SettingsError` that names where it came from, never a traceback or a silent default.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, PositiveInt, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from relaychat.core.events import Mode, Role
from relaychat.paths import config_dir

ENV_PREFIX = "RELAYCHAT_"


# RELAYCHAT_* variables read outside `Settings`: where files live, server tuning, set-up, test harnesses.
OTHER_VARIABLES = frozenset(
    ENV_PREFIX + name
    for name in (
        "HOME",  # paths.py: one folder for config, data and cache (tests)
        "CACHE",  # paths.py: converted models, compile caches, server records
        "CPU_FLAGS",  # serving/hardware.py: decide the setup as if on another CPU
        "EMULATE_ISA",  # serving/isa.py: set by RelayChat for the servers it starts
        "PIN_SERVERS",  # serving/manager.py: 0 leaves servers unpinned
        "VLLM_FAST_TOP_P",  # serving/vllm_main.py
        "VLLM_BUSY_LOOP_S",  # serving/vllm_main.py
        "VLLM_RECHECK_MS",  # serving/vllm_main.py
        "VENV",  # launch/setup.sh
    )
)
TEST_PREFIX = ENV_PREFIX + "TEST_"  # variables of the test suite (never read by RelayChat itself)


class SettingsError(Exception):
    """config.toml or a RELAYCHAT_* variable holds something unusable; the message says which."""


def config_file() -> Path:
    return config_dir() / "config.toml"


class Settings(BaseSettings):
    # Unknown keys in config.toml are errors (a typo must not be silently ignored); environment
    # variables are only read for the fields below.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    profile: str = "cpu-demo"
    large_url: str | None = None
    small_url: str | None = None
    mode: Mode = "relay"
    max_tokens: PositiveInt | None = None
    answer_model: Role | None = None
    cues_file: str | None = None
    seed: int | None = None
    theme: str = "relay-dark"
    autostart: bool = True  # start the bundled CPU servers when a local profile's servers are down
    data: str | None = None  # benchmark data directory (aime25.jsonl, amc23.jsonl, math500.jsonl)
    large_api_key: SecretStr | None = None  # RELAYCHAT_LARGE_API_KEY: sent as a Bearer token, never shown
    small_api_key: SecretStr | None = None  # RELAYCHAT_SMALL_API_KEY
    connect_timeout: float = Field(default=5.0, gt=0)  # seconds to open a connection to a server
    read_timeout: float = Field(default=300.0, gt=0)  # seconds a server may stay silent mid-request
    # cost model the speedup panel, eval and calibrate project onto: a bundled table or a file ("" = off)
    projection_target: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=config_file()))


def _read_config_file(path: Path) -> dict[str, Any]:
    """Parse config.toml ourselves first, so a syntax error is reported with its file and line."""
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path} is not UTF-8 text (bad byte at offset {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror}") from exc


def _where(field: str, from_file: dict[str, Any]) -> str:
    env = ENV_PREFIX + field.upper()
    if any(name.upper() == env for name in os.environ):
        return f"environment variable {env}"
    if field in from_file:
        return f"`{field}` in {config_file()}"
    return f"setting `{field}`"


def _describe(exc: ValidationError, from_file: dict[str, Any]) -> str:
    known = ", ".join(Settings.model_fields)
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown key `{field}` in {config_file()} (known keys: {known})")
        else:
            value = error.get("input")
            problems.append(f"{_where(field, from_file)}: {error['msg'].lower()} (got {value!r})")
    return "; ".join(problems)


def known_variables() -> set[str]:
    return {ENV_PREFIX + field.upper() for field in Settings.model_fields} | set(OTHER_VARIABLES)


def unknown_variables(environ: dict[str, str] | None = None) -> list[str]:
    """RELAYCHAT_* names in the environment that RelayChat never reads: typos, as the README promises.

    Only names are looked at and shown, never values (an API key's variable may be misspelled too).
    """
    names = os.environ if environ is None else environ
    known = known_variables()
    return sorted(
        name
        for name in names
        if name.upper().startswith(ENV_PREFIX)
        and name.upper() not in known
        and not name.upper().startswith(TEST_PREFIX)
    )


def _check_variables() -> None:
    unknown = unknown_variables()
    if not unknown:
        return
    known = sorted(known_variables())
    problems = []
    for name in unknown:
        close = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.7)
        problems.append(f"{name}" + (f" (did you mean {close[0]}?)" if close else ""))
    listed = "" if all("did you mean" in p for p in problems) else f"; RelayChat reads {', '.join(known)}"
    plural = "s" if len(unknown) > 1 else ""
    raise SettingsError(f"unknown environment variable{plural} {', '.join(problems)}{listed}")


def load_settings() -> Settings:
    """The user's settings, or a SettingsError that says which key or variable is wrong."""
    _check_variables()
    from_file = _read_config_file(config_file())
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(_describe(exc, from_file)) from None
