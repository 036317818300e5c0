"""The uploader installs and runs without the bot's dependencies (DESIGN section 1)."""

from __future__ import annotations

import ast
import importlib.util
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.uploader_only

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"discord", "aiohttp", "aiosqlite", "bot"}


def _imported_roots(package: Path) -> set[str]:
    roots: set[str] = set()
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                roots.add(node.module.split(".")[0])
    return roots


def test_uploader_source_imports_no_bot_dependency() -> None:
    assert _imported_roots(ROOT / "uploader") & FORBIDDEN == set()


def test_wire_imports_nothing_else_of_ours() -> None:
    assert _imported_roots(ROOT / "wire") & {"bot", "uploader", "discord", "aiohttp", "aiosqlite"} == set()


def test_bot_does_not_import_uploader() -> None:
    assert "uploader" not in _imported_roots(ROOT / "bot")
    assert "watchdog" not in _imported_roots(ROOT / "bot")


@pytest.mark.skipif(
    not os.environ.get("COLONY_UPLOADER_ONLY"), reason="only meaningful in the uploader-only venv"
)
def test_uploader_only_environment_really_lacks_bot_packages() -> None:
    # Proves the CI step runs where discord.py, aiohttp and aiosqlite are absent.
    for name in ("discord", "aiohttp", "aiosqlite"):
        assert importlib.util.find_spec(name) is None, f"{name} is installed in the uploader-only venv"
    import uploader.normalise.normaliser  # noqa: F401  (imports cleanly without them)
