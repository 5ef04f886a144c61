"""Typed errors for chip data. Every error carries a stable machine-readable `reason`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar


class ChipError(Exception):
    """Base class: chip data is unusable. `reason` is stable; the message is for humans."""

    reason = "chip_error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.reason


class ChipFormatError(ChipError):
    """Bytes that do not parse as the elementary file they claim to be."""

    reason = "malformed"


class UnsupportedAlgorithmError(ChipError):
    """A signature, hash or curve the verifier deliberately does not accept."""

    reason = "algorithm_unsupported"


class TrustStoreError(ChipError):
    """A trust anchor, master list or CRL that cannot be loaded or trusted."""

    reason = "trust_store_invalid"


# What asn1crypto's lazy parsing raises when a field is first touched and turns out malformed
# (found by fuzzing: an edited tag in a DS certificate, a SignerInfo, a CRL's algorithm, an empty
# BIT STRING).
UNTYPED_PARSE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    IndexError,
    AttributeError,
    TypeError,
    KeyError,
    OverflowError,
)

_F = TypeVar("_F", bound=Callable[..., Any])


def typed_errors(what: str) -> Callable[[_F], _F]:
    """At a parser's boundary: anything but a ChipError from malformed input becomes one, so bad
    chip data is always "unusable chip data", never an internal error."""

    def wrap(fn: _F) -> _F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except ChipError:
                raise
            except UNTYPED_PARSE_ERRORS as exc:
                raise ChipFormatError(
                    f"{what}: malformed ({type(exc).__name__} while reading it)", reason="asn1_malformed"
                ) from None

        return inner  # type: ignore[return-value]

    return wrap
