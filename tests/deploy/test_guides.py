"""The guides tell the truth: every `colony-bot ...` / `colony-uploader ...` command shown in README.md
and deploy/README.md exists in the CLIs (its `--help` exits 0 and lists every option shown), and
the invite link asks for exactly the permissions the table names."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import discord
import pytest
from packaging.requirements import Requirement

REPO_ROOT = Path(__file__).resolve().parents[2]
GUIDES = (REPO_ROOT / "README.md", REPO_ROOT / "deploy" / "README.md")
CLIS = {"colony-bot": "bot", "colony-uploader": "uploader"}  # command -> module run by `python -m`
SEPARATORS = {"&&", "||", ";", "|", "(", ")", "&"}
SUBCOMMAND = re.compile(r"[a-z][a-z0-9-]*")
# Commands whose arguments merely name ours (a systemd unit, a program to look up): not invocations.
NAMING = {"systemctl", "journalctl", "Get-Command", "which", "command"}


@dataclass(frozen=True)
class Invocation:
    cli: str
    path: tuple[str, ...]  # subcommand words
    options: tuple[str, ...]  # --long options shown
    source: str  # file:line, for the failure message


def snippets(markdown: str) -> list[tuple[int, str]]:
    """(line number, text) of every fenced code line (continuations joined) and inline code span."""
    found: list[tuple[int, str]] = []
    fenced = False
    pending: list[str] = []
    start = 0
    for number, line in enumerate(markdown.splitlines(), start=1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            if not pending:
                start = number
            pending.append(line.strip().removesuffix("\\").strip())
            if not line.rstrip().endswith("\\"):
                found.append((start, " ".join(pending)))
                pending = []
        else:
            found.extend((number, span) for span in re.findall(r"`([^`\n]+)`", line))
    return found


def invocations_in(text: str, source: str) -> list[Invocation]:
    """The CLI invocations in one shell (or PowerShell) line."""
    if not re.search(r"(?<![\w/\\.-])colony-(?:bot|uploader)(?![\w\\.-])", text):
        return []
    # <PLACEHOLDER> is an argument, not a redirection.
    text = re.sub(r"<([A-Za-z_][\w-]*)>", r"\1", text)
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError as exc:
        raise ValueError(f"{source}: cannot read the command line {text!r}: {exc}") from exc
    found: list[Invocation] = []
    segment: list[str] = []
    for token in [*tokens, ";"]:
        if token not in SEPARATORS:
            segment.append(token)
            continue
        words = segment[1:] if segment[:1] == ["sudo"] else segment
        for cli in CLIS:
            if cli in words and words[0] not in NAMING:
                args = words[words.index(cli) + 1 :]
                if any("$" in a for a in args):
                    continue  # built at run time by the shell (e.g. "$@"): nothing fixed to check
                path: list[str] = []
                for arg in args:
                    if not SUBCOMMAND.fullmatch(arg):
                        break
                    path.append(arg)
                options = tuple(a.split("=", 1)[0] for a in args if a.startswith("--"))
                found.append(Invocation(cli, tuple(path), options, source))
        segment = []
    return found


def all_invocations() -> tuple[list[Invocation], list[str]]:
    """The invocations in the guides, and the lines naming a CLI that could not be read."""
    found: list[Invocation] = []
    unreadable: list[str] = []
    for guide in GUIDES:
        for number, text in snippets(guide.read_text(encoding="utf-8")):
            try:
                found.extend(invocations_in(text, f"{guide.relative_to(REPO_ROOT)}:{number}"))
            except ValueError as exc:
                unreadable.append(str(exc))
    return found, unreadable


INVOCATIONS, UNREADABLE = all_invocations()
# One `--help` per subcommand; the options shown anywhere for it are checked together.
COMMANDS: dict[tuple[str, tuple[str, ...]], list[Invocation]] = {}
for _invocation in INVOCATIONS:
    COMMANDS.setdefault((_invocation.cli, _invocation.path), []).append(_invocation)


def run_help(cli: str, path: tuple[str, ...], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLONY_")}
    return subprocess.run(
        [sys.executable, "-m", CLIS[cli], *path, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
        check=False,
    )


@pytest.mark.parametrize(("cli", "path"), list(COMMANDS), ids=[" ".join([c, *p]) for c, p in COMMANDS])
def test_command_in_the_guides_exists(cli: str, path: tuple[str, ...], tmp_path: Path) -> None:
    shown = COMMANDS[(cli, path)]
    result = run_help(cli, path, tmp_path)
    where = ", ".join(sorted({i.source for i in shown}))
    assert result.returncode == 0, f"`{cli} {' '.join(path)}` (shown at {where}) fails:\n{result.stderr}"
    for invocation in shown:
        for option in invocation.options:
            assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", result.stdout), (
                f"{invocation.source}: `{cli} {' '.join(path)}` has no option {option}"
            )


def test_every_line_naming_a_command_can_be_read() -> None:
    assert UNREADABLE == []


def test_the_guides_show_the_commands_operators_and_commanders_need() -> None:
    shown = {(cli, " ".join(path)) for cli, path in COMMANDS}
    needed = {
        ("colony-bot", "sync"),
        ("colony-bot", "token issue"),
        ("colony-bot", "token list"),
        ("colony-bot", "token revoke"),
        ("colony-bot", "rebuild"),
        ("colony-uploader", "init"),
        ("colony-uploader", "doctor"),
        ("colony-uploader", "run"),
        ("colony-uploader", "status"),
        ("colony-uploader", "backfill"),
    }
    assert sorted(needed - shown) == []


def test_python_m_runs_the_same_entry_point_as_the_installed_command() -> None:
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts == {cli: f"{module}.__main__:main" for cli, module in CLIS.items()}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "docker compose exec bot colony-bot token issue --guild <GUILD_ID> --user <USER_ID> --label 'A'",
            [("colony-bot", ("token", "issue"), ("--guild", "--user", "--label"))],
        ),
        ("colony-bot token revoke <TOKEN_PREFIX>", [("colony-bot", ("token", "revoke"), ())]),
        ("cd x && colony-uploader init && colony-uploader status  # comment", [
            ("colony-uploader", ("init",), ()),
            ("colony-uploader", ("status",), ()),
        ]),
        ("colony-uploader backfill --since=2025-01-01", [("colony-uploader", ("backfill",), ("--since",))]),
        ("""runuser -u colony -- sh -c 'exec /x/colony-bot "$@"' colony-bot "$@\"""", []),
        ("/opt/ed-colony/venv/bin/colony-bot run", []),
        ("$s.TargetPath = (Get-Command colony-uploader).Source", []),
        ("journalctl -u colony-bot --since '1 hour ago'", []),
        ("sudo systemctl --user stop colony-uploader", []),
        ("sudo colony-bot rebuild", [("colony-bot", ("rebuild",), ())]),
    ],
)  # fmt: skip
def test_commands_are_read_from_shell_lines(
    line: str, expected: list[tuple[str, tuple[str, ...], tuple[str, ...]]]
) -> None:
    assert [(i.cli, i.path, i.options) for i in invocations_in(line, "t")] == expected


