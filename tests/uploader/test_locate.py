"""Finding the journal folder: configured, Windows Saved Games, Steam/Proton native and Flatpak."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from uploader.locate import locate, windows_saved_games

pytestmark = pytest.mark.uploader_only

GAME = Path("Saved Games") / "Frontier Developments" / "Elite Dangerous"
PREFIX = Path("steamapps/compatdata/359320/pfx/drive_c/users/steamuser")


def test_configured_wins_even_when_missing(tmp_path: Path) -> None:
    found = locate(tmp_path / "mine", tmp_path, {}, "linux")
    assert (found.path, found.how) == (tmp_path / "mine", "configured")


def test_windows_saved_games(tmp_path: Path) -> None:
    (tmp_path / "me" / GAME).mkdir(parents=True)
    found = locate(None, tmp_path / "elsewhere", {"USERPROFILE": str(tmp_path / "me")}, "win32")
    assert (found.path, found.how) == (tmp_path / "me" / GAME, "Windows Saved Games")


def test_native_steam_proton_prefix(tmp_path: Path) -> None:
    folder = tmp_path / ".local/share/Steam" / PREFIX / GAME
    folder.mkdir(parents=True)
    found = locate(None, tmp_path, {}, "linux")
    assert (found.path, found.how) == (folder, "Steam/Proton (Steam)")


def test_flatpak_steam(tmp_path: Path) -> None:
    folder = tmp_path / ".var/app/com.valvesoftware.Steam/.local/share/Steam" / PREFIX / GAME
    folder.mkdir(parents=True)
    found = locate(None, tmp_path, {}, "linux")
    assert (found.path, found.how) == (folder, "Steam/Proton (Flatpak Steam)")


def test_second_steam_library_from_libraryfolders_vdf(tmp_path: Path) -> None:
    library = tmp_path / "games" / "SteamLibrary"
    (library / PREFIX / GAME).mkdir(parents=True)
    vdf = tmp_path / ".steam/steam/steamapps/libraryfolders.vdf"
    vdf.parent.mkdir(parents=True)
    entry = f'\t"0"\n\t{{\n\t\t"path"\t\t"{library}"\n\t\t"apps" {{ "359320" "1" }}\n\t}}\n'
    vdf.write_text('"libraryfolders"\n{\n' + entry + "}\n", encoding="utf-8")
    found = locate(None, tmp_path, {}, "linux")
    assert found.path == library / PREFIX / GAME


def test_nothing_found_lists_every_place_looked(tmp_path: Path) -> None:
    found = locate(None, tmp_path, {}, "linux")
    assert found.path is None
    assert found.how == "not found"
    assert tmp_path / ".steam/steam" / PREFIX / GAME in found.candidates
    flatpak = tmp_path / ".var/app/com.valvesoftware.Steam/.local/share/Steam"
    assert flatpak / PREFIX / GAME in found.candidates


def test_windows_saved_games_where_windows_says_it_is(tmp_path: Path) -> None:
    """Saved Games moved to another drive (or redirected): the folder Windows knows comes first;
    the default under the profile is still looked at."""
    moved = tmp_path / "D" / "Games"
    (moved / "Frontier Developments" / "Elite Dangerous").mkdir(parents=True)
    environ = {"USERPROFILE": str(tmp_path / "me")}
    journals = moved / "Frontier Developments" / "Elite Dangerous"
    found = locate(None, tmp_path / "elsewhere", environ, "win32", saved_games=moved)
    assert (found.path, found.how) == (journals, "Windows Saved Games")
    assert found.candidates == (journals, tmp_path / "me" / GAME)
    usual = tmp_path / "me" / "Saved Games"
    unmoved = locate(None, tmp_path / "elsewhere", environ, "win32", saved_games=usual)
    assert unmoved.candidates == (tmp_path / "me" / GAME,)


def test_the_known_folder_lookup_is_windows_only() -> None:
    if sys.platform == "win32":
        assert windows_saved_games() is not None
    else:
        assert windows_saved_games() is None
