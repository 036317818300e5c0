"""Settings: init arguments over environment over `.env` over the TOML config file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from uploader.settings import Settings, config_file_path

pytestmark = pytest.mark.uploader_only


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("COLONY_UPLOADER_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env


def _toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_need_no_environment(tmp_path: Path) -> None:
    s = Settings(config_file=tmp_path / "absent.toml")
    assert s.url is None
    assert s.token is None
    assert s.journal_dir is None
    assert s.state_dir.name == "colony-uploader"
    assert s.poll_interval <= 1.0
    assert s.outbox_path == s.state_dir / "outbox.sqlite3"


def test_the_address_is_the_bots_base_even_when_a_route_is_pasted(tmp_path: Path) -> None:
    """A redirect, or the events URL copied from a guide, names a route: every route would be added
    to it again (`.../api/v1/events/api/v1/events`)."""
    none = tmp_path / "absent.toml"
    for pasted, base in [
        ("https://bot.example/api/v1/events", "https://bot.example"),
        ("https://example.org/colony/api/v1/health/", "https://example.org/colony"),
        ("https://example.org/colony/api/v1", "https://example.org/colony"),
        ("https://example.org/api/v10", "https://example.org/api/v10"),  # not the bot's route: kept
        ("http://api/v1", "http://api/v1"),  # a host named api
    ]:
        assert Settings(url=pasted, config_file=none).url == base, pasted


def test_toml_then_dotenv_then_environment_then_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    config = _toml(tmp_path / "c.toml", 'url = "http://toml.example:1/"\ntoken = "from-toml"\n'
                   'batch_max_events = 7\npoll_interval = 0.5\n')
    s = Settings(config_file=config)
    assert s.url == "http://toml.example:1"  # trailing slash dropped
    assert s.token is not None
    assert s.token.get_secret_value() == "from-toml"
    assert s.batch_max_events == 7

    (tmp_path / ".env").write_text("COLONY_UPLOADER_TOKEN=from-dotenv\n", encoding="utf-8")
    s = Settings(config_file=config)
    assert s.token is not None
    assert s.token.get_secret_value() == "from-dotenv"
    assert s.url == "http://toml.example:1"

    monkeypatch.setenv("COLONY_UPLOADER_TOKEN", "from-env")
    monkeypatch.setenv("COLONY_UPLOADER_BATCH_MAX_EVENTS", "9")
    s = Settings(config_file=config)
    assert s.token is not None
    assert s.token.get_secret_value() == "from-env"
    assert s.batch_max_events == 9

    s = Settings(config_file=config, token="from-arg")
    assert s.token is not None
    assert s.token.get_secret_value() == "from-arg"


def test_config_file_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _toml(tmp_path / "elsewhere.toml", 'journal_dir = "~/journals"\n')
    monkeypatch.setenv("COLONY_UPLOADER_CONFIG_FILE", str(config))
    s = Settings()
    assert s.journal_dir == Path("~/journals").expanduser()
    assert s.config_file == config


def test_token_never_shows_in_repr(tmp_path: Path) -> None:
    s = Settings(config_file=tmp_path / "x.toml", token="super-secret-token")
    assert "super-secret-token" not in repr(s)
    assert "super-secret-token" not in str(s.model_dump())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": "ftp://x"}, "must start with http:// or https://"),
        ({"poll_interval": 5}, "less than or equal to 1"),
        ({"batch_max_events": 6000}, "less than or equal to 5000"),
        ({"log_level": "LOUD"}, "must be DEBUG, INFO, WARNING or ERROR"),
        ({"surprise": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(tmp_path: Path, kwargs: dict[str, Any], message: str
                                                     ) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(config_file=tmp_path / "x.toml", **kwargs)


def test_unknown_key_in_the_config_file_is_refused(tmp_path: Path) -> None:
    config = _toml(tmp_path / "c.toml", 'urll = "http://typo"\n')
    with pytest.raises(ValidationError, match="urll"):
        Settings(config_file=config)


def test_other_programs_lines_in_dotenv_are_left_to_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `.env` in the folder the uploader starts in (home, for the service) may be another tool's:
    its lines do not stop the uploader; a misspelt setting of ours still does."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "EDITOR=vim\nCOLONY_DB_PATH=/srv/colony.db\nCOLONY_UPLOADER_URL=http://dotenv.example:1\n",
        encoding="utf-8",
    )
    s = Settings(config_file=tmp_path / "absent.toml")
    assert s.url == "http://dotenv.example:1"
    (tmp_path / ".env").write_text("EDITOR=vim\nCOLONY_UPLOADER_URLL=http://typo\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="colony_uploader_urll"):
        Settings(config_file=tmp_path / "absent.toml")


def test_a_config_file_named_in_dotenv_is_not_used_so_init_writes_what_status_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COLONY_UPLOADER_CONFIG_FILE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (tmp_path / ".env").write_text(f"COLONY_UPLOADER_CONFIG_FILE={tmp_path / 'elsewhere.toml'}\n")
    settings = Settings()
    assert settings.config_file == config_file_path()
    assert settings.config_file != tmp_path / "elsewhere.toml"
