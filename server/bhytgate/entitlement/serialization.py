"""One Entitlement as JSON: the card lab's `entitlement.json`, fixtures, and debugging.

Keys are the Entitlement field names; dates are ISO yyyy-mm-dd (date_of_birth keeps its stored
dd/MM/yyyy or yyyy form); absent values are null. Reading applies the importer's validation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping

from bhytgate.entitlement.model import Entitlement
from bhytgate.entitlement.validation import (
    FieldError,
    RecordError,
    build_entitlement,
    coerce_json_record,
)


def to_dict(ent: Entitlement) -> dict[str, object]:
    """JSON-ready mapping: dates as ISO strings, everything else as is."""
    out: dict[str, object] = {}
    for field in dataclasses.fields(ent):
        value = getattr(ent, field.name)
        out[field.name] = value.isoformat() if isinstance(value, dt.date) else value
    return out


def to_json(ent: Entitlement, *, indent: int | None = 2) -> str:
    """UTF-8-friendly JSON (Vietnamese names stay readable)."""
    return json.dumps(to_dict(ent), ensure_ascii=False, indent=indent)


def from_dict(data: Mapping[str, object]) -> Entitlement:
    """Validate and build; RecordError lists every bad field."""
    raw, errors = coerce_json_record(dict(data))
    ent, more = build_entitlement(raw)
    if ent is None or errors:
        raise RecordError(errors + more)
    return ent


def from_json(text: str | bytes) -> Entitlement:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise RecordError([FieldError("", f"not valid JSON: {exc}")]) from None
    if not isinstance(data, dict):
        raise RecordError([FieldError("", "must be a JSON object")])
    return from_dict(data)
