"""Backoff is a pure function: exponential with full jitter, capped, honouring Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from uploader.backoff import MAX_RETRY_AFTER, backoff_delay, parse_retry_after

pytestmark = pytest.mark.uploader_only


def test_full_jitter_spans_zero_to_the_exponential_ceiling() -> None:
    assert backoff_delay(0, base=1.0, rand=lambda: 0.0) == 0.0
    assert backoff_delay(0, base=1.0, rand=lambda: 0.999) == pytest.approx(0.999)
    assert backoff_delay(3, base=1.0, rand=lambda: 0.5) == pytest.approx(4.0)  # half of 2**3
    assert backoff_delay(5, base=0.5, rand=lambda: 1.0) == pytest.approx(16.0)


def test_ceiling_is_capped_and_huge_attempt_numbers_do_not_overflow() -> None:
    assert backoff_delay(20, base=1.0, cap=300.0, rand=lambda: 1.0) == 300.0
    assert backoff_delay(10_000, base=1.0, cap=60.0, rand=lambda: 1.0) == 60.0


def test_retry_after_is_a_floor_over_the_jitter() -> None:
    assert backoff_delay(0, retry_after=7.0, rand=lambda: 0.0) == 7.0
    # A longer backoff already exceeds the server's ask: keep it.
    assert backoff_delay(10, cap=300.0, retry_after=7.0, rand=lambda: 1.0) == 300.0
    assert backoff_delay(0, retry_after=10**9, rand=lambda: 0.0) == MAX_RETRY_AFTER
    assert backoff_delay(0, retry_after=-5, rand=lambda: 0.0) == 0.0


def test_negative_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="attempt must be >= 0"):
        backoff_delay(-1)


def test_retry_after_parses_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(" 3 ", now) == 3.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0  # in the past: now
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("", now) is None
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-3", now) is None
