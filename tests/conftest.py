"""Shared test fixtures: where the real journal samples are, and whether they must be there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def samples_dir() -> Path:
    """The real journals (`../shared/journals`), overridable with COLONY_SAMPLES_DIR."""
    return Path(os.environ.get("COLONY_SAMPLES_DIR", REPO_ROOT.parent / "shared" / "journals"))


@pytest.fixture
def samples() -> Path:
    """The sample folder; skips with a reason where it is absent, fails in CI (COLONY_REQUIRE_SAMPLES)."""
    path = samples_dir()
    if not (path / "ed-journals").is_dir():
        reason = f"real journal samples not found at {path} (set COLONY_SAMPLES_DIR)"
        if os.environ.get("COLONY_REQUIRE_SAMPLES"):
            pytest.fail(reason + "; CI requires them")
        pytest.skip(reason)
    return path
