"""Reader + normaliser throughput against the naive baseline, over one tiled corpus of real journals.

Baseline: read each file, `json.loads` every line, keep the events the uploader cares about.
Ours: `read_complete_lines` + one `Normaliser` over every file, as the uploader's backfill does
(and more: ours builds and validates the wire events, the baseline only filters dicts).
Both run in this process over the same bytes; the ratio is printed last. Target: >= 4x.

The corpus tiles the samples that are journals as the game wrote them (`real_journal_files`);
`--all-samples` adds the filtered timeline and the collected fixture lines, which are nearly all
events the uploader sends and so measure the event builder rather than the reader.

    python -m bench.normalise [--mb 200] [--samples ../shared/journals] [--all-samples] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from bench._corpus import build_corpus, real_journal_files, sample_files
from uploader.journal.reader import fingerprint, read_complete_lines
from uploader.normalise.normaliser import Normaliser, relevant_line_pattern, without_timestamp
from uploader.sidefiles import JournalSideFiles

_DEPOT_NAMES = frozenset({b"ColonisationConstructionDepot", b"ColonizationConstructionDepot"})

_RELEVANT = frozenset(
    {
        "ColonisationConstructionDepot",
        "ColonisationContribution",
        "ColonisationSystemClaim",
        "ColonisationSystemClaimRelease",
        "ColonisationBeaconDeployed",
        "CompleteConstruction",
        "Docked",
        "Undocked",
        "Location",
        "FSDJump",
        "CarrierJump",
        "Commander",
        "LoadGame",
        "Loadout",
        "Cargo",
        "MarketBuy",
        "MarketSell",
        "CargoTransfer",
        "Market",
        "CarrierStats",
        "CarrierLocation",
        "CarrierJumpRequest",
        "CarrierJumpCancelled",
        "CarrierTradeOrder",
        "CarrierDepositFuel",
        "Shutdown",
    }
)


def naive(files: list[Path]) -> int:
    kept = 0
    for path in files:
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and obj.get("event") in _RELEVANT:
                kept += 1
    return kept


def ours(files: list[Path]) -> int:
    # With the journal folder's side files, as the uploader reads (the corpus has none: each Market
    # or bare Cargo line looks for one).
    normaliser = Normaliser(side_files=JournalSideFiles(files[0].parent))
    sent = 0
    for path in files:
        fp = fingerprint(path)
        if fp is None:
            continue
        offset = 0
        while True:
            chunk = read_complete_lines(path, offset, final=True)
            if chunk.next_offset == offset:
                break
            sent += len(normaliser.feed_chunk(path.name, fp, chunk))
            offset = chunk.next_offset
    return sent


def floor(files: list[Path]) -> int:
    """What any design that parses the lines it sends must spend: find them, parse them, no more.

    Less than `feed_chunk` does: its line count and relevant-line regex (not its checks for the
    careful path), then one `orjson.loads` per line found, skipping a depot snapshot byte-equal to
    the previous one but for its time (as the normaliser does). No context, no ids, no events
    built or validated: a ceiling for `ours` in pure Python, printed beside it.
    """
    pattern = relevant_line_pattern(side_files=True)  # as `ours`, which reads with side files
    parsed = lines = 0
    last_depot = b""
    for path in files:
        data = path.read_bytes()
        lines += data.count(b"\n")
        rfind, find = data.rfind, data.find
        for match in pattern.finditer(data):
            pos = match.start()
            line = data[rfind(b"\n", 0, pos) + 1 : find(b"\n", pos)]
            if match.group(1) in _DEPOT_NAMES:
                key = without_timestamp(line)
                if key == last_depot:
                    continue
                last_depot = key
            orjson.loads(line)
            parsed += 1
    assert parsed <= lines
    return parsed


def _time(fn: Callable[[list[Path]], int], files: list[Path]) -> tuple[float, int]:
    start = time.perf_counter()
    result = fn(files)
    return time.perf_counter() - start, result


def main() -> int:
    default_samples = Path(
        os.environ.get("COLONY_SAMPLES_DIR", Path(__file__).resolve().parents[2] / "shared" / "journals")
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mb", type=int, default=200, help="corpus size in MB (default 200)")
    parser.add_argument("--samples", type=Path, default=default_samples)
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each path; the best counts")
    parser.add_argument("--keep", type=Path, help="build the corpus here and keep it")
    parser.add_argument(
        "--all-samples", action="store_true", help="tile every sample file, not only journals"
    )
    args = parser.parse_args()
    sources = sample_files(args.samples) if args.all_samples else real_journal_files(args.samples)
    if not sources:
        print(f"no sample journals under {args.samples}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="colony-bench-") as tmp:
        dest = args.keep or Path(tmp)
        files = build_corpus(sources, dest, args.mb * 1024 * 1024)
        size_mb = sum(p.stat().st_size for p in files) / (1024 * 1024)
        print(f"corpus: {len(files)} files, {size_mb:.1f} MB tiled from {len(sources)} sample files")
        # Alternate the two so a busy moment of the machine hits both; the best run of each counts.
        naive_s = ours_s = floor_s = float("inf")
        kept = sent = parsed = 0
        for _ in range(args.runs):
            seconds, kept = _time(naive, files)
            naive_s = min(naive_s, seconds)
            seconds, sent = _time(ours, files)
            ours_s = min(ours_s, seconds)
            if not args.all_samples:
                seconds, parsed = _time(floor, files)
                floor_s = min(floor_s, seconds)
    print(f"naive json.loads + filter: {size_mb / naive_s:8.1f} MB/s ({kept} relevant lines)")
    print(f"reader + normaliser:       {size_mb / ours_s:8.1f} MB/s ({sent} wire events)")
    if not args.all_samples:
        # A ceiling, not a target: finding and parsing the lines we send, with nothing built.
        print(f"floor: scan + orjson only: {size_mb / floor_s:8.1f} MB/s ({parsed} lines parsed), "
              f"{naive_s / floor_s:.2f}x naive")
    print(f"ratio (ours / naive): {naive_s / ours_s:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
