from __future__ import annotations

import json
from datetime import UTC

import pytest
from pydantic import ValidationError

from wire import KNOWN_KINDS, Batch, ShutdownEvent, UnknownEvent
from wire.schema import SCHEMA_PATH, render

pytestmark = pytest.mark.uploader_only


def test_checked_in_schema_matches_models() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render(), (
        "wire models changed: run `make schema` and commit wire/wire-v1.schema.json"
    )


def _event(kind: str, **extra: object) -> dict[str, object]:
    return {"id": "a" * 32, "kind": kind, "timestamp": "2025-04-08T21:46:09Z", **extra}


def test_unknown_kind_is_kept_not_refused() -> None:
    batch = Batch.model_validate(
        {
            "batch_id": "b1",
            "uploader_version": "9.9",
            "platform": "linux",
            "events": [_event("shutdown", source="J.log", offset=0), _event("from_the_future", x=1)],
        }
    )
    assert isinstance(batch.events[0], ShutdownEvent)
    assert isinstance(batch.events[1], UnknownEvent)
    assert "from_the_future" not in KNOWN_KINDS


def test_known_kind_refuses_extra_fields() -> None:
    with pytest.raises(ValidationError) as err:
        Batch.model_validate(
            {
                "batch_id": "b1",
                "uploader_version": "1",
                "platform": "linux",
                "events": [_event("shutdown", source="J.log", offset=0, credits=5)],
            }
        )
    assert "credits" in str(err.value)


def test_schema_is_valid_json_with_every_kind() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    text = json.dumps(schema)
    for kind in KNOWN_KINDS:
        assert f'"{kind}"' in text


@pytest.mark.parametrize(
    "stamp",
    ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "2025-04-08T21:46:09", "yesterday"],
    ids=["after-utc-max", "before-utc-min", "naive", "not-a-time"],
)
def test_a_time_without_a_utc_equivalent_or_zone_is_refused(stamp: str) -> None:
    with pytest.raises(ValidationError) as err:
        ShutdownEvent.model_validate(_event("shutdown", source="J.log", offset=0) | {"timestamp": stamp})
    assert err.value.errors()[0]["loc"] == ("timestamp",)


@pytest.mark.parametrize("stamp", ["9999-12-29T12:00:00-08:00", "0001-01-02T12:00:00+08:00",
                                   "2025-04-08T21:46:09+02:00"])
def test_every_time_taken_converts_to_utc(stamp: str) -> None:
    event = ShutdownEvent.model_validate(_event("shutdown", source="J.log", offset=0) | {"timestamp": stamp})
    assert event.timestamp.astimezone(UTC).tzinfo is UTC


def test_schema_holds_the_answer_and_the_time_bounds() -> None:
    """Tools that validate by the schema alone meet what the models refuse: times past the bounds
    (no UTC equivalent), and the intake's answer to a batch."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    answer = schema["$defs"]["BatchResult"]
    assert set(answer["properties"]) == {"accepted", "duplicates", "ignored"}
    assert answer["additionalProperties"] is False
    stamp = schema["$defs"]["ShutdownEvent"]["properties"]["timestamp"]
    assert (stamp["formatExclusiveMinimum"], stamp["formatExclusiveMaximum"]) == (
        "0001-01-02T00:00:00+00:00", "9999-12-30T00:00:00+00:00"
    )


@pytest.mark.parametrize("event", ["just a string", 5, []])
def test_an_event_that_is_no_object_is_not_read_as_an_unknown_kind(event: object) -> None:
    """The 422 says what is wrong with it, never the fallback's internal class name."""
    from wire.errors import describe_errors

    body = {"batch_id": "b1", "uploader_version": "1", "platform": "x", "events": [event]}
    with pytest.raises(ValidationError) as info:
        Batch.model_validate(body)
    message = describe_errors(info.value.errors(include_url=False))
    assert "UnknownEvent" not in message, message
    assert message.startswith("events[0]: Input should be a valid dictionary"), message
