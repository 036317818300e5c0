"""A small Dockerfile reader: enough of the grammar to check our own Dockerfile without an engine.

Handles comments, parser directives, line continuations, `--flag=value` options, the JSON (exec)
form and the shell form. Anything it does not understand is an error rather than a guess.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

KEYWORDS = frozenset(
    {
        "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
        "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
    }
)  # fmt: skip
# Instructions whose arguments may be a JSON array.
EXEC_FORM = frozenset({"CMD", "ENTRYPOINT", "RUN", "SHELL", "VOLUME", "ADD", "COPY"})
FLAG = re.compile(r"--([a-z][a-z-]*)(?:=(\S*))?")


class DockerfileError(ValueError):
    """The text is not a Dockerfile this reader accepts; the message names the line."""


@dataclass(frozen=True)
class Instruction:
    keyword: str
    line: int
    flags: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    exec_form: bool = False
    # HEALTHCHECK only: the checked command, itself an instruction-like CMD.
    command: Instruction | None = None


@dataclass(frozen=True)
class Stage:
    image: str
    name: str | None
    instructions: tuple[Instruction, ...]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, joined text) per instruction, without comments and continuations."""
    result: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        # Comment lines are dropped even inside a continuation, as Docker does.
        if stripped.startswith("#"):
            continue
        # Blank lines end nothing: inside a continuation Docker skips them too.
        if not stripped:
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        result.append((start, " ".join(p for p in pending if p)))
        pending = []
    if pending:
        raise DockerfileError(f"line {start}: the file ends inside a line continuation")
    return result


def _split_flags(rest: str, line: int) -> tuple[dict[str, str], str]:
    flags: dict[str, str] = {}
    while rest.startswith("--"):
        token, _, remainder = rest.partition(" ")
        match = FLAG.fullmatch(token)
        if match is None:
            raise DockerfileError(f"line {line}: malformed option {token!r}")
        flags[match.group(1)] = match.group(2) or ""
        rest = remainder.strip()
    return flags, rest


def _arguments(keyword: str, rest: str, line: int) -> tuple[tuple[str, ...], bool]:
    if keyword in EXEC_FORM and rest.startswith("["):
        try:
            value = json.loads(rest)
        except json.JSONDecodeError as exc:
            # Docker would silently run this as a shell command; for our own file that is a bug.
            raise DockerfileError(f"line {line}: {keyword} looks like JSON but is not: {exc}") from exc
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DockerfileError(f"line {line}: {keyword} JSON form must be a list of strings")
        return tuple(value), True
    if keyword in {"RUN", "CMD", "ENTRYPOINT", "SHELL"}:
        return (rest,), False
    try:
        return tuple(shlex.split(rest, posix=True)), False
    except ValueError as exc:
        raise DockerfileError(f"line {line}: {keyword}: {exc}") from exc


def parse_instruction(line: int, text: str) -> Instruction:
    keyword, _, rest = text.partition(" ")
    keyword = keyword.upper()
    if keyword not in KEYWORDS:
        raise DockerfileError(f"line {line}: unknown instruction {keyword!r}")
    flags, rest = _split_flags(rest.strip(), line)
    if keyword == "HEALTHCHECK":
        sub, _, command = rest.partition(" ")
        if sub.upper() == "NONE" and not command:
            return Instruction(keyword, line, flags, ("NONE",))
        if sub.upper() != "CMD" or not command.strip():
            raise DockerfileError(f"line {line}: HEALTHCHECK needs CMD <command> or NONE")
        inner = parse_instruction(line, "CMD " + command.strip())
        return Instruction(keyword, line, flags, ("CMD",), command=inner)
    args, exec_form = _arguments(keyword, rest, line)
    if not args or args == ("",):
        raise DockerfileError(f"line {line}: {keyword} without arguments")
    return Instruction(keyword, line, flags, args, exec_form)


def parse(text: str) -> list[Stage]:
    """The stages of a Dockerfile, in order; instructions before the first FROM must be ARGs."""
    stages: list[Stage] = []
    current: list[Instruction] | None = None
    image = ""
    name: str | None = None
    for line, joined in logical_lines(text):
        instruction = parse_instruction(line, joined)
        if instruction.keyword == "FROM":
            if current is not None:
                stages.append(Stage(image, name, tuple(current)))
            args = instruction.args
            if len(args) == 3 and args[1].upper() == "AS":
                image, name = args[0], args[2]
            elif len(args) == 1:
                image, name = args[0], None
            else:
                raise DockerfileError(f"line {line}: FROM <image> [AS <name>] expected")
            current = [instruction]
        elif current is None:
            if instruction.keyword != "ARG":
                raise DockerfileError(f"line {line}: {instruction.keyword} before the first FROM")
        else:
            current.append(instruction)
    if current is None:
        raise DockerfileError("no FROM instruction")
    stages.append(Stage(image, name, tuple(current)))
    return stages


def env_pairs(instruction: Instruction) -> dict[str, str]:
    """ENV KEY=VALUE ... (the legacy `ENV KEY VALUE` form too)."""
    args = instruction.args
    if all("=" in a for a in args):
        return dict(a.split("=", 1) for a in args)
    if len(args) >= 2 and "=" not in args[0]:
        return {args[0]: " ".join(args[1:])}
    raise DockerfileError(f"line {instruction.line}: ENV mixes KEY=VALUE and KEY VALUE forms")
