"""Where the game writes its journals.

Windows: `%USERPROFILE%\\Saved Games\\Frontier Developments\\Elite Dangerous`. Linux: the same folder
inside the Proton prefix of app 359320, under any Steam library (native Steam or Flatpak Steam).
`COLONY_UPLOADER_JOURNAL_DIR` overrides all of it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

APP_ID = "359320"
_GAME_DIR = ("Saved Games", "Frontier Developments", "Elite Dangerous")
_PROTON_USER = ("pfx", "drive_c", "users", "steamuser")
# Steam roots relative to the home folder: native installs, then the Flatpak sandbox.
_STEAM_ROOTS = (
    ".steam/steam",
    ".steam/root",
    ".local/share/Steam",
    ".var/app/com.valvesoftware.Steam/.local/share/Steam",
    ".var/app/com.valvesoftware.Steam/data/Steam",
)
_LIBRARY_PATH = re.compile(r'^\s*"path"\s*"((?:[^"\\]|\\.)*)"', re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Located:
    path: Path | None  # the journal folder, or None when nothing was found
    how: str  # "configured", "Windows Saved Games", "Steam/Proton (…)", or "not found"
    candidates: tuple[Path, ...]  # every place looked at, for `doctor`


def steam_libraries(steam_root: Path) -> list[Path]:
    """The root itself plus every library listed in its `steamapps/libraryfolders.vdf`."""
    libraries = [steam_root]
    vdf = steam_root / "steamapps" / "libraryfolders.vdf"
    try:
        text = vdf.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return libraries
    for match in _LIBRARY_PATH.finditer(text):
        path = Path(match.group(1).replace("\\\\", "\\"))
        if path not in libraries:
            libraries.append(path)
    return libraries


def candidates(home: Path, environ: Mapping[str, str], platform: str) -> list[Path]:
    """Every folder the journals may be in, most likely first."""
    if platform.startswith("win"):
        profile = environ.get("USERPROFILE")
        base = Path(profile) if profile else home
        return [base.joinpath(*_GAME_DIR)]
    found: list[Path] = []
    for relative in _STEAM_ROOTS:
        root = home / PurePosixPath(relative)
        for library in steam_libraries(root):
            path = library.joinpath("steamapps", "compatdata", APP_ID, *_PROTON_USER, *_GAME_DIR)
            if path not in found:
                found.append(path)
    return found


def locate(configured: Path | None, home: Path, environ: Mapping[str, str], platform: str) -> Located:
    """The journal folder: the configured one, else the first candidate that exists."""
    if configured is not None:
        return Located(configured, "configured", (configured,))
    places = tuple(candidates(home, environ, platform))
    for path in places:
        if path.is_dir():
            windows = platform.startswith("win")
            how = "Windows Saved Games" if windows else f"Steam/Proton ({_steam_kind(path)})"
            return Located(path, how, places)
    return Located(None, "not found", places)


def _steam_kind(path: Path) -> str:
    return "Flatpak Steam" if "com.valvesoftware.Steam" in path.parts else "Steam"


def windows_default(userprofile: str) -> PureWindowsPath:
    """The documented Windows folder, for messages on any platform."""
    return PureWindowsPath(userprofile).joinpath(*_GAME_DIR)
