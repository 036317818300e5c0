"""deploy/Dockerfile, read without a container engine: it parses, names paths that exist, runs as
a non-root user, keeps the database on a volume and checks /api/v1/health with python's urllib."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from tests.deploy._dockerfile import DockerfileError, Stage, env_pairs, logical_lines, parse

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
# compose.yaml builds with the repository root as context (test_compose checks that it does).
CONTEXT = REPO_ROOT


def ignore_patterns(path: Path) -> list[str]:
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def ignored(relative: str, patterns: list[str]) -> bool:
    """Approximates .dockerignore matching (no `!` exceptions, which we do not use)."""
    path = PurePosixPath(relative)
    candidates = [str(path), *(str(p) for p in path.parents if str(p) != ".")]
    for pattern in patterns:
        if pattern.startswith("!"):
            raise AssertionError("`!` exceptions are not understood by this check")
        variants = [pattern.rstrip("/"), *([pattern[3:]] if pattern.startswith("**/") else [])]
        if any(fnmatch.fnmatchcase(c, v) for c in candidates for v in variants):
            return True
    return False


def problems(stages: list[Stage], context: Path, patterns: list[str], pyproject: dict[str, Any]) -> list[str]:
    """Everything wrong with a parsed Dockerfile, as readable sentences (empty when all is well)."""
    found: list[str] = []
    if len(stages) < 2:
        found.append("not multi-stage: one FROM only")
    names: set[str] = set()
    for stage in stages:
        if not stage.image.split(":", 1)[-1].count("slim"):
            found.append(f"stage {stage.name or stage.image}: base image {stage.image} is not a slim one")
        for copy in stage.all("COPY") + stage.all("ADD"):
            sources = copy.args[:-1]
            if not sources:
                found.append(f"line {copy.line}: {copy.keyword} without a source")
            if "from" in copy.flags:
                if copy.flags["from"] not in names:
                    found.append(f"line {copy.line}: COPY --from={copy.flags['from']} names no earlier stage")
                continue
            for source in sources:
                if not list(context.glob(source)):
                    found.append(f"line {copy.line}: COPY source {source} does not exist in the context")
                elif ignored(source, patterns):
                    found.append(f"line {copy.line}: COPY source {source} is excluded by the dockerignore")
        if stage.name:
            names.add(stage.name)
    final = stages[-1]
    user = final.last("USER")
    if user is None:
        found.append("the final stage sets no USER: it would run as root")
    elif user.args[0].split(":")[0] in {"root", "0"}:
        found.append(f"line {user.line}: USER {user.args[0]} is root")
    env: dict[str, str] = {}
    for instruction in final.all("ENV"):
        env.update(env_pairs(instruction))
    db_dir = str(PurePosixPath(env.get("COLONY_DB_PATH", "")).parent)
    volumes = {v for i in final.all("VOLUME") for v in i.args}
    if db_dir not in volumes:
        found.append(f"the database folder {db_dir!r} (COLONY_DB_PATH) is not a VOLUME ({sorted(volumes)})")
    port = env.get("COLONY_HTTP_PORT")
    exposed = {a.split("/")[0] for i in final.all("EXPOSE") for a in i.args}
    if port is None or port not in exposed:
        found.append(f"COLONY_HTTP_PORT {port} is not EXPOSEd ({sorted(exposed)})")
    check = final.last("HEALTHCHECK")
    if check is None or check.command is None:
        found.append("the final stage has no HEALTHCHECK CMD")
    else:
        text = " ".join(check.command.args)
        if "/api/v1/health" not in text:
            found.append("the HEALTHCHECK does not ask /api/v1/health")
        if "urllib" not in text or any(tool in text.split() for tool in ("curl", "wget")):
            found.append("the HEALTHCHECK must use python's urllib (no curl in a slim image)")
    entrypoint = final.last("ENTRYPOINT")
    scripts = pyproject["project"]["scripts"]
    if entrypoint is None or entrypoint.args[0] not in scripts:
        found.append(f"the ENTRYPOINT is not one of the project's commands {sorted(scripts)}")
    extras = pyproject["project"]["optional-dependencies"]
    for stage in stages:
        for run in stage.all("RUN"):
            for extra in _extras(" ".join(run.args)):
                if extra not in extras:
                    found.append(f"line {run.line}: installs the unknown extra [{extra}]")
    return found


def _extras(command: str) -> list[str]:
    return [e.strip() for group in re.findall(r"\.\[([a-z,\s]+)\]", command) for e in group.split(",")]


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads(read(REPO_ROOT / "pyproject.toml"))


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(read(DOCKERFILE))


def test_dockerfile_has_no_problems(stages: list[Stage], pyproject: dict[str, Any]) -> None:
    patterns = ignore_patterns(DEPLOY / "Dockerfile.dockerignore")
    assert problems(stages, CONTEXT, patterns, pyproject) == []


def test_image_carries_the_bot_and_the_contract_but_not_the_uploader(stages: list[Stage]) -> None:
    copied = {a.rstrip("/").lstrip("./") for i in stages[0].all("COPY") for a in i.args[:-1]}
    assert {"pyproject.toml", "README.md", "wire", "bot"} <= copied
    assert "uploader" not in copied


def test_runtime_stage_takes_the_virtualenv_from_the_build_stage(stages: list[Stage]) -> None:
    build, runtime = stages[0], stages[-1]
    copies = [i for i in runtime.all("COPY") if i.flags.get("from") == build.name]
    assert [c.args for c in copies] == [("/opt/venv", "/opt/venv")]
    assert stages[0].image == runtime.image, "both stages must share the interpreter the venv links to"


def test_secrets_and_local_state_stay_out_of_the_build_context() -> None:
    patterns = ignore_patterns(DEPLOY / "Dockerfile.dockerignore")
    for path in (
        ".env",
        "deploy/.env",
        "colony.db",
        "deploy/colony.db-wal",
        ".git/config",
        "bot/__pycache__",
    ):
        assert ignored(path, patterns), path
    assert not ignored("bot/cli.py", patterns)


BAD = """\
# syntax=docker/dockerfile:1
FROM python:3.11 AS build
COPY no-such-file ./
FROM python:3.11-slim
COPY --from=nowhere /x /x
ENV COLONY_DB_PATH=/data/colony.db \\
    COLONY_HTTP_PORT=8750
