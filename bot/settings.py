"""The bot's one settings class: environment (prefix COLONY_), a `.env` file, or constructor arguments.

Built once in `main()` and passed down; tests construct `Settings(...)` directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    # extra="ignore": the same .env may hold the uploader's COLONY_UPLOADER_* variables.
    model_config = SettingsConfigDict(env_prefix="COLONY_", env_file=".env", extra="ignore")

    discord_token: SecretStr | None = Field(default=None, description="unset: offline mode")
    db_path: Path = Path("colony.db")
    db_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL", description="SQLite fsync policy; FULL survives power loss, NORMAL a crash"
    )
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8750, ge=0, le=65535)
    public_url: str = "http://127.0.0.1:8750"
    install_source: str | None = Field(
        default=None,
        description="where commanders get the uploader (pipx's package spec: a URL of the project's "
        "archive or git repository); /colony help shows the install line",
    )
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="request body limit, after gzip decompression"
    )
    rate_limit_per_minute: float = Field(default=600.0, gt=0, description="sustained requests per token")
    rate_limit_burst: int = Field(default=60, ge=1, description="requests a token may send at once")
    stream_keepalive_seconds: float = Field(default=15.0, gt=0)
    shutdown_timeout_seconds: float = Field(default=10.0, gt=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_file: Path | None = Field(default=None, description="also log here, rotated")

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("discord_token", "log_file", "install_source", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `COLONY_DISCORD_TOKEN=` (a compose file's empty default) means offline mode, not a
        # login to Discord with an empty token; `COLONY_LOG_FILE=` no log file, not the folder ".".
        return None if isinstance(value, str) and not value.strip() else value
