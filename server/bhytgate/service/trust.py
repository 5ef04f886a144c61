"""The gateway's trust anchors: CSCA certificates, master lists and CRLs, kept in the database so
that every replica trusts the same, and loaded into one `TrustStore` shared by all requests.

Files under the home's trust/ folder (the demo's card-lab CSCAs, or an operator's drop) are
imported at start. `LoadTrustAnchors` on any replica validates, stores, and bumps the version;
every replica rebuilds its `TrustStore` when it sees the version move (checked at most once a
second, before a chip is verified), so no restart is needed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from bhytgate.chip import ChipError, TrustStore
from bhytgate.chip.crypto.x509 import load_certificate
from bhytgate.chip.errors import TrustStoreError
from bhytgate.storage.sql import SqlStore

log = logging.getLogger("bhytgate.trust")

_ORDER = {"csca": 0, "master_list": 1, "crl": 2, "dsc": 3}


def _digest(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


class TrustAnchors:
    def __init__(self, store: SqlStore, root: Path | None = None, *, refresh_s: float = 1.0) -> None:
        self.db = store
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._version: tuple[int, int] = (-1, -1)
        self._checked = 0.0
        self.store = TrustStore()
        if root is not None:
            self.import_folder(root)
        self.refresh(force=True)

    def import_folder(self, root: Path) -> int:
        """CSCAs (*.der/*.cer/*.pem), master lists (*.ml) and CRLs (*.crl) under root, validated."""
        cscas = [p.read_bytes() for p in sorted((root / "csca").glob("*")) if p.is_file()]
        lists = [p.read_bytes() for p in sorted((root / "master_lists").glob("*.ml"))]
        crls = [p.read_bytes() for p in sorted((root / "crl").glob("*")) if p.is_file()]
        if not (cscas or lists or crls):
            return 0
        added, _ = self.add(cscas, lists, crls)
        return added

    def refresh(self, *, force: bool = False) -> None:
        """Rebuild from the database if another replica (or this one) added anything."""
        moment = time.monotonic()
        if not force and moment - self._checked < self.refresh_s:
            return
        self._checked = moment
        version = self.db.trust_version()
        if version == self._version and not force:
            return
        with self._lock:
            if version == self._version and not force:
                return  # another thread rebuilt it meanwhile
            items = sorted(self.db.trust_items(), key=lambda item: (_ORDER.get(item[1], 9), item[0]))
            fresh = TrustStore()
            now = dt.datetime.now(dt.UTC)
            for _, kind, der in items:
                try:
                    if kind == "csca":
                        fresh.add_certificate(der)
                    elif kind == "master_list":
                        fresh.add_master_list(der, at=now)
                    elif kind == "crl":
                        fresh.add_crl(der)
                    elif kind == "dsc":
                        fresh.add_document_signer(der)
                except ChipError as exc:
                    # Validated when it was added; what fails now (an expired master-list signer)
                    # is left out, and said once per rebuild.
                    log.warning("trust item %s left out: %s", kind, exc.reason)
            self.store = fresh
            self._version = version

    def add(
        self,
        cscas: Sequence[bytes],
        master_lists: Sequence[bytes],
        crls: Sequence[bytes],
        document_signers: Sequence[bytes] = (),
    ) -> tuple[int, int]:
        """Validate everything first, then store: a bad item refuses the whole load.

        Returns (CSCAs new to the cluster, counting those a master list brought, CRLs loaded).
        Document Signers (from the PKD) are kept for SODs without their own certificate."""
        with self._lock:
            current = self.store
            known = {c.fingerprint for c in current.anchors + current.links}
            certificates = [load_certificate(der) for der in cscas]
            for cert in certificates:
                if not cert.country:
                    # ICAO 9303-12 (7.1.1): a CSCA's subject names its country. A CA without one is
                    # something else (the gateway's own terminal CA was loadable as a CSCA).
                    raise TrustStoreError(
                        f"{cert.subject} names no country (countryName): not a CSCA",
                        reason="not_a_csca",
                    )
            new = [c for c in certificates if c.fingerprint not in known]
            scratch = TrustStore()
            for cert in list(current.anchors) + list(current.links) + new:
                scratch.add_certificate(cert)
            now = dt.datetime.now(dt.UTC)
            before = len(scratch.anchors) + len(scratch.links)
            for ml in master_lists:
                scratch.add_master_list(ml, at=now)
            from_lists = len(scratch.anchors) + len(scratch.links) - before
            for der in crls:
                scratch.add_crl(der)
            for der in document_signers:
                scratch.add_document_signer(der)
            items = [("csca", _digest(c.der), c.der) for c in new]
            items += [("master_list", _digest(ml), ml) for ml in master_lists]
            items += [("crl", _digest(der), der) for der in crls]
            items += [("dsc", _digest(der), der) for der in document_signers]
            self.db.add_trust_items(items, now)
        self.refresh(force=True)
        return len(new) + from_lists, len(crls)

    @property
    def csca_total(self) -> int:
        return len(self.store.anchors)


__all__ = ["ChipError", "TrustAnchors"]
