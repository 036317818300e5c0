"""Reader + normaliser over the real journals of ../shared/journals.

The expected figures were derived from the files by hand (grep / python one-liners noted beside
each), not from this code.
"""

from __future__ import annotations

import itertools
import shutil
from collections import Counter
from pathlib import Path

import pytest

from uploader.journal.reader import fingerprint, read_complete_lines
from uploader.normalise.normaliser import Normaliser, NormaliserState
from wire import (
    Batch,
    CommanderEvent,
    ContributionEvent,
    DepotEvent,
    DockedEvent,
    KnownEvent,
    LocationEvent,
)

pytestmark = pytest.mark.uploader_only

APRIL = "ed-journals/Journal.2025-04-08T215854.01.log"
JUNE = "ed-journals/Journal.2025-06-20T213114.01.log"
COMPLETION = "ed-journals/excerpt_Journal.2025-04-11T181749.01_lines610-845_completion.log"
SHIP_ID = 3958981890
SYSTEM = "Col 285 Sector GF-F b12-5"


def normalise(path: Path, normaliser: Normaliser | None = None, max_bytes: int = 8 << 20) -> list[KnownEvent]:
    """Backfill one finished file the way the tailer does: chunked reads, one normaliser."""
    n = normaliser or Normaliser()
    fp = fingerprint(path)
    assert fp is not None
    events: list[KnownEvent] = []
    offset = 0
    while True:
        chunk = read_complete_lines(path, offset, max_bytes, final=True)
        if chunk.next_offset == offset:
            return events
        events.extend(n.feed(path.name, fp, chunk.lines))
        offset = chunk.next_offset


def dumps(events: list[KnownEvent]) -> list[dict[str, object]]:
    return [e.model_dump(mode="json") for e in events]


def test_every_sample_file_is_read_and_normalised_without_error(samples: Path) -> None:
    files = sorted(samples.rglob("*.log"))
    assert len(files) >= 14
    kinds: Counter[str] = Counter()
    for path in files:
        n = Normaliser()
        raw = path.read_bytes()
        events = normalise(path, n)
        stats = n.stats
        assert stats.invalid == 0, path.name
        # Every non-blank line was seen once (NULs and terminators aside).
        expected_lines = sum(1 for line in raw.split(b"\n") if line.strip(b"\x00\r\n \t"))
        assert stats.lines == expected_lines, path.name
        assert stats.events == len(events)
        kinds.update(e.kind for e in events)
        if events:  # and they make a valid wire batch, as the bot will validate it
            batch = Batch(batch_id="b", uploader_version="0", platform="test", events=events[:5000])
            assert Batch.model_validate_json(batch.model_dump_json()) == batch
    # The samples between them exercise nearly every kind (market needs Market.json: see the unit tests).
    assert set(kinds) >= {
        "depot", "contribution", "system_claim", "system_claim_release", "beacon_deployed",
        "construction_complete", "docked", "undocked", "location", "fsd_jump", "carrier_jump",
        "commander", "loadout", "cargo", "market_buy", "market_sell", "cargo_transfer", "carrier_stats",
        "carrier_location", "carrier_jump_request", "carrier_jump_cancelled", "carrier_trade_order",
        "carrier_deposit_fuel", "shutdown",
    }  # fmt: skip


def test_april_contributions_tonnes_and_commander(samples: Path) -> None:
    events = normalise(samples / APRIL)
    # grep -c '"event":"ColonisationContribution"' → 13, each `"$Titanium_name;" ... "Amount":776`.
    contributions = [e for e in events if isinstance(e, ContributionEvent)]
    assert len(contributions) == 13
    tonnes: Counter[str] = Counter()
    for c in contributions:
        assert c.market_id == SHIP_ID
        for item in c.items:
            tonnes[item.name] += item.amount
    assert tonnes == {"titanium": 13 * 776}
    # grep '"event":"Commander"' → {"FID":"F123456789","Name":"TEST"}
    (commander,) = [e for e in events if isinstance(e, CommanderEvent)]
    assert (commander.name, commander.fid) == ("TEST", "F123456789")
    assert all(e.commander == "TEST" for e in events)


