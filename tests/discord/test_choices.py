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
