"""The one codec between a `JobSpec` and the JSON in a job row, with a version field.

pydantic's TypeAdapter validates the stored JSON back into the frozen dataclasses (enums,
tuples, nested records), so a row is decoded once, when it is read, and a damaged row is an
error that names the field instead of a KeyError somewhere later.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter, ValidationError

from bot.jobs.spec import JobSpec

SPEC_VERSION = 2
_ADAPTER: TypeAdapter[JobSpec] = TypeAdapter(JobSpec)


class SpecDecodeError(ValueError):
    """A stored job spec is of an unknown version or does not match the spec type."""


def encode_spec(spec: JobSpec) -> str:
    """Return the JSON text stored for `spec` (keys sorted, so equal specs store equal text)."""
    data = _ADAPTER.dump_python(spec, mode="json")
    return json.dumps({"v": SPEC_VERSION, **data}, sort_keys=True, ensure_ascii=False)


def decode_spec(text: str) -> JobSpec:
    """Return the spec stored as `text`; raise `SpecDecodeError` naming what is wrong."""
    data = json.loads(text)
    version = data.pop("v", None) if isinstance(data, dict) else None
    if version != SPEC_VERSION:
        raise SpecDecodeError(f"job spec version {version!r} is not {SPEC_VERSION}; run Salon's migrations")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise SpecDecodeError(f"stored job spec does not match: {exc}") from exc


def spec_from_json(data: dict[str, Any]) -> JobSpec:
    """Return a spec from already-parsed JSON data (without the version field)."""
    return _ADAPTER.validate_python(data)
