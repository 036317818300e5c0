"""Crash consistency: the real uploader, SIGKILLed at random moments during a backfill of real journals.

At least ten kills, each followed by a restart; then a final run to completion. Delivery is
at-least-once plus the receiver's dedupe (as the bot does), so the assertions are precise:
- no event lost: the receiver has every expected id, and nothing else;
- no event queued twice: each event id travelled in exactly one batch_id (a batch re-sent after a
  kill between the server's answer and the outbox delete reuses its batch_id);
- the order of events within each journal file is kept.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.uploader_only, pytest.mark.samples]

KILLS = 12
# The filtered timeline and the completion excerpt get journal names so the folder looks like the game's.
FILES = {
    "timeline_2025-03-01_to_2025-04-19_filtered.log": "Journal.2025-03-01T144820.01.log",
    "Journal.2025-04-08T215854.01.log": "Journal.2025-04-08T215854.01.log",
    "excerpt_Journal.2025-04-11T181749.01_lines610-845_completion.log": "Journal.2025-04-11T181749.01.log",
    "Journal.2025-06-20T213114.01.log": "Journal.2025-06-20T213114.01.log",
}


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    samples: Path, tmp_path: Path, tools: Any, receiver: Any
) -> None:
    folder = tmp_path / "journals"
    folder.mkdir()
    for source, name in FILES.items():
        shutil.copyfile(samples / "ed-journals" / source, folder / name)
    expected = tools.expected_events(folder)
    assert len(expected) > 1000
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    env = tools.env(tmp_path, url=receiver.url, token="good-token", journal_dir=folder, batch_max_events=5,
                    batch_max_bytes=64 * 1024)
    receiver.latency = 0.01  # a server taking 10 ms per batch: the backfill lasts long enough to kill
    kills = 0
    for round_number in range(3 * KILLS):
        if kills >= KILLS:
            break
        process = subprocess.Popen(tools.command("backfill"), env=env, cwd=tmp_path,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if round_number % 2 == 0:
            # A moment chosen by the clock: while starting, tailing, batching or sending.
            try:
                process.wait(timeout=rng.uniform(0.05, 1.2))
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
        else:
            # A moment chosen by the traffic: after the server took a batch, before the uploader
            # heard the answer (so it must re-send that batch with the same batch_id).
            target = len(receiver.requests) + rng.randint(1, 4)

            def kill_at(_received: Any, target: int = target, process: Any = process) -> None:
                if len(receiver.requests) >= target and process.poll() is None:
                    process.send_signal(signal.SIGKILL)

            receiver.on_batch = kill_at
        _, stderr = process.communicate(timeout=120)
        receiver.on_batch = None
        if process.returncode == -signal.SIGKILL:
            kills += 1
        else:
            assert process.returncode == 0, (seed, stderr.decode(errors="replace"))
            assert b"Traceback" not in stderr
            break  # finished before it could be killed again
    assert kills >= 10, f"only {kills} kills landed before the backfill finished (seed {seed})"

    final = subprocess.run(tools.command("backfill"), env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=300, check=False)
    assert final.returncode == 0, (seed, final.stderr)

    # No event lost, nothing unexpected.
    expected_ids = [e.id for e in expected]
    assert sorted(receiver.accepted) == sorted(expected_ids), seed
    # No event queued twice: one batch_id per event id; extra copies are re-sends of that batch.
    batches_of: dict[str, set[str]] = {}
    for request in receiver.requests:
        for event_id in request.event_ids:
            batches_of.setdefault(event_id, set()).add(request.batch_id)
    assert {i: b for i, b in batches_of.items() if len(b) > 1} == {}, seed
    resent = sum(1 for r in receiver.requests if r.status == 200) - len(receiver.batches_seen)
    print(f"seed {seed}: {kills} kills, {len(receiver.requests)} requests, {resent} batch re-sends")
    # Order within each file, in first-arrival order.
    offsets: dict[str, list[int]] = {}
    by_id = {e.id: e for e in expected}
    for event_id in receiver.accepted_new:
        event = by_id[event_id]
        offsets.setdefault(event.source, []).append(event.offset)
    for source, seen in offsets.items():
        assert seen == sorted(seen), (seed, source)
    # The outbox is empty and consistent.
    status = subprocess.run(tools.command("status"), env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=60, check=False)
    assert "events queued: 0 " in status.stdout
    assert f"files tracked: {len(FILES)}" in status.stdout
