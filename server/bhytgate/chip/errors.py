"""Typed errors for chip data. Every error carries a stable machine-readable `reason`."""

from __future__ import annotations


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
