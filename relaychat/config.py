"""User settings: `config.toml` in the config dir, then `RELAYCHAT_*` environment variables, then flags.

Precedence (highest first): command-line flags, environment, config file, defaults.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from relaychat.core.events import Mode, Role
from relaychat.paths import config_dir


def config_file() -> Path:
    return config_dir() / "config.toml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RELAYCHAT_", extra="ignore")

    profile: str = "cpu-demo"
    large_url: str | None = None
    small_url: str | None = None
    mode: Mode = "relay"
    max_tokens: int | None = None
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


def load_settings() -> Settings:
    return Settings()
