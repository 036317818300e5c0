"""The systemd units in deploy/: what they promise (restart, environment file, hardening, state
folder) and that `systemd-analyze verify` accepts them where that tool is installed."""

from __future__ import annotations

import importlib
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
SYSTEM_UNITS = ("colony-bot.service", "colony-bot-backup.service", "colony-bot-backup.timer")
USER_UNITS = ("colony-uploader.service",)

Unit = dict[str, dict[str, list[str]]]


def read_unit(text: str) -> Unit:
    """Sections to keys to values; systemd allows a key more than once, so values are lists."""
    unit: Unit = {}
    section: dict[str, list[str]] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        if section is None or not sep:
            raise ValueError(f"line {number}: not a `Key=value` line inside a section: {raw!r}")
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def unit(name: str) -> Unit:
    return read_unit((DEPLOY / name).read_text(encoding="utf-8"))


def one(unit: Unit, section: str, key: str) -> str:
    values = unit.get(section, {}).get(key, [])
    assert len(values) == 1, f"[{section}] {key}: expected one value, got {values}"
    return values[0]


def test_bot_unit_restarts_on_failure_and_reads_an_environment_file() -> None:
    bot = unit("colony-bot.service")
    assert one(bot, "Service", "Restart") == "on-failure"
    assert one(bot, "Service", "EnvironmentFile").startswith("/etc/colony-bot/")
    assert shlex.split(one(bot, "Service", "ExecStart"))[1:] == ["run"]
    assert one(bot, "Service", "KillSignal") == "SIGINT"
    assert one(bot, "Install", "WantedBy") == "multi-user.target"


@pytest.mark.parametrize("name", ["colony-bot.service", "colony-bot-backup.service"])
def test_bot_units_are_hardened_with_the_state_folder_writable(name: str) -> None:
    service = unit(name)
    assert one(service, "Service", "NoNewPrivileges") == "yes"
    assert one(service, "Service", "ProtectSystem") == "strict"
    assert one(service, "Service", "PrivateTmp") == "yes"
    assert one(service, "Service", "User") == "colony"
    state = "/var/lib/" + one(service, "Service", "StateDirectory")
    assert one(service, "Service", "ReadWritePaths") == state


def test_bot_runs_in_its_state_folder_so_the_default_database_lands_there() -> None:
    bot = unit("colony-bot.service")
    state = "/var/lib/" + one(bot, "Service", "StateDirectory")
    assert one(bot, "Service", "WorkingDirectory") == state
    # COLONY_DB_PATH defaults to colony.db in the working folder (DESIGN.md section 3): the backup
    # must read exactly that file.
    backup = shlex.split(one(unit("colony-bot-backup.service"), "Service", "ExecStart"))
    assert backup[1:3] == [f"{state}/colony.db", f"{state}/backups"]


def test_backup_timer_starts_the_backup_service_daily() -> None:
    timer = unit("colony-bot-backup.timer")
    assert one(timer, "Timer", "Persistent") == "true"
    assert one(timer, "Timer", "OnCalendar").endswith("04:15:00")
    assert (DEPLOY / "colony-bot-backup.service").is_file()  # the timer's default Unit=
    backup = unit("colony-bot-backup.service")
    assert one(backup, "Service", "Type") == "oneshot"
    assert one(backup, "Service", "ExecStart").startswith("/usr/local/bin/colony-backup ")


def test_uploader_user_unit_runs_the_pipx_command_at_login() -> None:
    uploader = unit("colony-uploader.service")
    assert shlex.split(one(uploader, "Service", "ExecStart")) == ["%h/.local/bin/colony-uploader", "run"]
    assert one(uploader, "Service", "Restart") == "on-failure"
    assert one(uploader, "Install", "WantedBy") == "default.target"
    assert "User" not in uploader["Service"], "a user unit runs as its user"


