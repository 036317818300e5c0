"""Hostile journal lines through the reader and the normaliser: truncated, mangled, huge, wrongly
typed, unknown. Never an exception; and the valid lines among them give exactly the events (every
number, every piece of context) they give without the hostile ones around them.

A journal file is written with valid game lines in order and hostile lines inserted anywhere, read
back with `read_complete_lines` in chunks of random sizes, and fed chunk by chunk to one
`Normaliser`; the result is compared with the valid lines alone, fed at once (ids and offsets
aside, which depend on where a line sits in its file).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uploader.journal.reader import RawLine, fingerprint, read_complete_lines, split_lines
from uploader.normalise.normaliser import Normaliser

pytestmark = pytest.mark.uploader_only

SITE = 3958981890
CARRIER = 3707348992
T = "2025-04-08T21:{:02d}:{:02d}Z"


def _line(n: int, event: str, **fields: Any) -> dict[str, Any]:
    return {"timestamp": T.format(n // 60 % 60, n % 60), "event": event, **fields}


def _depot(provided: int) -> dict[str, Any]:
    return {
        "MarketID": SITE, "ConstructionProgress": provided / 5000, "ConstructionComplete": False,
        "ConstructionFailed": False,
        "ResourcesRequired": [
            {"Name": "$steel_name;", "Name_Localised": "Steel", "RequiredAmount": 4000,
             "ProvidedAmount": provided, "Payment": 5057},
            {"Name": "$aluminium_name;", "Name_Localised": "Aluminium", "RequiredAmount": 1000,
             "ProvidedAmount": 0, "Payment": 3239},
        ],
    }  # fmt: skip


SITE_DOCK = {"StationName": "Orbital Construction Site: Fuzz", "StationType": "SpaceConstructionDepot",
             "MarketID": SITE, "StarSystem": "Col 285 Sector GF-F b12-5", "SystemAddress": 2869708875137,
             "StationServices": ["dock", "colonisationcontribution"]}  # fmt: skip
CARRIER_DOCK = {"StationName": "H5L-69X", "StationType": "FleetCarrier", "MarketID": CARRIER,
                "StarSystem": "Col 285 Sector GF-F b12-5", "SystemAddress": 2869708875137}  # fmt: skip

# One commander's session in file order: every kind of line the squadron's numbers depend on.
VALID: list[dict[str, Any]] = [
    _line(0, "Fileheader", part=1, language="English/UK", Odyssey=True, gameversion="4.2.0.0", build="r1"),
    _line(1, "Commander", FID="F123", Name="Fuzz Tester"),
    _line(2, "LoadGame", FID="F123", Commander="Fuzz Tester", Ship="type9", ShipID=3),
    _line(3, "Location", Docked=True, **CARRIER_DOCK),
    _line(4, "MarketBuy", MarketID=CARRIER, Type="steel", Count=700, BuyPrice=300, TotalCost=210000),
    _line(5, "Cargo", Vessel="Ship", Count=700, Inventory=[{"Name": "steel", "Count": 700, "Stolen": 0}]),
    _line(6, "Music", MusicTrack="Starport"),
    _line(7, "Undocked", StationName="H5L-69X", StationType="FleetCarrier", MarketID=CARRIER),
    _line(8, "Docked", **SITE_DOCK),
    _line(9, "ColonisationConstructionDepot", **_depot(1000)),
    _line(24, "ColonisationConstructionDepot", **_depot(1000)),
    _line(
        30,
        "ColonisationContribution",
        MarketID=SITE,
        Contributions=[{"Name": "$Steel_name;", "Name_Localised": "Steel", "Amount": 700}],
    ),
    _line(31, "ColonisationConstructionDepot", **_depot(1700)),
    _line(32, "Cargo", Vessel="Ship", Count=0),
    _line(40, "Undocked", StationName="Orbital Construction Site: Fuzz", MarketID=SITE),
    _line(50, "FSDJump", StarSystem="Arietis Sector HW-W b1-3", SystemAddress=7267755541929, JumpDist=9.3),
    _line(
        60,
        "CarrierTradeOrder",
        CarrierID=CARRIER,
        BlackMarket=False,
        Commodity="steel",
        PurchaseOrder=2000,
        Price=320,
    ),
    _line(70, "Shutdown"),
]
VALID_BYTES = [json.dumps(obj).encode() for obj in VALID]

# Fields the normaliser reads, each with values of a wrong type (or out of range) for it: the
# whole line must then be skipped.
_STR: list[Any] = [None, 1, 1.5, True, [], {}, ["a"]]
_INT: list[Any] = [None, "x", "7", 1.5, True, [], {}, -7, 10**30]
_LIST: list[Any] = [None, "x", 1, {}, [1, "a"], [None]]
_TIME: list[Any] = [None, 1, "", "x", "2025-13-45T99:99:99Z", "9999-12-31T23:59:59-01:00", []]
REQUIRED_TYPED: dict[str, dict[str, list[Any]]] = {
    "ColonisationConstructionDepot": {"MarketID": _INT, "ResourcesRequired": _LIST, "timestamp": _TIME,
                                      "ConstructionComplete": ["x", 1, [], {}]},
    "ColonisationContribution": {"Contributions": _LIST, "timestamp": _TIME},
    "Docked": {"MarketID": _INT, "StarSystem": _STR, "timestamp": _TIME},
    "MarketBuy": {"Count": _INT, "Type": _STR, "timestamp": _TIME},
    "FSDJump": {"StarSystem": _STR, "timestamp": _TIME},
    "Commander": {"Name": _STR, "timestamp": _TIME},
}  # fmt: skip
WRONG_NAMES: list[Any] = [None, True, 1.5, -7, "", [], {}]


@st.composite
def hostile(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["truncated", "garbage", "wrong_type", "unknown", "huge", "deep", "not_utf8",
                                 "no_name", "blank", "array"]))  # fmt: skip
    if kind == "truncated":
        data = draw(st.sampled_from(VALID_BYTES))
        return data[: draw(st.integers(1, len(data) - 1))]
    if kind == "garbage":
        return draw(st.binary(min_size=1, max_size=200).filter(lambda b: b"\n" not in b))
    if kind == "wrong_type":
        event = draw(st.sampled_from(sorted(REQUIRED_TYPED)))
        obj = dict(draw(st.sampled_from([v for v in VALID if v["event"] == event])))
        key = draw(st.sampled_from(sorted(REQUIRED_TYPED[event])))
        obj[key] = draw(st.sampled_from(REQUIRED_TYPED[event][key]))
        return json.dumps(obj).encode()
    if kind == "unknown":
        name = draw(st.from_regex(r"\A[A-Z][A-Za-z]{2,20}\Z")).replace("Docked", "Dockd")
        extra = draw(st.dictionaries(st.text(max_size=10), st.integers() | st.text(max_size=20), max_size=5))
        return json.dumps({"timestamp": T.format(1, 1), "event": f"Fuzz{name}", **extra}).encode()
    if kind == "huge":
        size = draw(st.integers(200_000, 2_500_000))
        return json.dumps({"timestamp": T.format(1, 2), "event": "FuzzHuge", "Text": "x" * size}).encode()
    if kind == "deep":
        depth = draw(st.integers(600, 5000))
        return (
            b'{"timestamp":"2025-04-08T21:00:00Z","event":"Docked","MarketID":'
            + b"[" * depth
            + b"]" * depth
            + b"}"
        )
    if kind == "not_utf8":
        return b'{"timestamp":"2025-04-08T21:00:00Z","event":"Docked","StationName":"\xff\xfe","MarketID":1}'
    if kind == "no_name":
        return json.dumps({"timestamp": T.format(1, 3), "event": draw(st.sampled_from(WRONG_NAMES))}).encode()
    if kind == "array":
        return b'[{"timestamp":"2025-04-08T21:00:00Z","event":"Docked"}]'
    return draw(st.sampled_from([b"", b"   ", b"\x00\x00\x00", b"\t"]))


def _normalised(lines: list[RawLine], normaliser: Normaliser, fp: str) -> list[dict[str, Any]]:
    return [e.model_dump(exclude={"id", "offset"}) for e in normaliser.feed("Journal.fuzz.log", fp, lines)]


def _expected() -> list[dict[str, Any]]:
    data = b"".join(line + b"\r\n" for line in VALID_BYTES)
    return _normalised(split_lines(data, 0), Normaliser(), "f" * 64)


EXPECTED = _expected()


def test_the_valid_session_means_something() -> None:
    kinds = [e["kind"] for e in EXPECTED]
    assert kinds.count("depot") == 2  # the repeat 15 s later is recognised as one
    assert "contribution" in kinds
    assert "carrier_trade_order" in kinds
    contribution = next(e for e in EXPECTED if e["kind"] == "contribution")
    assert contribution["items"][0]["amount"] == 700
    assert contribution["at_market_id"] == SITE


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    inserts=st.lists(st.tuples(st.integers(0, len(VALID)), hostile()), max_size=12),
    terminator=st.sampled_from([b"\r\n", b"\n"]),
    chunk=st.integers(64, 1 << 20),
    nul_pad=st.integers(0, 3),
)
def test_hostile_lines_change_nothing_for_the_valid_ones(
    tmp_path: Path, inserts: list[tuple[int, bytes]], terminator: bytes, chunk: int, nul_pad: int
) -> None:
    lines: list[bytes] = []
    for position, valid in enumerate([*VALID_BYTES, None]):
        lines += [bad for where, bad in inserts if where == position]
        if valid is not None:
            # A valid line may follow a run of NULs (quirk 7): still the same line.
            lines.append(b"\x00" * 50 * nul_pad + valid if position == 8 else valid)
    path = tmp_path / "Journal.2025-04-08T215854.01.log"
    path.write_bytes(b"".join(line + terminator for line in lines))
    fp = fingerprint(path)
    assert fp is not None
    normaliser = Normaliser()
    got: list[dict[str, Any]] = []
    offset = 0
    while True:
        read = read_complete_lines(path, offset, chunk, final=True)
        if read.next_offset == offset:
            break
        got += _normalised(read.lines, normaliser, fp)
        offset = read.next_offset
    assert offset == path.stat().st_size
    assert got == EXPECTED
    assert normaliser.stats.invalid <= len(inserts)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_any_bytes_at_all_never_raise(datas: list[bytes]) -> None:
    normaliser = Normaliser()
    lines = [RawLine(i * 1000, d) for i, d in enumerate(datas)]
    normaliser.feed("Journal.fuzz.log", "0" * 64, lines)
    assert normaliser.stats.lines == len(datas)
