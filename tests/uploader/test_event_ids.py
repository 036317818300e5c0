"""Event ids: stable for one journal, distinct between commanders whose journals look alike."""

from __future__ import annotations

import json

import pytest

from uploader.journal.reader import event_id, split_lines
from uploader.normalise.normaliser import Normaliser, NormaliserState
from wire import KnownEvent

pytestmark = pytest.mark.uploader_only

HEADER = (
    '{ "timestamp":"2031-06-01T18:30:52Z", "event":"Fileheader", "part":1, "language":"English/UK", '
    '"Odyssey":true, "gameversion":"4.2.1.0", "build":"r316941/r0 " }'
)
CARGO = json.dumps({"timestamp": "2031-06-01T18:30:59Z", "event": "Cargo", "Vessel": "Ship", "Count": 0})
FP = "a" * 64  # both files start with the same Fileheader line: the same fingerprint


def _journal(name: str, fid: str | None) -> bytes:
    who = {"timestamp": "2031-06-01T18:30:57Z", "event": "Commander", "Name": name}
    if fid is not None:
        who["FID"] = fid
    # Same-length names keep every later line at the same byte offset in both journals.
    return "".join(line + "\r\n" for line in (HEADER, json.dumps(who), CARGO)).encode()


def _events(data: bytes, state: NormaliserState | None = None) -> list[KnownEvent]:
    return Normaliser(state).feed("Journal.2031-06-01T183052.01.log", FP, split_lines(data, 0))


def test_identical_lines_at_the_same_offset_of_two_commanders_get_two_ids() -> None:
    ada, bob = _events(_journal("Ada Quill", "F10000001")), _events(_journal("Bob Quill", "F10000002"))
    assert [e.kind for e in ada] == [e.kind for e in bob] == ["commander", "cargo"]
    assert ada[1].offset == bob[1].offset
    assert ada[1].id != bob[1].id


def test_without_an_fid_the_name_tells_them_apart() -> None:
    ada, bob = _events(_journal("Ada Quill", None)), _events(_journal("Bob Quill", None))
    assert ada[1].id != bob[1].id


def test_the_same_journal_gives_the_same_ids_every_time() -> None:
    data = _journal("Ada Quill", "F10000001")
    assert [e.id for e in _events(data)] == [e.id for e in _events(data)]
    # The id is the documented function of file, owner, offset and line.
    cargo = _events(data)[1]
    line = split_lines(data, 0)[2]
    assert cargo.id == event_id(FP, line.offset, line.data, owner="F10000001")


def test_a_new_file_has_no_owner_until_it_names_one() -> None:
    # The carried commander must not leak into the next file's ids: a file's ids depend on that
    # file alone (read from its start, or resumed with the saved state).
    n = Normaliser()
    n.feed("Journal.1.log", FP, split_lines(_journal("Ada Quill", "F10000001"), 0))
    assert n.state.id_owner == "F10000001"
    n.feed("Journal.2.log", "b" * 64, split_lines((CARGO + "\r\n").encode(), 0))
    assert n.state.id_owner == ""
