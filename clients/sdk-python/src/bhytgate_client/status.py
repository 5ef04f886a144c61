"""The rich error details in a gateway status, read with protobuf alone.

The gateway puts a google.rpc.Status in the `grpc-status-details-bin` trailer: a BadRequest (one
violation per field) with INVALID_ARGUMENT, a RetryInfo (when trying again can succeed) with the
Begin rate limit's RESOURCE_EXHAUSTED. Those message types live in googleapis-common-protos (which
grpcio-status pulls in); this module decodes them without either, from definitions with the same
field numbers in a private descriptor pool. A wire format does not carry message names, and an
Any's type is its `type_url`, compared here by name; nothing is registered in protobuf's default
pool, so the real google.rpc modules can be loaded beside it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

DETAILS_KEY = "grpc-status-details-bin"
BAD_REQUEST = "google.rpc.BadRequest"
RETRY_INFO = "google.rpc.RetryInfo"


class FieldViolation(NamedTuple):
    field: str  # dotted path in the request, e.g. "chip.ef_sod", "frames[2].image"
    description: str


# (message, [(field, number, type, repeated, message type)]): google/rpc/status.proto,
# google/rpc/error_details.proto, google/protobuf/any.proto and duration.proto, the fields read here.
_F = descriptor_pb2.FieldDescriptorProto
_MIRROR: dict[str, list[tuple[str, int, int, bool, str]]] = {
    "Any": [("type_url", 1, _F.TYPE_STRING, False, ""), ("value", 2, _F.TYPE_BYTES, False, "")],
    "Status": [
        ("code", 1, _F.TYPE_INT32, False, ""),
        ("message", 2, _F.TYPE_STRING, False, ""),
        ("details", 3, _F.TYPE_MESSAGE, True, "Any"),
    ],
    "FieldViolation": [
        ("field", 1, _F.TYPE_STRING, False, ""),
        ("description", 2, _F.TYPE_STRING, False, ""),
    ],
    "BadRequest": [("field_violations", 1, _F.TYPE_MESSAGE, True, "FieldViolation")],
    "Duration": [("seconds", 1, _F.TYPE_INT64, False, ""), ("nanos", 2, _F.TYPE_INT32, False, "")],
    "RetryInfo": [("retry_delay", 1, _F.TYPE_MESSAGE, False, "Duration")],
}
_PACKAGE = "bhytgate_client.rpc_mirror"


def _mirror_classes() -> dict[str, Any]:
    file = descriptor_pb2.FileDescriptorProto(
        name="bhytgate_client/rpc_mirror.proto", package=_PACKAGE, syntax="proto3"
    )
    for name, fields in _MIRROR.items():
        message = file.message_type.add(name=name)
        for field, number, kind, repeated, type_name in fields:
            spec = message.field.add(name=field, number=number)
            spec.type = kind  # type: ignore[assignment]  # an enum value; the stubs want the enum type
            spec.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
            if type_name:
                spec.type_name = f".{_PACKAGE}.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
        for name in _MIRROR
    }


_MESSAGES = _mirror_classes()


@dataclasses.dataclass(frozen=True)
class StatusDetails:
    """A google.rpc.Status: the code and message, and each detail as (type name, serialized bytes)."""

    code: int
    message: str
    details: tuple[tuple[str, bytes], ...]

    def of_type(self, type_name: str) -> list[bytes]:
        return [value for name, value in self.details if name == type_name]

    def field_violations(self) -> list[FieldViolation]:
        """Every BadRequest's violations, in order."""
        found: list[FieldViolation] = []
        for raw in self.of_type(BAD_REQUEST):
            bad = _parse("BadRequest", raw)
            if bad is not None:
                found += [FieldViolation(str(v.field), str(v.description)) for v in bad.field_violations]
        return found

    def retry_after(self) -> float | None:
        """The first RetryInfo's delay in seconds; None without one."""
        for raw in self.of_type(RETRY_INFO):
            info = _parse("RetryInfo", raw)
            if info is not None:
                return max(0.0, int(info.retry_delay.seconds) + int(info.retry_delay.nanos) / 1e9)
        return None


def _parse(message: str, raw: bytes) -> Any | None:
    try:
        return _MESSAGES[message].FromString(raw)
    except DecodeError:
        return None


def _trailer(error: object) -> bytes | None:
    trailing = getattr(error, "trailing_metadata", None)
    metadata = trailing() if callable(trailing) else None
    for key, value in metadata or ():
        if key == DETAILS_KEY and isinstance(value, bytes):
            return value
    return None


def status_details(error: object) -> StatusDetails | None:
    """The google.rpc.Status an RpcError (sync or aio) carries; None without one or if unreadable."""
    raw = _trailer(error)
    if raw is None:
        return None
    status = _parse("Status", raw)
    if status is None:
        return None
    details = tuple((d.type_url.rpartition("/")[2], bytes(d.value)) for d in status.details)
    return StatusDetails(int(status.code), str(status.message), details)


def field_violations(error: object) -> list[FieldViolation]:
    """The BadRequest violations in an RpcError's status details; [] if there are none."""
    status = status_details(error)
    return status.field_violations() if status is not None else []


def retry_after(error: object) -> float | None:
    """The RetryInfo delay in an RpcError's status details, in seconds; None if there is none."""
    status = status_details(error)
    return status.retry_after() if status is not None else None