def test_uploader_is_not_restarted_for_what_a_restart_cannot_fix() -> None:
    exit_code = importlib.import_module("uploader.runner").ExitCode
    uploader = unit("colony-uploader.service")
    prevented = {int(code) for code in one(uploader, "Service", "RestartPreventExitStatus").split()}
    assert prevented == {int(exit_code.CONFIG), int(exit_code.TOKEN_REFUSED)}


def test_services_get_longer_to_stop_than_the_bots_shutdown_timeout() -> None:
    settings = importlib.import_module("bot.settings").Settings
    shutdown = settings.model_fields["shutdown_timeout_seconds"].default
    for name in ("colony-bot.service", "colony-uploader.service"):
        assert int(one(unit(name), "Service", "TimeoutStopSec")) > shutdown, name


def test_unit_reader_refuses_a_line_outside_a_section() -> None:
    with pytest.raises(ValueError, match=r"^line 1: not a `Key=value` line inside a section"):
        read_unit("ExecStart=/bin/true\n[Service]\n")


# --- systemd-analyze verify ---------------------------------------------------------------------

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None,
    reason="systemd-analyze is not installed (Debian: apt-get install systemd); the units are not verified",
)


def real_programs() -> dict[str, Path]:
    """The programs the units start, as installed here.

    `systemd-analyze verify` refuses a unit whose ExecStart binary does not exist, and the units
    name production paths (/opt/ed-colony/venv, /usr/local/bin, ~/.local/bin) that a development
    machine lacks. So the copies we verify point ExecStart at the same programs where they are
    installed here: the project's console scripts beside this interpreter and deploy's own backup
    script. Everything else in the unit is verified as written.
    """
    scripts = Path(sys.executable).parent
    return {
        "colony-bot": scripts / "colony-bot",
        "colony-uploader": scripts / "colony-uploader",
        "colony-backup": DEPLOY / "colony-backup.py",
    }


def relocated(text: str, programs: dict[str, Path]) -> str:
    lines = []
    for line in text.splitlines():
        if line.startswith("ExecStart="):
            program, _, rest = line.removeprefix("ExecStart=").partition(" ")
            real = programs[Path(program).name]
            assert os.access(real, os.X_OK), f"{real} is missing or not executable"
            line = f"ExecStart={real} {rest}".rstrip()
        lines.append(line)
    return "\n".join(lines) + "\n"


def verify(paths: list[Path], *, user: bool, runtime_dir: Path) -> list[str]:
    """Problems systemd-analyze reports. It exits 0 on unknown keys and bad values (only warning on
    stderr), so any output at all counts as a problem."""
    assert SYSTEMD_ANALYZE is not None
    command = [SYSTEMD_ANALYZE, *(["--user"] if user else []), "verify", *map(str, paths)]
    # The user manager wants a runtime folder; a private one keeps the check off the real session.
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime_dir)} if user else None
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, check=False)
    out = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    if result.returncode != 0 and not out:
        out = [f"systemd-analyze exited {result.returncode}"]
    return out


@needs_systemd_analyze
@pytest.mark.parametrize(("names", "user"), [(SYSTEM_UNITS, False), (USER_UNITS, True)])
def test_units_pass_systemd_analyze_verify(names: tuple[str, ...], user: bool, tmp_path: Path) -> None:
    units = tmp_path / "units"
    units.mkdir()
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    copies = []
    for name in names:
        copy = units / name
        copy.write_text(relocated((DEPLOY / name).read_text(encoding="utf-8"), real_programs()))
        copies.append(copy)
    assert verify(copies, user=user, runtime_dir=runtime) == []


@needs_systemd_analyze
def test_verify_reports_what_systemd_only_warns_about(tmp_path: Path) -> None:
    broken = tmp_path / "broken.service"
    broken.write_text("[Service]\nExecStart=/bin/true\nRestart=sometimes\nProtectSystem=strikt\n")
    found = verify([broken], user=False, runtime_dir=tmp_path)
    assert len(found) == 2
    assert "sometimes" in found[0]
    assert "strikt" in found[1]
