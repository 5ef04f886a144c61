"""The test country's PKI: CSCAs, a link certificate, Document Signers (good and bad) and CRLs.

Certificates are assembled with asn1crypto and their TBS bytes signed with `cryptography`, because the
explicit-parameter brainpool CSCA key (the shape of Vietnam's real CSCA) cannot go through
cryptography's CertificateBuilder.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from asn1crypto import crl, keys, pem, x509
from cryptography.hazmat.primitives.asymmetric import ec

from . import crypto
from .crypto import PrivateKey

UTC = dt.UTC
DsKind = Literal["rsa", "ec"]
DS_KINDS: tuple[DsKind, ...] = ("rsa", "ec")
# Document Signer variants; all but "genuine" exist to build an attack card.
DS_VARIANTS = ("genuine", "expired", "not_yet_valid", "revoked", "untrusted", "rogue")
COUNTRY = "VN"
MANIFEST = "pki.json"


def _at(year: int, month: int = 1, day: int = 1) -> dt.datetime:
    return dt.datetime(year, month, day, tzinfo=UTC)


_2020, _2045, _2025, _2035 = _at(2020), _at(2045), _at(2025), _at(2035)
_2020_06, _2024_06, _2040, _2044_12_31, _2025_06 = (
    _at(2020, 6),
    _at(2024, 6),
    _at(2040),
    _at(2044, 12, 31),
    _at(2025, 6),
)


@dataclasses.dataclass(frozen=True, slots=True)
class PkiDates:
    """Validity periods; defaults keep genuine certificates valid from 2025 through 2034."""

    csca_not_before: dt.datetime = _2020
    csca_not_after: dt.datetime = _2045
    ds_not_before: dt.datetime = _2025
    ds_not_after: dt.datetime = _2035
    expired_not_before: dt.datetime = _2020_06
    expired_not_after: dt.datetime = _2024_06
    future_not_before: dt.datetime = _2040
    future_not_after: dt.datetime = _2044_12_31
    crl_this_update: dt.datetime | None = None  # None: today 00:00 UTC
    crl_validity: dt.timedelta = dt.timedelta(days=180)
    revocation_date: dt.datetime = _2025_06

    def crl_dates(self) -> tuple[dt.datetime, dt.datetime]:
        this = self.crl_this_update
        if this is None:
            today = dt.datetime.now(UTC).date()
            this = dt.datetime(today.year, today.month, today.day, tzinfo=UTC)
        return this, this + self.crl_validity


@dataclasses.dataclass(frozen=True, slots=True)
class Issuer:
    """A certificate with its private key (lab only: a real DS key never leaves its HSM)."""

    role: str
    cert: x509.Certificate
    key: PrivateKey

    @property
    def der(self) -> bytes:
        return bytes(self.cert.dump())


@dataclasses.dataclass(frozen=True, slots=True)
class Pki:
    """Everything the lab signs with, plus where it was written (`root`, None if only in memory)."""

    csca: Mapping[str, Issuer]  # "csca-1" (brainpoolP512r1, explicit), "csca-2" (P-256)
    link: x509.Certificate  # csca-2's key certified by csca-1
    ds: Mapping[str, Issuer]  # "<kind>" genuine, "<kind>-<variant>" the bad ones
    untrusted_csca: Issuer
    crls: Mapping[str, crl.CertificateList]  # by CSCA role
    root: Path | None = None

    def signer(self, kind: str = "rsa", variant: str = "genuine") -> Issuer:
        if variant not in DS_VARIANTS:
            raise ValueError(f"unknown DS variant {variant!r}")
        role = kind if variant == "genuine" else f"{kind}-{variant}"
        try:
            return self.ds[role]
        except KeyError:
            raise ValueError(f"no Document Signer {role!r} in this PKI") from None

    def issuer_of(self, kind: str) -> Issuer:
        """The trusted CSCA that issues the genuine DS of this kind."""
        return self.csca["csca-1" if kind == "rsa" else "csca-2"]


# --- building blocks ------------------------------------------------------------------------------


def name(common_name: str, organization: str = "Card Lab Test Authority") -> x509.Name:
    return x509.Name.build(
        {"country_name": COUNTRY, "organization_name": organization, "common_name": common_name}
    )


def _time(when: dt.datetime) -> x509.Time:
    """UTCTime before 2050, GeneralizedTime from then on (RFC 5280 4.1.2.5)."""
    return x509.Time(name="utc_time" if when.year < 2050 else "general_time", value=when)


def key_identifier(info: keys.PublicKeyInfo) -> bytes:
    """RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits."""
    return hashlib.sha1(bytes(info["public_key"].contents[1:]), usedforsecurity=False).digest()


def _serial() -> int:
    return secrets.randbits(63) | (1 << 62)


def _cert_hash(key: PrivateKey) -> str:
    """The hash a CSCA signs with, by its key size (SHA-512 for brainpoolP512r1, like Vietnam's)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: "sha256", 384: "sha384"}.get(key.curve.key_size, "sha512")
    return "sha256"


def build_certificate(
    *,
    subject: x509.Name,
    subject_key: keys.PublicKeyInfo,
    issuer: x509.Name,
    issuer_key: PrivateKey,
    issuer_key_id: bytes,
    not_before: dt.datetime,
    not_after: dt.datetime,
    ca: bool,
    path_len: int | None = 0,
    serial: int | None = None,
    extended_key_usage: Sequence[str] = (),
) -> x509.Certificate:
    """A v3 certificate per the ICAO 9303-12 profile (CSCA/link when `ca`, else Document Signer)."""
    sig_alg = crypto.signature_algorithm(issuer_key, _cert_hash(issuer_key))
    extensions: list[dict[str, Any]] = []
    if ca:
        extensions.append(
            {
                "extn_id": "basic_constraints",
                "critical": True,
                "extn_value": {"ca": True, "path_len_constraint": path_len},
            }
        )
        usage = {"key_cert_sign", "crl_sign"}
    else:
        usage = {"digital_signature"}
    extensions += [
        {"extn_id": "key_usage", "critical": True, "extn_value": usage},
        {"extn_id": "key_identifier", "critical": False, "extn_value": key_identifier(subject_key)},
        {
            "extn_id": "authority_key_identifier",
            "critical": False,
            "extn_value": {"key_identifier": issuer_key_id},
        },
    ]
    if extended_key_usage:
        extensions.append(
            {"extn_id": "extended_key_usage", "critical": False, "extn_value": list(extended_key_usage)}
        )
    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial if serial is not None else _serial(),
            "signature": sig_alg,
            "issuer": issuer,
            "validity": {"not_before": _time(not_before), "not_after": _time(not_after)},
            "subject": subject,
            "subject_public_key_info": subject_key,
            "extensions": extensions,
        }
    )
    signature = crypto.sign(issuer_key, tbs.dump(), _cert_hash(issuer_key))
    return x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": sig_alg, "signature_value": signature}
    )


