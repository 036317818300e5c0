"""Canonical commodity symbols and readable station names (journals/README quirks 13-15)."""

from __future__ import annotations

import pytest

from uploader.normalise.names import canonical_commodity, station_display_name

pytestmark = pytest.mark.uploader_only


@pytest.mark.parametrize(
    ("symbol", "canonical"),
    [
        ("$aluminium_name;", "aluminium"),  # depot, Market.json
        ("$CMMComposite_name;", "cmmcomposite"),  # contribution (CamelCase)
        ("$LiquidOxygen_name;", "liquidoxygen"),
        ("cmmcomposite", "cmmcomposite"),  # MarketBuy / Cargo / CargoTransfer
        ("Titanium", "titanium"),
        (" $steel_name; ", "steel"),
    ],
)
def test_canonical_commodity(symbol: str, canonical: str) -> None:
    assert canonical_commodity(symbol) == canonical


@pytest.mark.parametrize(
    ("name", "localised", "shown"),
    [
        ("Coelho Hub", None, "Coelho Hub"),
        ("$EXT_PANEL_ColonisationShip:#index=1;", "System Colonisation Ship", "System Colonisation Ship"),
        ("$EXT_PANEL_ColonisationShip:#index=1;", None, "System Colonisation Ship"),
        ("$EXT_PANEL_ColonisationShip;", None, "System Colonisation Ship"),
        (
            "$EXT_PANEL_ColonisationShip; Dupont Territories",
            None,
            "System Colonisation Ship: Dupont Territories",
        ),
        (
            "$EXT_PANEL_ColonisationShip:#index=2; Dupont Territories",
            "System Colonisation Ship",
            "System Colonisation Ship: Dupont Territories",
        ),
        ("Orbital Construction Site: Newton Vision", None, "Orbital Construction Site: Newton Vision"),
        ("$SOME_Future_Symbol;", None, "SOME Future Symbol"),
        ("$SOME_Future_Symbol; With Text", None, "With Text"),
        ("$SOME_Future_Symbol;", "Localised Text", "Localised Text"),
        ("Plain", "$still_a_symbol;", "Plain"),
        ("", None, None),
        (None, None, None),
    ],
)
def test_station_display_name_never_leaks_a_symbol(
    name: str | None, localised: str | None, shown: str | None
) -> None:
    result = station_display_name(name, localised)
    assert result == shown
    assert result is None or not result.startswith("$")
