from __future__ import annotations

import json

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
