"""The gateway's trust anchors on disk, loaded into one `TrustStore` shared by all requests."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path

from bhytgate.chip import ChipError, TrustStore
from bhytgate.chip.crypto.x509 import load_certificate


class TrustAnchors:
    """CSCA certificates, master lists and CRLs under home/trust, persisted as they are added."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        for sub in ("csca", "master_lists", "crl"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.store = TrustStore.from_paths(
            [root / "csca"], sorted((root / "master_lists").glob("*.ml")), [root / "crl"]
        )

    def add(
        self, cscas: Sequence[bytes], master_lists: Sequence[bytes], crls: Sequence[bytes]
    ) -> tuple[int, int]:
        """Validate everything first, then persist: a bad item refuses the whole load."""
        with self._lock:
            known = {c.fingerprint for c in self.store.anchors + self.store.links}
            certificates = [load_certificate(der) for der in cscas]
            new = [c for c in certificates if c.fingerprint not in known]
            scratch = TrustStore()
            for cert in list(self.store.anchors) + list(self.store.links) + new:
                scratch.add_certificate(cert)
            now = dt.datetime.now(dt.UTC)
            list_counts = [scratch.add_master_list(ml, at=now) for ml in master_lists]
            for der in crls:
                scratch.add_crl(der)
            for cert in new:
                self.store.add_certificate(cert)
                (self.root / "csca" / f"{cert.fingerprint[:32]}.der").write_bytes(cert.der)
            for ml in master_lists:
                self.store.add_master_list(ml, at=now)
                (self.root / "master_lists" / f"{hashlib.sha256(ml).hexdigest()[:32]}.ml").write_bytes(ml)
            for der in crls:
                self.store.add_crl(der)
                (self.root / "crl" / f"{hashlib.sha256(der).hexdigest()[:32]}.crl").write_bytes(der)
            return len(new) + sum(list_counts), len(crls)

    @property
    def csca_total(self) -> int:
        return len(self.store.anchors)


__all__ = ["ChipError", "TrustAnchors"]