def _self_signed_csca(
    role: str, common_name: str, key: PrivateKey, dates: PkiDates, *, explicit: bool, organization: str
) -> Issuer:
    info = crypto.spki(key, explicit=explicit)
    subject = name(common_name, organization)
    cert = build_certificate(
        subject=subject,
        subject_key=info,
        issuer=subject,
        issuer_key=key,
        issuer_key_id=key_identifier(info),
        not_before=dates.csca_not_before,
        not_after=dates.csca_not_after,
        ca=True,
    )
    return Issuer(role, cert, key)


def issue_ds(
    role: str,
    csca: Issuer,
    key: PrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    common_name: str,
) -> Issuer:
    cert = build_certificate(
        subject=name(common_name),
        subject_key=crypto.spki(key),
        issuer=csca.cert.subject,
        issuer_key=csca.key,
        issuer_key_id=csca.cert.key_identifier,
        not_before=not_before,
        not_after=not_after,
        ca=False,
    )
    return Issuer(role, cert, key)


def build_crl(
    csca: Issuer,
    revoked: Sequence[tuple[int, dt.datetime]],
    this_update: dt.datetime,
    next_update: dt.datetime,
) -> crl.CertificateList:
    """A v2 CRL signed by the CSCA (ICAO 9303-12 7.1.4: CRLs come from the CSCA itself)."""
    sig_alg = crypto.signature_algorithm(csca.key, _cert_hash(csca.key))
    tbs: dict[str, Any] = {
        "version": "v2",
        "signature": sig_alg,
        "issuer": csca.cert.subject,
        "this_update": _time(this_update),
        "next_update": _time(next_update),
        "crl_extensions": [
            {
                "extn_id": "authority_key_identifier",
                "critical": False,
                "extn_value": {"key_identifier": csca.cert.key_identifier},
            },
            {"extn_id": "crl_number", "critical": False, "extn_value": 1},
        ],
    }
    if revoked:
        tbs["revoked_certificates"] = [
            {
                "user_certificate": serial,
                "revocation_date": _time(when),
                "crl_entry_extensions": [
                    {"extn_id": "crl_reason", "critical": False, "extn_value": "key_compromise"}
                ],
            }
            for serial, when in revoked
        ]
    tbs_list = crl.TbsCertList(tbs)
    signature = crypto.sign(csca.key, tbs_list.dump(), _cert_hash(csca.key))
    return crl.CertificateList(
        {"tbs_cert_list": tbs_list, "signature_algorithm": sig_alg, "signature": signature}
    )


