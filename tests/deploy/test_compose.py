"""deploy/compose.yaml and deploy/Caddyfile, read without a container engine: they parse, name files
that exist, and agree with the Dockerfile (volume, port, health check) and with each other."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from tests.deploy._dockerfile import env_pairs, parse

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def image_env() -> dict[str, str]:
    final = parse((DEPLOY / "Dockerfile").read_text(encoding="utf-8"))[-1]
    env: dict[str, str] = {}
    for instruction in final.all("ENV"):
        env.update(env_pairs(instruction))
    return env


def test_services_are_the_bot_and_caddy(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"bot", "caddy"}


def test_bot_builds_from_the_repository_with_the_deploy_dockerfile(compose: dict[str, Any]) -> None:
    build = compose["services"]["bot"]["build"]
    context = (DEPLOY / build["context"]).resolve()
    assert context == REPO_ROOT
    assert (context / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    # BuildKit reads <Dockerfile>.dockerignore beside the Dockerfile named here.
    assert (context / (build["dockerfile"] + ".dockerignore")).is_file()


def test_settings_file_is_the_filled_in_example(compose: dict[str, Any]) -> None:
    env_file = compose["services"]["bot"]["env_file"]
    assert env_file == ".env"
    assert (DEPLOY / ".env.example").is_file(), "operators make .env from .env.example"


def test_bind_mounts_name_files_that_exist(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: the named volume {source} is not declared"


def test_database_lives_on_a_named_volume_at_the_images_volume(
    compose: dict[str, Any], image_env: dict[str, str]
) -> None:
    bot = compose["services"]["bot"]
    db_path = bot["environment"]["COLONY_DB_PATH"]
    assert db_path == image_env["COLONY_DB_PATH"]
    mounts = dict(v.split(":", 1) for v in bot["volumes"])
    assert mounts == {"colony-data": str(PurePosixPath(db_path).parent)}


def test_only_caddy_is_reachable_from_outside(compose: dict[str, Any]) -> None:
    bot, caddy = compose["services"]["bot"], compose["services"]["caddy"]
    assert "ports" not in bot
    assert bot["environment"]["COLONY_HTTP_HOST"] == "0.0.0.0"  # within the compose network only
    published = {p.split(":")[0] for p in caddy["ports"]}
    assert published == {"80", "443"}


def test_caddy_waits_for_the_bots_health_check(compose: dict[str, Any]) -> None:
    assert compose["services"]["caddy"]["depends_on"] == {"bot": {"condition": "service_healthy"}}
    # service_healthy needs a health check: the image's (test_dockerfile checks it asks /api/v1/health).
    assert "HEALTHCHECK" in (DEPLOY / "Dockerfile").read_text(encoding="utf-8")


def test_both_services_restart_by_themselves(compose: dict[str, Any]) -> None:
    for service in compose["services"].values():
        assert service["restart"] == "unless-stopped"


def test_bot_gets_longer_to_stop_than_its_own_shutdown_timeout(compose: dict[str, Any]) -> None:
    grace = compose["services"]["bot"]["stop_grace_period"]
    assert re.fullmatch(r"\d+s", grace)
    timeout = re.search(
        r"^# COLONY_SHUTDOWN_TIMEOUT_SECONDS=([\d.]+)$",
        (DEPLOY / ".env.example").read_text(encoding="utf-8"),
        re.MULTILINE,
    )
    assert timeout is not None
    assert int(grace[:-1]) > float(timeout.group(1))


def test_caddy_proxies_the_api_to_the_bots_port(compose: dict[str, Any]) -> None:
    caddyfile = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    code = "\n".join(line.split("#", 1)[0] for line in caddyfile.splitlines())
    assert code.count("{") == code.count("}"), "unbalanced braces in the Caddyfile"
    targets = re.findall(r"reverse_proxy\s+(\S+)", code)
    port = compose["services"]["bot"]["environment"]["COLONY_HTTP_PORT"]
    assert targets == [f"bot:{port}"]
    assert "handle /api/v1/*" in code
    mount = next(v for v in compose["services"]["caddy"]["volumes"] if v.startswith("./Caddyfile:"))
    assert mount.split(":")[1] == "/etc/caddy/Caddyfile"


def test_caddy_serves_the_public_url_from_the_settings_file(compose: dict[str, Any]) -> None:
    caddyfile = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    site = next(line for line in caddyfile.splitlines() if line and not line.startswith(("#", "\t", " ")))
    assert site == "{$COLONY_PUBLIC_URL} {"
    passed = compose["services"]["caddy"]["environment"]["COLONY_PUBLIC_URL"]
    assert passed.startswith("${COLONY_PUBLIC_URL:?"), "compose must refuse to start without it"
    example = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    url = re.search(r"^COLONY_PUBLIC_URL=(\S+)$", example, re.MULTILINE)
    assert url is not None, "the example must set COLONY_PUBLIC_URL: Caddy's site address"
    # A Caddy site address: scheme and host only (a path would become a path matcher).
    assert re.fullmatch(r"https://[a-z0-9.-]+", url.group(1))


def test_every_interpolated_variable_is_in_the_example(compose: dict[str, Any]) -> None:
    text = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    variables = set(re.findall(r"\$\{([A-Z0-9_]+)", code))
    example = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    assert variables
    for name in variables:
        assert re.search(rf"^{name}=", example, re.MULTILINE), name
