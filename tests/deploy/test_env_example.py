"""deploy/.env.example and the settings classes agree: every setting listed exists in the bot's
`Settings` and every field of that class is listed, the shown defaults are the real ones, and every
COLONY_* name the deploy files and guides mention is a real setting of the bot or the uploader."""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
EXAMPLE = DEPLOY / ".env.example"
# DESIGN.md section 3: the names operators and commanders rely on.
DESIGN_BOT = {
    "COLONY_DISCORD_TOKEN",
    "COLONY_DB_PATH",
    "COLONY_HTTP_HOST",
    "COLONY_HTTP_PORT",
    "COLONY_PUBLIC_URL",
}
DESIGN_UPLOADER = {
    "COLONY_UPLOADER_URL",
    "COLONY_UPLOADER_TOKEN",
    "COLONY_UPLOADER_JOURNAL_DIR",
    "COLONY_UPLOADER_STATE_DIR",
}
LINE = re.compile(r"^(?P<commented># )?(?P<name>COLONY_[A-Z0-9_]+)=(?P<value>.*)$")


def settings_class(module: str) -> type[BaseSettings]:
    cls = getattr(importlib.import_module(module), "Settings", None)
    assert isinstance(cls, type), f"{module} has no Settings class"
    assert issubclass(cls, BaseSettings)
    return cls


def env_names(cls: type[BaseSettings]) -> set[str]:
    """The environment variables a pydantic-settings class reads (prefix, aliases, nested models)."""
    config = cls.model_config
    prefix = str(config.get("env_prefix") or "")
    delimiter = config.get("env_nested_delimiter")
    names: set[str] = set()

    def walk(model: type[BaseModel], stem: str) -> None:
        for name, field in model.model_fields.items():
            alias = field.validation_alias or field.alias
            if isinstance(alias, str):
                names.add(alias.upper())
                continue
            if alias is not None:
                raise AssertionError(f"{model.__name__}.{name}: alias {alias!r} not understood by this test")
            annotation = field.annotation
            if delimiter and isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, f"{stem}{name}{delimiter}")
            else:
                names.add(f"{stem}{name}".upper())

    walk(cls, prefix)
    return names


def example_lines() -> dict[str, tuple[bool, str]]:
    """name -> (commented out, value) for every `NAME=value` or `# NAME=value` line."""
    found: dict[str, tuple[bool, str]] = {}
    for raw in EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = LINE.match(raw)
        if match is None:
            assert not re.match(r"^#?\s*COLONY_\w+\s*=", raw), (
                f"setting line not in the NAME=value form: {raw!r}"
            )
            continue
        name = match["name"]
        assert name not in found, f"{name} is listed twice"
        found[name] = (bool(match["commented"]), match["value"])
    return found


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No COLONY_* variable from the calling shell, and no stray .env in the working folder."""
    for name in list(os.environ):
        if name.startswith("COLONY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_example_lists_exactly_the_bots_settings() -> None:
    names = env_names(settings_class("bot.settings"))
    listed = set(example_lines())
    assert sorted(listed - names) == [], "in deploy/.env.example but not in bot.settings.Settings"
    assert sorted(names - listed) == [], "in bot.settings.Settings but not in deploy/.env.example"


def test_the_design_names_exist() -> None:
    assert sorted(DESIGN_BOT - env_names(settings_class("bot.settings"))) == []
    assert sorted(DESIGN_UPLOADER - env_names(settings_class("uploader.settings"))) == []


def _value(settings: BaseSettings, field: str) -> Any:
    value = getattr(settings, field)
    return value.get_secret_value() if isinstance(value, SecretStr) else value


@pytest.mark.usefixtures("clean_env")
def test_commented_lines_show_the_real_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    cls = settings_class("bot.settings")
    prefix = str(cls.model_config.get("env_prefix") or "")
    defaults = cls(_env_file=None)
    commented = {name: value for name, (is_comment, value) in example_lines().items() if is_comment}
    assert commented, "the example shows no defaults at all"
    for name, shown in commented.items():
        field = name.removeprefix(prefix).lower()
        if shown == "":
            assert _value(defaults, field) is None, (
                f"{name}: shown unset, but defaults to {_value(defaults, field)!r}"
            )
            continue
        with monkeypatch.context() as env:
            env.setenv(name, shown)
            parsed = cls(_env_file=None)
        assert _value(parsed, field) == _value(defaults, field), f"{name}: the example shows {shown!r}"


@pytest.mark.usefixtures("clean_env")
def test_the_example_loads_as_it_is() -> None:
    cls = settings_class("bot.settings")
    settings = cls(_env_file=EXAMPLE)
    token = _value(settings, "discord_token")
    # A safe placeholder: nothing shaped like a real token (three dot-separated base64 parts).
    assert token is not None
    assert not re.fullmatch(r"[\w-]{20,}\.[\w-]{4,}\.[\w-]{20,}", token)
    assert str(_value(settings, "public_url")).startswith("https://")


def mentioned(text: str) -> set[str]:
    return set(re.findall(r"\b(COLONY_[A-Z0-9_]*[A-Z0-9])\b", text))


@pytest.mark.parametrize(
    "path",
    ["Dockerfile", "compose.yaml", "Caddyfile", "colony-bot.service", "colony-uploader.service", "README.md"],
)
def test_every_variable_the_deploy_files_mention_is_a_setting(path: str) -> None:
    known = env_names(settings_class("bot.settings")) | env_names(settings_class("uploader.settings"))
    text = (DEPLOY / path).read_text(encoding="utf-8")
    assert sorted(mentioned(text) - known) == []


def test_top_level_readme_mentions_only_real_settings() -> None:
    known = env_names(settings_class("bot.settings")) | env_names(settings_class("uploader.settings"))
    # COLONY_SAMPLES_DIR and COLONY_REQUIRE_SAMPLES belong to the test suite (tests/conftest.py).
    known |= {"COLONY_SAMPLES_DIR", "COLONY_REQUIRE_SAMPLES", "COLONY_UPLOADER_ONLY"}
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert sorted(mentioned(text) - known) == []


def test_env_names_follow_prefix_aliases_and_nesting() -> None:
    from pydantic import Field
    from pydantic_settings import SettingsConfigDict

    class Inner(BaseModel):
        port: int = 1

    class Sample(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="X_", env_nested_delimiter="__")
        plain: int = 0
        aliased: int = Field(default=0, validation_alias="OTHER_NAME")
        http: Inner = Inner()

    assert env_names(Sample) == {"X_PLAIN", "OTHER_NAME", "X_HTTP__PORT"}


def test_no_bot_setting_is_in_the_uploaders_prefix() -> None:
    """One .env may serve both programs, and the uploader refuses an unknown COLONY_UPLOADER_* line
    (a misspelt setting): a bot setting named so would stop every uploader command."""
    names = env_names(settings_class("bot.settings"))
    assert sorted(n for n in names if n.startswith("COLONY_UPLOADER_")) == []
