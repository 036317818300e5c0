"""Which files in a folder are journals, and their true order (by Fileheader time, not by name).

INTERFACE STUB: the signatures below are the contract other modules code against; the body is
being written (issue 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True, slots=True)
class JournalFile:
    path: Path
    started: datetime  # Fileheader timestamp (UTC); from the name's stamp when the header is unreadable
    part: int  # the `.NN` part

    @property
    def name(self) -> str:
        return self.path.name


def is_journal_name(name: str) -> bool:
    """`Journal.YYYY-MM-DDThhmmss.NN.log` or `Journal.YYMMDDhhmmss.NN.log`; not Beta/Alpha, not invalid."""
    raise NotImplementedError


def list_journals(folder: Path) -> list[JournalFile]:
    """Every journal in `folder`, oldest first by Fileheader time, then part."""
    raise NotImplementedError