# --- the whole test PKI ---------------------------------------------------------------------------


def _ds_key(kind: str) -> PrivateKey:
    return crypto.new_rsa(2048) if kind == "rsa" else crypto.new_ec("secp256r1")


def create_pki(dates: PkiDates | None = None) -> Pki:
    """Generate the lab's PKI in memory (a few RSA-2048 keys: about a second)."""
    dates = dates or PkiDates()
    csca1 = _self_signed_csca(
        "csca-1",
        "CSCA Test Vietnam 1",
        crypto.new_ec("brainpoolP512r1"),
        dates,
        explicit=True,
        organization="Card Lab Test Authority",
    )
    csca2 = _self_signed_csca(
        "csca-2",
        "CSCA Test Vietnam 2",
        crypto.new_ec("secp256r1"),
        dates,
        explicit=False,
        organization="Card Lab Test Authority",
    )
    link = build_certificate(
        subject=csca2.cert.subject,
        subject_key=csca2.cert.public_key,
        issuer=csca1.cert.subject,
        issuer_key=csca1.key,
        issuer_key_id=csca1.cert.key_identifier,
        not_before=dates.csca_not_before,
        not_after=dates.csca_not_after,
        ca=True,
    )
    untrusted = _self_signed_csca(
        "untrusted-csca",
        "CSCA Test Vietnam Untrusted",
        crypto.new_ec("secp256r1"),
        dates,
        explicit=False,
        organization="Card Lab Attacker",
    )
    trusted = {"csca-1": csca1, "csca-2": csca2}
    ds: dict[str, Issuer] = {}
    revoked: dict[str, list[tuple[int, dt.datetime]]] = {"csca-1": [], "csca-2": []}
    for kind in DS_KINDS:
        csca_role = "csca-1" if kind == "rsa" else "csca-2"
        csca = trusted[csca_role]
        cn = f"Document Signer Test Vietnam {kind.upper()}"
        periods = {
            "genuine": (dates.ds_not_before, dates.ds_not_after),
            "expired": (dates.expired_not_before, dates.expired_not_after),
            "not_yet_valid": (dates.future_not_before, dates.future_not_after),
            "revoked": (dates.ds_not_before, dates.ds_not_after),
        }
        for variant, (start, end) in periods.items():
            role = kind if variant == "genuine" else f"{kind}-{variant}"
            ds[role] = issue_ds(role, csca, _ds_key(kind), start, end, cn)
        revoked[csca_role].append((ds[f"{kind}-revoked"].cert.serial_number, dates.revocation_date))
        ds[f"{kind}-untrusted"] = issue_ds(
            f"{kind}-untrusted", untrusted, _ds_key(kind), dates.ds_not_before, dates.ds_not_after, cn
        )
        ds[f"{kind}-rogue"] = _rogue_ds(f"{kind}-rogue", csca, _ds_key(kind), dates, cn)
    this_update, next_update = dates.crl_dates()
    crls = {role: build_crl(trusted[role], revoked[role], this_update, next_update) for role in trusted}
    return Pki(csca=trusted, link=link, ds=ds, untrusted_csca=untrusted, crls=crls)


