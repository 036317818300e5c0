"""bench/_corpus.py: the tiled corpus the benchmarks read must look like consecutive real sessions."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from uploader.journal.files import list_journals
from uploader.journal.reader import fingerprint, read_complete_lines
from uploader.normalise.normaliser import Normaliser

pytestmark = pytest.mark.uploader_only

REPO_ROOT = Path(__file__).resolve().parents[2]


def _corpus_module() -> ModuleType:
    # bench/ is not an installed package: load the helper from its file.
    spec = importlib.util.spec_from_file_location("bench_corpus", REPO_ROOT / "bench" / "_corpus.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiled_copies_are_distinct_consecutive_sessions(samples: Path, tmp_path: Path) -> None:
    corpus = _corpus_module()
    sources = [
        samples / "ed-journals" / "Journal.2025-06-20T213114.01.log",  # CRLF, final newline
        samples / "ed-journals" / "excerpt_Journal.2025-04-11T181749.01_lines610-845_completion.log",
    ]
    target = 2 * 1024 * 1024
    files = corpus.build_corpus(sources, tmp_path / "corpus", target)
    assert sum(p.stat().st_size for p in files) >= target
    assert len({p.name for p in files}) == len(files)
    # Valid journal names, and the listing by Fileheader time gives the order they were written in.
    assert [j.path for j in list_journals(tmp_path / "corpus")] == files
    # Fresh timestamps: every file has its own fingerprint (so its own event ids) and later times.
    assert len({fingerprint(p) for p in files}) == len(files)
    firsts = [json.loads(p.read_bytes().split(b"\n", 1)[0])["timestamp"] for p in files]
    assert firsts == sorted(firsts)
    assert len(set(firsts)) == len(firsts)
    # Dated in the past, as a real history is (a line of now would be live to the side files).
    last_line = files[-1].read_bytes().rstrip().rsplit(b"\n", 1)[-1]
    assert datetime.fromisoformat(json.loads(last_line)["timestamp"]) < datetime.now(UTC)
    # Same bytes but the timestamps: same length, same events.
    for copy, source in zip(files[:2], sources, strict=True):
        assert copy.stat().st_size == source.stat().st_size
        assert copy.read_bytes().count(b"\n") == source.read_bytes().count(b"\n")
        fp_copy, fp_source = fingerprint(copy), fingerprint(source)
        assert fp_copy is not None
        assert fp_source is not None
        kinds = [
            e.kind
            for e in Normaliser().feed(copy.name, fp_copy, read_complete_lines(copy, 0, final=True).lines)
        ]
        expected = [
            e.kind
            for e in Normaliser().feed(
                source.name, fp_source, read_complete_lines(source, 0, final=True).lines
            )
        ]
        assert kinds == expected


def test_build_corpus_refuses_nothing_to_tile(tmp_path: Path) -> None:
    corpus = _corpus_module()
    with pytest.raises(ValueError, match="build_corpus needs at least one source file"):
        corpus.build_corpus([], tmp_path, 10)
    stampless = tmp_path / "x.log"
    stampless.write_bytes(b'{"event":"Music"}\n')
    with pytest.raises(ValueError, match="no source file has a timestamp to shift"):
        corpus.build_corpus([stampless], tmp_path / "out", 10)