def test_april_last_depot_snapshot_and_the_site_docked_at(samples: Path) -> None:
    events = normalise(samples / APRIL)
    depots = [e for e in events if isinstance(e, DepotEvent)]
    # 188 depot lines; 27 differ from the previous one or follow a new dock (one-liner in the report).
    assert len(depots) == 27
    last = depots[-1]
    # grep '"event":"ColonisationConstructionDepot"' | tail -1 (2025-04-09T00:37:58Z)
    assert last.timestamp.isoformat() == "2025-04-09T00:37:58+00:00"
    assert (last.market_id, last.progress, last.complete, last.failed) == (SHIP_ID, 0.579499, False, False)
    amounts = {r.name: (r.required, r.provided) for r in last.resources}
    assert len(amounts) == 19
    assert amounts["titanium"] == (40525, 21908)
    assert amounts["steel"] == (67540, 42730)
    assert amounts["cmmcomposite"] == (50030, 28422)
    assert amounts["aluminium"] == (44827, 44827)
    assert amounts["liquidoxygen"] == (17397, 0)
    assert {r.name: r.name_localised for r in last.resources}["liquidoxygen"] == "Liquid oxygen"
    # Progress is the tonnage ratio (journals/README §3.1), checked here on the real figures.
    required = sum(r.required for r in last.resources)
    provided = sum(r.provided for r in last.resources)
    assert round(provided / required, 6) == last.progress
    # The docking that preceded it: `"StationName":"$EXT_PANEL_ColonisationShip:#index=1;",
    # "StationName_Localised":"System Colonisation Ship"`, StarSystem "Col 285 Sector GF-F b12-5".
    assert (last.station_name, last.station_type) == ("System Colonisation Ship", "SurfaceStation")
    assert (last.system_name, last.system_address) == (SYSTEM, 11668486497665)
    docks = [e for e in events if isinstance(e, DockedEvent)]
    # grep '"event":"Docked"': 13 at the colonisation ship, 8 at Coelho Hub, 21 at the carrier H5L-69X.
    assert Counter(d.station_name for d in docks) == {
        "System Colonisation Ship": 13,
        "Coelho Hub": 8,
        "H5L-69X": 21,
    }
    assert [d.construction_site for d in docks if d.market_id == SHIP_ID] == [True] * 13
    assert not any(d.construction_site for d in docks if d.market_id != SHIP_ID)
    assert (
        "$EXT_PANEL"
        not in Batch(batch_id="b", uploader_version="0", platform="t", events=events).model_dump_json()
    )


def test_completion_excerpt_complete_flag_and_stale_depots_at_the_new_port(samples: Path) -> None:
    events = normalise(samples / COMPLETION)
    depots = [e for e in events if isinstance(e, DepotEvent)]
    # uniq over (MarketID, progress, complete) shows 7 runs; one more is sent again after a re-dock.
    assert len(depots) == 8
    done = [d for d in depots if d.complete]
    assert done
    assert all(d.progress == 1.0 and d.market_id == SHIP_ID for d in done)
    assert not any(d.complete for d in depots if d.progress < 1.0)
    # Quirk 22: after completion the ship's depot kept coming while docked at "Derekas Platform"
    # (MarketID 4236216323): those carry no station of their own, only where the commander was.
    stale = [d for d in depots if d.at_market_id == 4236216323]
    assert stale
    assert all(d.market_id == SHIP_ID and d.station_name is None for d in stale)
    contributions = [e for e in events if isinstance(e, ContributionEvent)]
    # grep: Steel 776 then Steel 660.
    assert [(c.items[0].name, c.items[0].amount) for c in contributions] == [("steel", 776), ("steel", 660)]


def test_june_login_docked_at_a_planetary_site(samples: Path) -> None:
    events = normalise(samples / JUNE)
    (commander,) = [e for e in events if isinstance(e, CommanderEvent)]
    assert commander.name == "VLADHC"  # grep '"event":"Commander"'
    (depot,) = [e for e in events if isinstance(e, DepotEvent)]  # 7 lines, all the same snapshot
    assert depot.market_id == 4256179715
    site_location = [e for e in events if isinstance(e, LocationEvent) and e.market_id == 4256179715]
    assert len(site_location) == 1
    assert site_location[0].construction_site
    assert depot.station_name == "Planetary Construction Site: Zhao Drilling Base"
    assert depot.station_type == "PlanetaryConstructionDepot"


