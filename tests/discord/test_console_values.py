"""`colony-bot console` lines whose values hold `word:` (every construction site is "... Construction
Site: X", and autocomplete's values are "system:NAME"), and the console's own live messages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.console import ConsoleError, parse
from bot.discord.haul import HaulCog
from bot.services.bundle import build_services
from bot.store.db import Database
from tests.discord._filled import APRIL, Journal, fill
from tests.discord.test_cli import _run_main, settings


def test_a_site_name_typed_in_lower_case_is_not_taken_for_an_option() -> None:
    assert parse("/colony needs orbital construction site: vela").options == {
        "target": "orbital construction site: vela"
    }


def test_autocompletes_system_value_typed_bare_is_not_taken_for_an_option() -> None:
    assert parse("/colony follow system:Col 285 Sector GF-F b12-5").options == {
        "target": "system:Col 285 Sector GF-F b12-5"
    }
    board = parse("/haul board system:Col 285", group="haul", cog=HaulCog)
    assert board.options == {"target": "system:Col 285"}


def test_a_misspelt_option_after_a_real_one_is_still_refused() -> None:
    with pytest.raises(ConsoleError, match=r"^/haul claim has no option sitee: its options are"):
        parse("/haul claim steel tonnes:5 sitee:Vela", group="haul", cog=HaulCog)


@pytest.mark.samples
async def test_the_consoles_live_message_counts_trips_in_the_hold_colony_site_uses(
    tmp_path: Path, samples: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A follow made in the console prints its live message at once: trips in the same hold as
    `/colony site`, not the 794 t default for no known hold."""
    db = Database(tmp_path / "colony.db")
    await db.open()
    await fill(await build_services(db), samples / APRIL)
    await db.close()
    ((market_id, _),) = Journal.read(samples / APRIL).depot.items()
    lines = [f"/colony site {market_id}", f"/colony follow {market_id}"]
    argv = ["console", "--channel", "2002", *(arg for line in lines for arg in ("-c", line))]
    assert await _run_main(argv, settings(tmp_path)) == 0
    site_reply, follow = capsys.readouterr().out.split("> /colony follow", 1)
    (hold,) = set(re.findall(r"trips? of ([\d,]+) t", site_reply))
    assert set(re.findall(r"trips? of ([\d,]+) t", follow)) == {hold}