RUN pip install ".[nosuch]"
USER root
HEALTHCHECK CMD curl -f http://127.0.0.1:8750/
ENTRYPOINT ["bash"]
"""


def test_problems_are_found_in_a_bad_dockerfile(pyproject: dict[str, Any], tmp_path: Path) -> None:
    found = problems(parse(BAD), tmp_path, [], pyproject)
    assert found == [
        "stage build: base image python:3.11 is not a slim one",
        "line 3: COPY source no-such-file does not exist in the context",
        "line 5: COPY --from=nowhere names no earlier stage",
        "line 9: USER root is root",
        "the database folder '/data' (COLONY_DB_PATH) is not a VOLUME ([])",
        "COLONY_HTTP_PORT 8750 is not EXPOSEd ([])",
        "the HEALTHCHECK does not ask /api/v1/health",
        "the HEALTHCHECK must use python's urllib (no curl in a slim image)",
        "the ENTRYPOINT is not one of the project's commands ['colony-bot', 'colony-uploader']",
        "line 8: installs the unknown extra [nosuch]",
    ]


def test_continuations_and_comments_join_into_one_instruction() -> None:
    text = "FROM a-slim\nRUN one \\\n# dropped\n    two \\\n\n    three\nUSER 1\n"
    assert logical_lines(text) == [(1, "FROM a-slim"), (2, "RUN one two three"), (7, "USER 1")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM a\nCOPYY x y\n", "line 2: unknown instruction 'COPYY'"),
        ('FROM a\nCMD ["python", \n', "line 2: CMD looks like JSON but is not"),
        ("FROM a\nRUN x \\\n", "line 2: the file ends inside a line continuation"),
        ("USER 1\nFROM a\n", "line 1: USER before the first FROM"),
        ("FROM a\nHEALTHCHECK --interval=5s\n", "line 2: HEALTHCHECK needs CMD <command> or NONE"),
        ("FROM a b c d\n", "line 1: FROM <image> [AS <name>] expected"),
        ("# only a comment\n", "no FROM instruction"),
    ],
)
def test_malformed_dockerfiles_are_refused_with_the_line(text: str, message: str) -> None:
    with pytest.raises(DockerfileError, match="^" + re.escape(message)):
        parse(text)


async def test_the_health_check_passes_on_a_running_bot_with_a_proxy_in_the_environment(
    tmp_path: Path,
) -> None:
    """Docker may give the container a proxy (the daemon's or ~/.docker/config.json's settings):
    urllib would send even 127.0.0.1 through it, and the bot never became healthy (so Caddy,
    which waits for it, never started). The command as written in the Dockerfile, run for real."""
    import asyncio
    import os
    import sys

    from tests.bot._helpers import make_settings, running_bot

    (stage,) = [s for s in parse(DOCKERFILE.read_text(encoding="utf-8")) if s.last("HEALTHCHECK")][-1:]
    check = stage.last("HEALTHCHECK")
    assert check is not None
    assert check.command is not None
    program, flag, code = check.command.args
    assert (program, flag) == ("python", "-c")
    async with running_bot(make_settings(tmp_path)) as bot:
        port = bot.client.port  # the real app on a loopback port
        env = {**os.environ, "COLONY_HTTP_PORT": str(port), "HTTP_PROXY": "http://127.0.0.1:9",
               "http_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": ""}  # fmt: skip
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, env=env, stderr=asyncio.subprocess.PIPE
        )
        _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()[-500:]
