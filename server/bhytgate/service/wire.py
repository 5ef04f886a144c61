"""How the services go on the wire: our own method handlers with per-RPC request size limits.

The generated `add_*Servicer_to_server` functions parse every request with `FromString`, whatever
its size up to the server-wide limit, and a body that does not parse becomes UNKNOWN with the
decoder's class name and a traceback in the log. Here each method's deserializer first compares
the byte length with that method's limit and only then parses; a request that is too big or does
not parse is not materialised as a message at all: the handler receives a `RefusedRequest`
(a short description, no reference to the bytes), which the servicer's `_rpc` wrapper turns into
INVALID_ARGUMENT. The server-wide `grpc.max_receive_message_length` is the largest per-method
limit (`RequestLimits.largest`): above it gRPC itself refuses the call (RESOURCE_EXHAUSTED) before
the message is buffered.

What one call can hold is then bounded by its method's limit: the received bytes, at most one
parsed copy, and the frame and chip-file copies the servicer hands to the gateway.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import threading
from collections.abc import Callable, Mapping
from typing import Any

import grpc

from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.service.config import GatewayConfig

KiB = 1024
MiB = 1024 * KiB

# Protobuf framing per repeated element (tag, length varint, timestamp field): generously.
_PER_ITEM = 32
_CHIP_FILES = 6  # EF.SOD, DG1, DG2, DG13, DG14, DG15
# Identifiers, operator (200 characters of up to 4 UTF-8 bytes), four AA signatures and the
# terminal signature (1 KiB each), a QR text (4096 characters of up to 4 bytes): all well below.
_MARGIN = 64 * KiB


# After a refused request at least this large, freed memory is handed back to the OS (see below).
LARGE_REQUEST_BYTES = 8 * MiB


def _find_malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
        return None
    return trim


_MALLOC_TRIM = _find_malloc_trim()


def release_freed_memory() -> None:
    """Return the pages of freed heap chunks to the OS (glibc's malloc_trim; a no-op elsewhere).

    Receiving a large message leaves its many small receive buffers freed but resident in glibc's
    per-thread arenas: measured +90 to +200 MB after refused 50 MB requests, whatever their number,
    and all of it free. Called only after refusing a request of LARGE_REQUEST_BYTES or more, which
    a terminal does not send in normal use; it costs a few milliseconds, against the tens that
    receiving such a request took.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


class RequestBudget:
    """Bytes of the requests the handlers hold at once. A call whose request does not fit beside
    the others is refused at once (RESOURCE_EXHAUSTED: the SDK retries), which drops it; a request
    always fits when nothing else is held, so the limit must be at least the largest request."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        with self._lock:
            if self.held and self.held + size > self.limit:
                return False
            self.held += size
            return True

    def give(self, size: int) -> None:
        with self._lock:
            self.held = max(0, self.held - size)


@dataclasses.dataclass(frozen=True, slots=True)
class RefusedRequest:
    """Stands in for a request that was not parsed. Holds no reference to the received bytes."""

    method: str
    message: str
    size: int


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    """Largest serialized request per RPC, in bytes."""

    per_method: Mapping[str, int]

    @classmethod
    def from_config(cls, config: GatewayConfig) -> RequestLimits:
        frames = config.max_frames * (config.max_frame_bytes + _PER_ITEM)
        chip = _CHIP_FILES * (config.max_chip_file_bytes + _PER_ITEM)
        return cls(
            {
                # Identifiers and an operator only (or nothing at all).
                "BeginVerification": 4 * KiB,
                "GetAttestationKeys": 4 * KiB,
                "GetAuditCheckpoint": 4 * KiB,
                # At most 1000 checkpoints of at most 2048 characters.
                "VerifyAuditChain": 2 * MiB + 64 * KiB,
                "LinkSocialInsurance": 4 * KiB,
                # Identifiers, a contact and a platform integrity token (at most 16 KiB).
                "RegisterHolder": 24 * KiB,
                "GetCheckinRecord": 4 * KiB,
                # Per message of the stream: a 1 MiB chunk of the claims file and its options.
                "ReconcileClaims": MiB + 4 * KiB,
                # A terminal id and a device public key (at most 4 KiB).
                "RegisterTerminalKey": 8 * KiB,
                # A client certificate (at most 16 KiB) and a reason.
                "RevokeTerminalCertificate": 20 * KiB,
                # ... plus a note of 2000 characters (up to 8000 bytes).
                "ReportDocumentLost": 16 * KiB,
                # Review cases: an id, a state and a reason of at most 500 characters.
                "ListReviewCases": 4 * KiB,
                "GetReviewCase": 4 * KiB,
                "ResolveReviewCase": 8 * KiB,
                # max_frames frames of max_frame_bytes, the six chip files, signatures, ids.
                "Verify": frames + chip + _MARGIN,
                "EnrollTemplate": frames + _MARGIN,
                # CSCA certificates, ICAO master lists (the largest published are ~1 MB) and CRLs.
                "LoadTrustAnchors": 16 * MiB,
                # A bulk entitlement file; the client SDK sends at most 32 MiB.
                "ImportEntitlements": 32 * MiB,
                # Issue 15: up to 20 members, ids, an operator (or nothing at all).
                "QuoteHouseholdRenewal": 8 * KiB,
                "RenewHousehold": 8 * KiB,
                "GetConsentTerms": 4 * KiB,
                "ExportSubjectData": 4 * KiB,
                "DeleteFaceTemplate": 4 * KiB,
                "WithdrawConsent": 4 * KiB,
            }
        )

    def limit(self, method: str) -> int:
        return self.per_method[method]

    @property
    def largest(self) -> int:
        return max(self.per_method.values())


def _deserializer(method: str, message_cls: Any, limit: int) -> Callable[[bytes], object]:
    name = message_cls.DESCRIPTOR.name

    def deserialize(data: bytes) -> object:
        size = len(data)
        if size > limit:
            return RefusedRequest(method, f"request of {size} bytes exceeds {limit} for {method}", size)
        try:
            return message_cls.FromString(data)
        except Exception:  # DecodeError, and whatever else a hostile body makes the parser raise
            return RefusedRequest(method, f"request body is not a valid {name}", size)

    return deserialize


def _handlers(
    servicer: object, service: str, limits: RequestLimits
) -> dict[str, grpc.RpcMethodHandler[Any, Any]]:
    descriptor = pb.DESCRIPTOR.services_by_name[service]
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    for method in descriptor.methods:
        request_cls = getattr(pb, method.input_type.name)
        response_cls = getattr(pb, method.output_type.name)
        make = grpc.unary_unary_rpc_method_handler
        if method.client_streaming and method.server_streaming:
            make = grpc.stream_stream_rpc_method_handler  # type: ignore[assignment]
        elif method.client_streaming or method.server_streaming:
            raise ValueError(f"{service}.{method.name}: only unary and bidirectional RPCs are wired")
        handlers[method.name] = make(
            getattr(servicer, method.name),
            request_deserializer=_deserializer(method.name, request_cls, limits.limit(method.name)),
            response_serializer=response_cls.SerializeToString,
        )
    return handlers


def add_services(
    server: Any,
    verification: object,
    counter: object,
    admin: object,
    limits: RequestLimits,
    review: object | None = None,
) -> None:
    """Register the services on `server` (grpc.aio.Server) with per-method size limits."""
    pairs = [(verification, "VerificationService"), (counter, "CounterService"), (admin, "AdminService")]
    if review is not None:
        pairs.append((review, "ReviewService"))
    for servicer, service in pairs:
        full_name = pb.DESCRIPTOR.services_by_name[service].full_name
        handlers = _handlers(servicer, service, limits)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(full_name, handlers),))
        server.add_registered_method_handlers(full_name, handlers)
