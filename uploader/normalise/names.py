"""Canonical commodity symbols and human station names from the game's symbols."""

from __future__ import annotations

# The game writes a commodity three ways (journals/README quirk 13): "$aluminium_name;" (depot,
# Market.json), "$CMMComposite_name;" (contribution) and "cmmcomposite" (trade, cargo).
_NAME_SUFFIX = "_name;"
_COLONY_SHIP = "$EXT_PANEL_ColonisationShip"
_COLONY_SHIP_TEXT = "System Colonisation Ship"


def canonical_commodity(symbol: str) -> str:
    """Lower case, no leading `$`, no trailing `_name;`: the key every commodity is stored under."""
    name = symbol.strip().lower()
    if name.startswith("$"):
        name = name[1:]
    if name.endswith(_NAME_SUFFIX):
        name = name[: -len(_NAME_SUFFIX)]
    return name


def _symbol_text(symbol: str) -> str:
    """`$EXT_PANEL_ColonisationShip:#index=1; Dupont Territories` -> "Dupont Territories" ("" if none)."""
    _, sep, rest = symbol.partition(";")
    return rest.strip() if sep else ""


def station_display_name(name: str | None, localised: str | None = None) -> str | None:
    """The name a person reads: `*_Localised` when the game gave one, never a raw `$...;` symbol.

    Colony ports keep the `$EXT_PANEL_ColonisationShip;` prefix (quirk 15); they become
    "System Colonisation Ship" or "System Colonisation Ship: <the architect's name>".
    """
    readable = localised if localised and not localised.startswith("$") else None
    if name and name.startswith(_COLONY_SHIP):
        # The localised text drops the architect's name that follows the symbol: keep both.
        base = readable or _COLONY_SHIP_TEXT
        text = _symbol_text(name)
        return f"{base}: {text}" if text else base
    if readable:
        return readable
    if not name:
        return None
    if not name.startswith("$"):
        return name
    text = _symbol_text(name)
    if text:
        return text
    # An unknown symbol with no text: its core, readable enough and never the raw `$...;` form.
    core = name[1:].split(";", 1)[0].split(":", 1)[0]
    return core.replace("_", " ").strip() or None