def _rogue_ds(role: str, csca: Issuer, key: PrivateKey, dates: PkiDates, common_name: str) -> Issuer:
    """A forger's DS: the genuine subject, issuer name and AKI, but signed with the forger's own key."""
    cert = build_certificate(
        subject=name(common_name),
        subject_key=crypto.spki(key),
        issuer=csca.cert.subject,
        issuer_key=key,
        issuer_key_id=csca.cert.key_identifier,
        not_before=dates.ds_not_before,
        not_after=dates.ds_not_after,
        ca=False,
    )
    return Issuer(role, cert, key)


# --- on disk --------------------------------------------------------------------------------------


def _write_issuer(root: Path, folder: str, issuer: Issuer, stem: str) -> dict[str, str]:
    directory = root / folder
    directory.mkdir(parents=True, exist_ok=True)
    cert_path = directory / f"{stem}.der"
    key_path = directory / f"{stem}.key.pem"
    cert_path.write_bytes(issuer.der)
    (directory / f"{stem}.pem").write_bytes(pem.armor("CERTIFICATE", issuer.der))
    crypto.save_key(issuer.key, key_path)
    return {"cert": str(cert_path.relative_to(root)), "key": str(key_path.relative_to(root))}


def _ds_location(role: str) -> tuple[str, str]:
    kind, _, variant = role.partition("-")
    if variant == "untrusted":
        return "untrusted", f"ds-{kind}"
    if variant == "rogue":
        return "rogue", f"ds-{kind}"
    return "ds", f"ds-{role}"


def write_pki(pki: Pki, root: Path) -> Pki:
    """Write DER/PEM certificates, PEM keys, CRLs and `pki.json`; `trust/` holds only the anchors."""
    root.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"country": COUNTRY, "csca": {}, "ds": {}, "crl": {}, "trust": []}
    trust = root / "trust"
    trust.mkdir(exist_ok=True)
    for role, issuer in pki.csca.items():
        manifest["csca"][role] = _write_issuer(root, "csca", issuer, role)
        (trust / f"{role}.der").write_bytes(issuer.der)
        manifest["trust"].append(f"trust/{role}.der")
    link_der = bytes(pki.link.dump())
    (root / "link").mkdir(exist_ok=True)
    (root / "link" / "link-csca-1-csca-2.der").write_bytes(link_der)
    (trust / "link-csca-1-csca-2.der").write_bytes(link_der)
    manifest["link"] = "link/link-csca-1-csca-2.der"
    manifest["trust"].append("trust/link-csca-1-csca-2.der")
    manifest["untrusted_csca"] = _write_issuer(root, "untrusted", pki.untrusted_csca, "csca-untrusted")
    for role, issuer in pki.ds.items():
        folder, stem = _ds_location(role)
        manifest["ds"][role] = _write_issuer(root, folder, issuer, stem)
    (root / "crl").mkdir(exist_ok=True)
    for role, crl_list in pki.crls.items():
        path = root / "crl" / f"{role}.crl"
        path.write_bytes(crl_list.dump())
        manifest["crl"][role] = str(path.relative_to(root))
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return dataclasses.replace(pki, root=root)


def _read_issuer(root: Path, role: str, entry: Mapping[str, str]) -> Issuer:
    cert = x509.Certificate.load((root / entry["cert"]).read_bytes())
    return Issuer(role, cert, crypto.load_key(root / entry["key"]))


def load_pki(root: Path) -> Pki:
    """Read a PKI written by write_pki; raises FileNotFoundError/ValueError on a broken directory."""
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{root} is not a card-lab PKI directory (no {MANIFEST})")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    try:
        return Pki(
            csca={role: _read_issuer(root, role, e) for role, e in manifest["csca"].items()},
            link=x509.Certificate.load((root / manifest["link"]).read_bytes()),
            ds={role: _read_issuer(root, role, e) for role, e in manifest["ds"].items()},
            untrusted_csca=_read_issuer(root, "untrusted-csca", manifest["untrusted_csca"]),
            crls={
                role: crl.CertificateList.load((root / p).read_bytes()) for role, p in manifest["crl"].items()
            },
            root=root,
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{manifest_path}: incomplete manifest ({exc})") from exc


def ensure_pki(root: Path, dates: PkiDates | None = None) -> Pki:
    """Load the PKI at `root`, creating it first if the directory has none."""
    if (root / MANIFEST).is_file():
        return load_pki(root)
    return write_pki(create_pki(dates), root)