def test_a_corrupt_line_in_the_middle_of_a_real_file_loses_nothing_else(
    samples: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = samples / APRIL
    data = source.read_bytes()
    middle = data.index(b"\n", len(data) // 2) + 1
    # A line cut mid-JSON as one real journal kept (quirk 6), then a line that is not JSON at all.
    corrupt = b'{"timestamp":"2025-04-08T22:00:00Z","event":"FSDJump","StarSystem":"An\n\x00\x00garbage\n'
    broken = tmp_path / source.name
    broken.write_bytes(data[:middle] + corrupt + data[middle:])
    n = Normaliser()
    with caplog.at_level("WARNING", logger="uploader.normalise.normaliser"):
        got = normalise(broken, n)
    expected = normalise(source)
    # Everything else is the same; ids and offsets after the insert moved with the bytes.
    strip = {"id", "offset"}
    assert [e.model_dump(exclude=strip) for e in got] == [e.model_dump(exclude=strip) for e in expected]
    assert n.stats.invalid == 2
    garbage_at = middle + corrupt.index(b"\x00")  # the NULs are stripped, the offset is the file's
    assert [r.getMessage() for r in caplog.records] == [
        f"skipping line of {source.name} at byte {middle}: not a complete JSON object",
        f"skipping line of {source.name} at byte {garbage_at}: not a JSON object",
    ]


def test_same_line_read_from_different_offsets_has_the_same_id(samples: Path) -> None:
    # The uploader resumes mid-file with the normaliser state it saved beside the offset (the
    # ids carry the commander the file named before the line): so does this second read.
    path = samples / APRIL
    whole = read_complete_lines(path, 0, final=True).lines
    middle = whole[len(whole) // 2].offset
    fp = fingerprint(path)
    assert fp is not None
    before = Normaliser()
    before.feed(path.name, fp, [line for line in whole if line.offset < middle])
    saved = NormaliserState.model_validate_json(before.state.model_dump_json())
    later = read_complete_lines(path, middle, 200_000).lines  # another start, another chunk size
    first_ids = {e.offset: e.id for e in Normaliser().feed(path.name, fp, whole)}
    second_ids = {e.offset: e.id for e in Normaliser(saved).feed(path.name, fp, later)}
    shared = first_ids.keys() & second_ids.keys()
    assert len(shared) > 20
    assert all(first_ids[o] == second_ids[o] for o in shared)
    assert len(set(first_ids.values())) == len(first_ids)  # and distinct lines, distinct ids


@pytest.mark.parametrize("name", [APRIL, JUNE, COMPLETION])
def test_whole_read_equals_seven_growing_chunks(samples: Path, tmp_path: Path, name: str) -> None:
    source = samples / name
    data = source.read_bytes()
    expected = dumps(normalise(source))
    live = tmp_path / source.name
    live.write_bytes(b"")
    n = Normaliser()
    got: list[KnownEvent] = []
    offset = 0
    # Seven appends cut at arbitrary bytes (mid-line, mid-CRLF), read after each like the tailer.
    cuts = [0, 1, len(data) // 9, len(data) // 3 + 7, len(data) // 2 + 1, len(data) * 2 // 3, len(data) - 3]
    cuts.append(len(data))
    for piece, (start, end) in enumerate(itertools.pairwise(cuts)):
        with live.open("ab") as f:
            f.write(data[start:end])
        fp = fingerprint(live)
        if fp is None:
            continue  # not even a first line yet
        finished = piece == len(cuts) - 2  # the game moved on: the unterminated tail is whole
        while True:
            chunk = read_complete_lines(live, offset, final=finished)
            if chunk.next_offset == offset:
                break
            got.extend(n.feed(live.name, fp, chunk.lines))
            offset = chunk.next_offset
    assert offset == len(data)
    assert dumps(got) == expected


def test_state_json_round_trip_mid_file_gives_identical_results(samples: Path, tmp_path: Path) -> None:
    path = samples / APRIL
    expected = dumps(normalise(path))
    lines = read_complete_lines(path, 0, final=True).lines
    fp = fingerprint(path)
    assert fp is not None
    for cut in (len(lines) // 3, len(lines) // 2, len(lines) - 5):
        first = Normaliser()
        events = first.feed(path.name, fp, lines[:cut])
        saved = first.state.model_dump_json()
        second = Normaliser(NormaliserState.model_validate_json(saved))
        events += second.feed(path.name, fp, lines[cut:])
        assert dumps(events) == expected, cut


def test_files_in_sequence_carry_the_commander_and_place(samples: Path, tmp_path: Path) -> None:
    # The completion excerpt has no Commander line: a normaliser carried over from the April file
    # (same commander's timeline) attaches it.
    n = Normaliser()
    normalise(samples / APRIL, n)
    later = tmp_path / "Journal.2025-04-11T181749.01.log"
    shutil.copy(samples / COMPLETION, later)
    events = normalise(later, n)
    assert events
    assert all(e.commander == "TEST" for e in events)
    assert events[0].at_system == SYSTEM
