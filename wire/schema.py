"""The checked-in JSON Schema of the wire contract, generated from the models.

`python -m wire.schema` rewrites it; a test fails when the models and the file disagree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from wire.batch import Batch, BatchResult

SCHEMA_PATH = Path(__file__).with_name("wire-v1.schema.json")


def generate() -> dict[str, Any]:
    schema = Batch.model_json_schema(mode="validation")
    # The intake's answer to an accepted batch, beside the batch (`#/$defs/BatchResult`).
    schema.setdefault("$defs", {})["BatchResult"] = BatchResult.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://ed-colony.invalid/wire/v1"
    return schema


def render() -> str:
    return json.dumps(generate(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    SCHEMA_PATH.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {SCHEMA_PATH}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