def test_fenced_lines_join_continuations_and_inline_spans_count() -> None:
    markdown = "Run `colony-bot sync`.\n```sh\ncolony-bot token list \\\n  --guild 1\n```\n"
    assert snippets(markdown) == [(1, "colony-bot sync"), (3, "colony-bot token list --guild 1")]


# --- the invite link --------------------------------------------------------------------------------


def test_invite_link_asks_for_exactly_the_named_permissions() -> None:
    guide = (REPO_ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| ([A-Z][A-Za-z ]+) \| `1 << (\d+)` \| (\d+) \|", guide, re.MULTILINE)
    assert [name for name, _, _ in rows] == [
        "View Channels",
        "Send Messages",
        "Embed Links",
        "Read Message History",
    ]
    total = discord.Permissions.none()
    for name, bit, value in rows:
        # discord.py's flag names: "View Channels" is view_channel, the others are snake_case.
        flag = "view_channel" if name == "View Channels" else name.lower().replace(" ", "_")
        one = discord.Permissions(**{flag: True})
        assert one.value == 1 << int(bit) == int(value), name
        total |= one
    links = re.findall(r"https://discord\.com/oauth2/authorize\?(\S+)", guide)
    assert len(links) == 1
    query = dict(part.split("=", 1) for part in links[0].split("&"))
    assert query == {
        "client_id": "<APP_ID>",
        "scope": "bot+applications.commands",
        "permissions": str(total.value),
    }
    assert f"= **{total.value}**" in guide, "the sum shown in the text"


# --- the commanders' one-line install -------------------------------------------------------------


def test_pipx_lines_install_this_project_with_the_uploader_extra_only() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    guide = (REPO_ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    specs = re.findall(r'pipx install "([^"]+)"', guide)
    assert len(specs) == 2, specs
    for spec in specs:
        requirement = Requirement(spec.replace("<owner>/<repo>", "owner/repo"))
        assert requirement.name == pyproject["name"]
        assert requirement.extras == {"uploader"}
        assert requirement.url is not None
        assert requirement.url.startswith(("https://github.com/", "git+https://github.com/"))
    # What that extra brings: never the bot's dependencies (DESIGN.md section 1).
    uploader = " ".join(pyproject["optional-dependencies"]["uploader"]).lower()
    for package in ("discord", "aiohttp", "aiosqlite"):
        assert package not in uploader
