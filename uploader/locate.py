"""Where the game writes its journals.

Windows: `Frontier Developments\\Elite Dangerous` in the user's Saved Games folder, as Windows
knows it (moved to another drive or redirected, it is not `%USERPROFILE%\\Saved Games`; that one is
looked at second). Linux: the same folder
inside the Proton prefix of app 359320, under any Steam library (native Steam or Flatpak Steam).
`COLONY_UPLOADER_JOURNAL_DIR` overrides all of it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

APP_ID = "359320"
_GAME_DIR = ("Saved Games", "Frontier Developments", "Elite Dangerous")
_IN_SAVED_GAMES = _GAME_DIR[1:]
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


def candidates(
    home: Path, environ: Mapping[str, str], platform: str, saved_games: Path | None = None
) -> list[Path]:
    """Every folder the journals may be in, most likely first (`saved_games`: the Windows known
    folder, see `windows_saved_games`)."""
    if platform.startswith("win"):
        profile = environ.get("USERPROFILE")
        base = Path(profile) if profile else home
        places = [saved_games.joinpath(*_IN_SAVED_GAMES)] if saved_games is not None else []
        default = base.joinpath(*_GAME_DIR)
        return [*places, default] if default not in places else places
    found: list[Path] = []
    for relative in _STEAM_ROOTS:
        root = home / PurePosixPath(relative)
        for library in steam_libraries(root):
            path = library.joinpath("steamapps", "compatdata", APP_ID, *_PROTON_USER, *_GAME_DIR)
            if path not in found:
                found.append(path)
    return found


def locate(
    configured: Path | None,
    home: Path,
    environ: Mapping[str, str],
    platform: str,
    saved_games: Path | None = None,
) -> Located:
    """The journal folder: the configured one, else the first candidate that exists."""
    if configured is not None:
        return Located(configured, "configured", (configured,))
    places = tuple(candidates(home, environ, platform, saved_games))
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


if sys.platform == "win32":

    def windows_saved_games() -> Path | None:
        """The user's Saved Games folder as Windows knows it (SHGetKnownFolderPath), or None."""
        import ctypes
        from ctypes import wintypes

        class _Guid(ctypes.Structure):
            _fields_ = [
                ("data1", wintypes.DWORD),
                ("data2", wintypes.WORD),
                ("data3", wintypes.WORD),
                ("data4", ctypes.c_ubyte * 8),
            ]

        # FOLDERID_SavedGames: {4C5C32FF-BB9D-43B0-B5B4-2D72E54EAAA4}
        folder_id = _Guid(
            0x4C5C32FF, 0xBB9D, 0x43B0, (ctypes.c_ubyte * 8)(0xB5, 0xB4, 0x2D, 0x72, 0xE5, 0x4E, 0xAA, 0xA4)
        )
        found = ctypes.c_wchar_p()
        try:
            shell32 = ctypes.windll.shell32
            if shell32.SHGetKnownFolderPath(ctypes.byref(folder_id), 0, None, ctypes.byref(found)):
                return None
            return Path(found.value) if found.value else None
        except OSError:
            return None
        finally:
            ctypes.windll.ole32.CoTaskMemFree(found)

else:

    def windows_saved_games() -> Path | None:
        """Not Windows: no known folders."""
        return None
