"""The set of CSCAs the operator trusts, with link certificates and CRLs.

Every CA certificate the operator supplies (directly, or inside a master list whose own signature
chains to one) is an anchor for its key, self-signed or not: a country's current CSCA is often
configured as the link certificate its previous CSCA issued, and that previous CSCA may not be
configured at all. `add_certificate(..., anchor=False)` keeps a link certificate that is used only
after it chains to an anchor (certificates learnt from elsewhere than the operator's own choice).

Master lists, and CRLs whose issuer is known when they are loaded, are verified at load time (now):
their signers are judged then, never at the date of the document later checked against them.
CRLs are checked against their issuer again when used.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Iterable
from pathlib import Path

from asn1crypto import core, pem
from asn1crypto import x509 as ax509

from bhytgate.chip.crypto.cms import (
    PARSE_ERRORS,
    find_signer_certificate,
    parse_signed_data,
    signed_attributes_problem,
    signer_by_key,
    verify_signer,
)
from bhytgate.chip.crypto.signatures import SignatureInvalidError
from bhytgate.chip.crypto.x509 import Certificate, Crl, load_certificate, load_crl
from bhytgate.chip.errors import ChipError, TrustStoreError, typed_errors
from bhytgate.chip.trust.chain import RevocationPolicy, validate_document_signer
from bhytgate.chip.trust.ldif import read_pkd_ldif

CSCA_MASTER_LIST = "2.23.136.1.1.2"
MASTER_LIST_SIGNING_KEY = "2.23.136.1.1.3"  # id-icao-cscaMasterListSigningKey
_CERT_SUFFIXES = {".cer", ".crt", ".der", ".pem", ".cert"}


class TrustStore:
    """Mutable while loading; read concurrently afterwards (verification caches are locked)."""

    def __init__(self) -> None:
        self._anchors: dict[str, Certificate] = {}
        self._links: dict[str, Certificate] = {}
        self._crls: list[Crl] = []
        self._dscs: dict[str, Certificate] = {}
        self._signature_cache: dict[tuple[str, str], bool] = {}
        self._lock = threading.Lock()
        self.generation = 0

    # --- loading -------------------------------------------------------------------------

    def add_certificate(self, data: bytes | Certificate, *, anchor: bool = True) -> Certificate:
        """Trust a CSCA (self-signed or a link certificate) as an anchor for its key; with
        `anchor=False` keep a link certificate that must chain to an anchor before use."""
        cert = data if isinstance(data, Certificate) else load_certificate(data)
        if not cert.is_ca:
            raise TrustStoreError(f"{cert.subject} is not a CA certificate", reason="not_a_ca")
        with self._lock:
            if anchor or cert.self_issued:
                self._anchors[cert.fingerprint] = cert
                self._links.pop(cert.fingerprint, None)
            elif cert.fingerprint not in self._anchors:
                self._links[cert.fingerprint] = cert
            self.generation += 1
        return cert

    def add_document_signer(self, data: bytes | Certificate) -> Certificate:
        """Keep a Document Signer certificate (from the PKD) for SODs that do not carry their own.
        Never an anchor: a SOD signed with it must still chain to one."""
        cert = data if isinstance(data, Certificate) else load_certificate(data)
        if cert.is_ca:
            raise TrustStoreError(
                f"{cert.subject} is a CA certificate, not a Document Signer", reason="not_a_ds"
            )
        with self._lock:
            self._dscs[cert.fingerprint] = cert
            self.generation += 1
        return cert

    def add_pkd_ldif(self, data: bytes, *, at: dt.datetime | None = None) -> dict[str, int]:
        """Everything usable in an ICAO PKD LDIF file: master lists whose signer chains to an
        anchor (others are counted as refused: a PKD collection holds every country's), CRLs, DSCs."""
        objects = read_pkd_ldif(data)
        counts = {"master_lists": 0, "master_lists_refused": 0, "cscas": 0, "crls": 0, "crls_refused": 0}
        for ml in objects.master_lists:
            try:
                counts["cscas"] += self.add_master_list(ml, at=at)
                counts["master_lists"] += 1
            except ChipError:
                counts["master_lists_refused"] += 1
        for der in objects.crls:
            try:
                self.add_crl(der)
                counts["crls"] += 1
            except ChipError:
                counts["crls_refused"] += 1
        counts["document_signers"] = 0
        for der in objects.document_signers:
            try:
                self.add_document_signer(der)
                counts["document_signers"] += 1
            except ChipError:
                continue
        return counts

    @typed_errors("CRL")
    def add_crl(self, data: bytes) -> Crl:
        """Keep a CRL; if its issuer is already trusted, its signature is verified now (load
        time) and a CRL no candidate issuer signed is refused."""
        crl = load_crl(data)
        issuers = [c for c in self.anchors if _issues(c, crl)]
        if issuers and not any(self.signed_by(crl, c) for c in issuers):
            raise TrustStoreError(
                f"CRL of {crl.issuer}: signature does not verify with its CSCA",
                reason="crl_signature_invalid",
            )
        with self._lock:
            self._crls.append(crl)
            self.generation += 1
        return crl

    @typed_errors("master list")
    def add_master_list(self, data: bytes, *, at: dt.datetime | None = None) -> int:
        """Add the CSCAs of an ICAO master list once its signature chains to a trusted anchor.

        `at` is the load time (default now) at which the list's signer must be valid: never the
        date of a document verified later against the list's CSCAs."""
        at = at or dt.datetime.now(dt.UTC)
        content = parse_signed_data(_strip_pem(data), what="master list")
        if content.content_type != CSCA_MASTER_LIST:
            raise TrustStoreError("CMS content is not a CSCA master list", reason="master_list_invalid")
        signer = find_signer_certificate(content.signer_info, content.certificates)
        if signer is None:
            signer = signer_by_key(content)
        if signer is None:
            raise TrustStoreError("master list signer certificate not found", reason="master_list_invalid")
        # Only a Master List Signer may vouch for CSCAs: a Document Signer key (of any trusted
        # country) must not be able to add anchors.
        try:
            usages = signer.asn1.extended_key_usage_value
            allowed = usages is not None and MASTER_LIST_SIGNING_KEY in [u.dotted for u in usages]
        except PARSE_ERRORS:
            allowed = False
        if not allowed:
            raise TrustStoreError(
                "master list signer lacks the cscaMasterListSigningKey extended key usage",
                reason="master_list_untrusted",
            )
        problem = signed_attributes_problem(content)
        if problem is not None:
            raise TrustStoreError(f"master list signed attributes: {problem}", reason="master_list_invalid")
        try:
            verify_signer(content, signer)
        except SignatureInvalidError as exc:
            raise TrustStoreError(
                "master list signature does not verify", reason="master_list_invalid"
            ) from exc
        chain = validate_document_signer(signer, self, at, RevocationPolicy(check_country=False))
        if not chain.valid:
            raise TrustStoreError(
                f"master list signer does not chain to a trusted CSCA: {chain.reason}",
                reason="master_list_untrusted",
            )
        certificates = _master_list_certificates(content.econtent)
        added = 0
        for der in certificates:
            try:
                self.add_certificate(der)
            except ChipError:
                continue  # one bad entry does not poison the rest; it is simply not trusted
            added += 1
        return added

    @classmethod
    def from_paths(
        cls,
        cscas: Iterable[Path] = (),
        master_lists: Iterable[Path] = (),
        crls: Iterable[Path] = (),
        *,
        at: dt.datetime | None = None,
        ldifs: Iterable[Path] = (),
    ) -> TrustStore:
        """CSCA files or folders of them, master lists (after the CSCAs), CRL files or folders.

        `at` is the load time for the master lists' signers (default now), not a document's date."""
        store = cls()
        for path in _expand(cscas, _CERT_SUFFIXES):
            try:
                store.add_certificate(path.read_bytes())
            except ChipError as exc:
                raise TrustStoreError(f"{path}: {exc.message}", reason=exc.reason) from exc
        for path in master_lists:
            try:
                store.add_master_list(path.read_bytes(), at=at)
            except ChipError as exc:
                raise TrustStoreError(f"{path}: {exc.message}", reason=exc.reason) from exc
        for path in ldifs:
            try:
                store.add_pkd_ldif(path.read_bytes(), at=at)
            except ChipError as exc:
                raise TrustStoreError(f"{path}: {exc.message}", reason=exc.reason) from exc
        for path in _expand(crls, {".crl", ".der", ".pem"}):
            try:
                store.add_crl(path.read_bytes())
            except ChipError as exc:
                raise TrustStoreError(f"{path}: {exc.message}", reason=exc.reason) from exc
        return store

    # --- queries -------------------------------------------------------------------------

    @property
    def anchors(self) -> tuple[Certificate, ...]:
        with self._lock:
            return tuple(self._anchors.values())

    @property
    def links(self) -> tuple[Certificate, ...]:
        with self._lock:
            return tuple(self._links.values())

    @property
    def document_signers(self) -> tuple[Certificate, ...]:
        with self._lock:
            return tuple(self._dscs.values())

    def issuer_candidates(self, cert: Certificate) -> list[tuple[Certificate, bool]]:
        """(certificate, is_anchor) that may have issued `cert`: by key identifier first, then name."""
        with self._lock:  # snapshot: an admin may add anchors while checks run
            pool = [(c, True) for c in self._anchors.values()] + [(c, False) for c in self._links.values()]
        if cert.aki is not None:
            by_key = [(c, a) for c, a in pool if c.ski is not None and c.ski == cert.aki]
            if by_key:
                return by_key
        return [(c, a) for c, a in pool if c.subject_key == cert.issuer_key]

    def crls_for(self, issuer: Certificate) -> list[Crl]:
        with self._lock:
            crls = list(self._crls)
        return [crl for crl in crls if _issues(issuer, crl)]

    def signed_by(self, subject: Certificate | Crl, issuer: Certificate) -> bool:
        """Cached: did `issuer`'s key sign `subject`? (DS paths repeat on every check.)"""
        key = (_identity(subject), issuer.fingerprint)
        with self._lock:
            cached = self._signature_cache.get(key)
        if cached is not None:
            return cached
        try:
            subject.verify_issued_by(issuer.public_key)
            ok = True
        except ChipError:
            ok = False
        with self._lock:
            if len(self._signature_cache) > 100_000:
                self._signature_cache.clear()
            self._signature_cache[key] = ok
        return ok


def _issues(issuer: Certificate, crl: Crl) -> bool:
    """May `issuer` have issued `crl`? By key identifier when both have one, else by name."""
    if crl.aki is not None and issuer.ski is not None:
        return crl.aki == issuer.ski
    return bool(crl.issuer_key == issuer.subject_key)


def _identity(item: Certificate | Crl) -> str:
    if isinstance(item, Certificate):
        return item.fingerprint
    return "crl:" + hashlib.sha256(item.der).hexdigest()


def _strip_pem(data: bytes) -> bytes:
    if pem.detect(data):
        _, _, der = pem.unarmor(data)
        return bytes(der)
    return data


class _CertificateSet(core.SetOf):
    _child_spec = ax509.Certificate


class _MasterList(core.Sequence):
    _fields = [("version", core.Integer), ("certificates", _CertificateSet)]


def _master_list_certificates(econtent: bytes) -> list[bytes]:
    try:
        parsed = _MasterList.load(econtent, strict=True)
        return [cert.dump() for cert in parsed["certificates"]]
    except PARSE_ERRORS as exc:
        raise TrustStoreError(
            f"master list content does not parse: {exc}", reason="master_list_invalid"
        ) from exc


def _expand(paths: Iterable[Path], suffixes: set[str]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes))
        else:
            out.append(path)
    return out
