"""The uploader's one configuration object (pydantic-settings).

Sources, strongest first: arguments given to `Settings(...)`, the environment (`COLONY_UPLOADER_*`),
a `.env` file in the working folder, then the TOML config file (by default `config.toml` in the
per-user config folder; `config_file=` or `COLONY_UPLOADER_CONFIG_FILE` points elsewhere).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from wire import MAX_EVENTS_PER_BATCH

APP_NAME = "colony-uploader"
ENV_PREFIX = "COLONY_UPLOADER_"


def default_state_dir() -> Path:
    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def default_config_file() -> Path:
    return platformdirs.user_config_path(APP_NAME, appauthor=False) / "config.toml"


_API_ROUTE = re.compile(r"/api/v1(?:/.*)?$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        validate_default=True,
    )

    url: str | None = Field(default=None, description="The bot's base address, e.g. http://127.0.0.1:8750")
    token: SecretStr | None = Field(default=None, description="The commander's uploader token")
    journal_dir: Path | None = Field(default=None, description="The journal folder; detected when unset")
    state_dir: Path = Field(default_factory=default_state_dir, description="Outbox, offsets and logs")
    config_file: Path = Field(default_factory=default_config_file, description="The TOML config file")

    # Live tailing sends a few events at a time; these bound a backfill's batches, where each
    # request and each commit of the bot costs: 2,000 events (about 2 MB) cut a first run's time
    # by about a fifth against 500, and stay far under the bot's 16 MiB body limit.
    batch_max_events: Annotated[int, Field(ge=1, le=MAX_EVENTS_PER_BATCH)] = 2000
    batch_max_bytes: Annotated[int, Field(ge=4096, le=64 * 1024 * 1024)] = 4 * 1024 * 1024
    poll_interval: Annotated[float, Field(gt=0, le=1.0)] = 1.0
    poll_only: bool = Field(default=False, description="Never use watchdog (network drives, WSL mounts)")
    outbox_max_events: Annotated[int, Field(ge=1)] = 500_000
    http_timeout: Annotated[float, Field(gt=0, le=600)] = 30.0
    backoff_base: Annotated[float, Field(gt=0, le=60)] = 1.0
    backoff_cap: Annotated[float, Field(gt=0, le=3600)] = 300.0
    give_up_after: Annotated[float, Field(gt=0)] = Field(
        default=300.0, description="`backfill` stops with an error after this long without delivering"
    )
    log_level: str = "INFO"
    backfill_reader: Literal["auto", "fork", "spawn", "thread"] = Field(
        default="auto",
        description="How `backfill` reads: in a process of its own, started by fork or spawn "
        "(auto: fork on Linux, spawn elsewhere or when other threads run), or in a thread of the "
        "sending process",
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")) or len(value) <= len("https://"):
            raise ValueError(f"must start with http:// or https:// (got {value!r})")
        # The base address: a pasted route (`.../api/v1/events`, as a proxy's redirect names it)
        # would have every route added to it again.
        parts = urlsplit(value)
        path = _API_ROUTE.sub("", parts.path).rstrip("/")
        return urlunsplit((parts.scheme, parts.netloc, path, "", "")) if path != parts.path else value

    @field_validator("token")
    @classmethod
    def _check_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(value.get_secret_value().strip())

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value

    @field_validator("journal_dir", "state_dir", "config_file")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser()

    @property
    def outbox_path(self) -> Path:
        return self.state_dir / "outbox.sqlite3"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file_from(init_settings))
        return (init_settings, env_settings, _OwnDotEnv(dotenv_settings), toml)


class _OwnDotEnv(PydanticBaseSettingsSource):
    """The `.env` file's settings and its other `COLONY_UPLOADER_*` lines (a misspelt setting is
    still refused), without the lines of other programs: a `.env` in the folder the uploader
    starts in (the home folder, for the service) often serves other tools too."""

    def __init__(self, inner: PydanticBaseSettingsSource) -> None:
        super().__init__(inner.settings_cls)
        self._inner = inner

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._inner.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        prefix = ENV_PREFIX.lower()
        fields = self.settings_cls.model_fields
        return {
            k: v
            for k, v in self._inner().items()
            # Not the config file's name: it is read before `.env` (`config_file_path`), and
            # `init` must write the file the other commands then read.
            if (k in fields or k.lower().startswith(prefix))
            and k.lower() not in ("config_file", prefix + "config_file")
        }


def config_file_path(given: Path | str | None = None) -> Path:
    """The config file to read: `given` (the `config_file` argument), else the environment's
    `COLONY_UPLOADER_CONFIG_FILE`, else the default. (Not from `.env`: it names the file to read.)"""
    given = given or os.environ.get(ENV_PREFIX + "CONFIG_FILE")
    return Path(given).expanduser() if given else default_config_file()


def config_file_from(init_settings: PydanticBaseSettingsSource) -> Path:
    init_kwargs: dict[str, Any] = getattr(init_settings, "init_kwargs", {})
    return config_file_path(init_kwargs.get("config_file"))
