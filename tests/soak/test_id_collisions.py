"""Two commanders whose sessions start in the same second, with the same game build and language,
write byte-identical Fileheader lines; an identical later line at the same byte offset (an empty
`Cargo` at login, a depot snapshot of a shared site) once got the same event id in both journals,
and the bot, which keeps one event per id and guild, refused the second commander's event as a
duplicate: lost. The 50-commander soak met it a few times per run. Ids now carry the commander the
journal names; this holds it through the real bot.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.bot._helpers import batch, make_settings, running_bot
from uploader.journal.reader import split_lines
from uploader.normalise.normaliser import Normaliser
from wire import KnownEvent

HEADER = '{ "timestamp":"2031-06-01T18:30:52Z", "event":"Fileheader", "part":1, "language":"English/UK", "Odyssey":true, "gameversion":"4.2.1.0", "build":"r316941/r0 " }'  # noqa: E501


def _journal(name: str, fid: str) -> list[KnownEvent]:
    lines = [
        HEADER,
        json.dumps({"timestamp": "2031-06-01T18:30:57Z", "event": "Commander", "FID": fid, "Name": name}),
        json.dumps(
            {
                "timestamp": "2031-06-01T18:30:59Z",
                "event": "Cargo",
                "Vessel": "Ship",
                "Count": 0,
                "Inventory": [],
            }
        ),
    ]
    data = "".join(line + "\r\n" for line in lines).encode()
    fingerprint = "same first line, same fingerprint"
    return Normaliser().feed("Journal.2031-06-01T183052.01.log", fingerprint, split_lines(data, 0))


async def test_identical_lines_of_two_commanders_are_two_events(tmp_path: Path) -> None:
    ada, bob = _journal("Ada Quill", "F10000001"), _journal("Bob Quill", "F10000002")
    assert [e.kind for e in ada] == [e.kind for e in bob] == ["commander", "cargo"]
    async with running_bot(make_settings(tmp_path)) as bot_api:
        for events, user in ((ada, 1), (bob, 2)):
            token = await bot_api.token(guild=5, user=user)
            body = batch([json.loads(e.model_dump_json()) for e in events])
            assert (await bot_api.post(token, body))[0] == 200
        stored, _ = await bot_api.snapshot()
    assert stored == len(ada) + len(bob)  # was 3: Bob's Cargo refused as Ada's duplicate
