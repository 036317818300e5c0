"""Autocomplete choices stay within Discord's rules whatever the names, and the commands re-check
what comes back."""

from __future__ import annotations

import pytest

from bot.discord.replies import (
    MAX_CHOICE_LENGTH,
    MAX_CHOICES,
    CommandError,
    find_site,
    site_choices,
    target_choices,
)
from bot.ids import typed_id
from tests.discord._states import hostile_site

SITES = [hostile_site(i, n_commodities=2) for i in range(200)]


@pytest.mark.parametrize("typed", ["", "bold", "0", "x" * 300])
def test_choices_are_at_most_25_of_at_most_100_characters(typed: str) -> None:
    for choices in (site_choices(SITES, typed), target_choices(SITES, typed)):
        assert len(choices) <= MAX_CHOICES
        for choice in choices:
            assert 1 <= len(choice.name) <= MAX_CHOICE_LENGTH
            assert 1 <= len(choice.value) <= MAX_CHOICE_LENGTH


def test_a_site_choice_value_finds_that_site_again() -> None:
    (choice, *_) = site_choices(SITES, "199")
    assert find_site(SITES, choice.value).market_id == int(choice.value)


def test_a_forged_value_is_refused_with_a_sentence() -> None:
    with pytest.raises(CommandError) as caught:
        find_site(SITES, "55555")
    assert str(caught.value) == (
        "No construction site matches \u201c55555\u201d: pick one from the list while typing, "
        "or see `/colony status`."
    )
    with pytest.raises(CommandError) as caught:
        find_site(SITES, "bold")
    assert str(caught.value) == "200 sites match \u201cbold\u201d: pick one from the list while typing."
    for forged in ("\u00b2", "9" * 30):  # digits int() refuses, a number past 64 bits
        with pytest.raises(CommandError, match="No construction site matches"):
            find_site(SITES, forged)


def test_a_picked_system_with_a_name_longer_than_a_value_is_found_again() -> None:
    """Discord gives an option value of at most 100 characters back: a longer system name comes
    back cut, and named no system (the wire allows 512). The one system it begins is meant; a
    cut that two systems begin names neither."""
    from bot.discord.replies import system_choices
    from bot.domain.aggregates import find_system

    long_name = "Long " * 25 + "Sector AB-C d1-23"  # 142 characters
    sites = [
        hostile_site(1).model_copy(update={"system_name": long_name, "complete": False, "failed": False}),
        hostile_site(2).model_copy(update={"system_name": "Col 285 Sector GF-F b12-5"}),
    ]
    (picked,) = [c for c in system_choices(sites, "Long") if c.name.startswith("Long")]
    (target,) = [c for c in target_choices(sites, "Long") if c.value.startswith("system:")]
    for value in (picked.value, target.value.removeprefix("system:")):
        found = find_system(value, sites)
        assert found is not None
        assert found[0] == long_name
    twin = hostile_site(3).model_copy(update={"system_name": long_name + " twin"})
    assert find_system(picked.value, [*sites, twin]) is None
    assert find_system("long", sites) is None  # a short text is a name, not a cut one


@pytest.mark.parametrize(
    ("text", "value"),
    [("3958981890", 3958981890), (" 12 ", 12), ("9223372036854775807", 2**63 - 1),
     ("9223372036854775808", None), ("99999999999999999999", None), ("\u00b2", None), ("-1", None),
     ("1_000", None), ("", None), ("12a", None), ("\u0661\u0662", None)],
)  # fmt: skip
def test_a_typed_id_is_ascii_digits_a_store_can_hold(text: str, value: int | None) -> None:
    assert typed_id(text) == value
