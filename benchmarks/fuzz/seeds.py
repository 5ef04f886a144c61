"""The starting corpus of every target, from real data, plus the assets the targets need.

Runs in the parent process (never instrumented). Writes, under `workdir`:

- `seeds/<target>/NNN-<what>`: one file per seed input;
- `dicts/<target>.dict`: a libFuzzer dictionary (DER-encoded OIDs the code knows, field names, tokens);
- `assets/`: the card-lab demo (dumps, PKI), a master-list PKI made here (CSCA + Master List Signer
  with the cscaMasterListSigningKey EKU), AA answers for the verify_chip target.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
UTC = dt.UTC
# Fixed verification dates: inside the card-lab DS validity (2025-2035) and the DE master list's.
CHIP_AT = dt.datetime(2026, 12, 1, tzinfo=UTC)
ML_AT = dt.datetime(2026, 6, 1, tzinfo=UTC)
CHALLENGE = bytes(range(32))

CHIP_FILE_TAGS = {"EF.SOD": 0x77, "DG1": 0x61, "DG2": 0x75, "DG13": 0x6D, "DG14": 0x6E, "DG15": 0x6F}
GRPC_METHODS = (
    "BeginVerification",
    "Verify",
    "GetAttestationKeys",
    "EnrollTemplate",
    "LinkSocialInsurance",
    "ReportDocumentLost",
    "LoadTrustAnchors",
    "ImportEntitlements",
    "VerifyAuditChain",
    "RegisterTerminalKey",
    # issue 15 (appended: the index of every earlier method is unchanged)
    "QuoteHouseholdRenewal",
    "RenewHousehold",
    "GetConsentTerms",
    "ExportSubjectData",
    "DeleteFaceTemplate",
    "WithdrawConsent",
)


class _Seeds:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.count: dict[str, int] = {}
        self.seen: dict[str, set[str]] = {}

    def add(self, target: str, what: str, data: bytes) -> None:
        digest = hashlib.sha1(data, usedforsecurity=False).hexdigest()
        seen = self.seen.setdefault(target, set())
        if digest in seen or not data:
            return
        seen.add(digest)
        n = self.count.get(target, 0)
        self.count[target] = n + 1
        folder = self.root / target
        folder.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", what)[:60]
        (folder / f"{n:03d}-{slug}").write_bytes(data)


def _shared(*parts: str) -> Path:
    return SHARED.joinpath("emrtd", *parts)


def _files(pattern: str) -> list[Path]:
    return sorted(p for p in (SHARED / "emrtd").glob(pattern) if p.is_file())


# --- chip data -------------------------------------------------------------------------------------


def _demo(assets: Path) -> Path:
    from bhytgate_clients.cardlab.demo import build_demo

    out = assets / "demo"
    if not (out / "entitlements.jsonl").exists():
        if out.exists():
            shutil.rmtree(out)
        build_demo(out, SHARED / "faces")
    return out


def _extra_cards(assets: Path, demo: Path) -> list[Path]:
    """Cards with the other signature shapes: RSASSA-PSS/SHA-512, ECDSA/SHA-384, EC AA, no CA key."""
    from bhytgate_clients.cardlab import IssueOptions, issue_card, load_pki, make_citizen

    pki = load_pki(demo / "pki")
    photo = SHARED / "faces" / "face_recognition" / "examples" / "obama_small.jpg"
    variants = {
        "pss-sha512": IssueOptions(ds="rsa", rsa_scheme="pss", hash="sha512"),
        "ec-sha384-ecaa": IssueOptions(ds="ec", hash="sha384", aa="ec"),
        "rsa-sha1-noca": IssueOptions(ds="rsa", hash="sha1", chip_authentication=False),
        "ec-sha224-rsa2048": IssueOptions(ds="ec", hash="sha224", aa="rsa", aa_rsa_bits=2048),
    }
    out = []
    for index, (name, options) in enumerate(variants.items()):
        folder = assets / "extra_cards" / name
        if not (folder / "EF.SOD").exists():
            card = issue_card(pki, make_citizen(100 + index), photo, options, seed=100 + index)
            card.write(folder)
        out.append(folder)
    return out


def _card_dirs(demo: Path, extra: list[Path]) -> list[Path]:
    return sorted((demo / "cards").iterdir()) + sorted((demo / "attacks").iterdir()) + extra


def _chip_seeds(seeds: _Seeds, cards: list[Path]) -> None:
    shared_files = {
        "EF.SOD": [
            "bsi_test_passport_2008/EF_SOD.bin",
            "bsi_tr03105_reference/EF_SOD.bin",
            "port_server_vectors/lds/ef.sod_si_454CB206.bin",
            "port_server_vectors/lds/ef.sod_de_9712AB14.bin",
            *[f"real_sods/{p.name}" for p in _files("real_sods/*_EF_SOD.bin")],
        ],
        "DG1": ["bsi_test_passport_2008/Datagroup1.bin", "bsi_tr03105_reference/Datagroup1.bin"],
        "DG2": ["bsi_test_passport_2008/Datagroup2.bin", "dg2_samples/ICAO_39794_5_AP_DG2_AllFields.dat"],
        "DG14": ["bsi_test_passport_2008/Datagroup14.bin", "bsi_tr03105_reference/Datagroup14.bin"],
        "DG15": [
            "bsi_test_passport_2008/Datagroup15.bin",
            "bsi_tr03105_reference/Datagroup15.bin",
            "port_server_vectors/lds/ef.dg15_ef.sod_si_454CB206.bin",
        ],
    }
    target_of = {"EF.SOD": "sod", "DG1": "dg1", "DG2": "dg2", "DG13": "dg13", "DG14": "dg14", "DG15": "dg15"}
    for name, paths in shared_files.items():
        for rel in paths:
            seeds.add(target_of[name], f"shared-{rel}", _shared(rel).read_bytes())
    # The ISO/IEC 19794-5 record sample is a bare biometric data block: put it in a DG2 the way a chip does.
    record = _shared("dg2_samples", "ISO19794_Test1_Data.bin").read_bytes()
    seeds.add("dg2", "shared-iso19794-record-in-dg2", _dg2_around(record))
    seeds.add("dg13", "test_fuzz-dg13-sample", _dg13_sample())
    dg2_kept = 0
    for card in cards:
        for name, target in target_of.items():
            path = card / name
            if not path.is_file():
                continue
            if name == "DG2":  # ~46 KB each and all alike: a few are enough
                if dg2_kept >= 3:
                    continue
                dg2_kept += 1
            seeds.add(target, f"cardlab-{card.name}-{name}", path.read_bytes())


def _tlv(tag: bytes, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return tag + length + body


def _dg2_around(record: bytes) -> bytes:
    header = _tlv(b"\xa1", _tlv(b"\x80", b"\x01\x01") + _tlv(b"\x81", b"\x02") + _tlv(b"\x87", b"\x01\x01"))
    instance = _tlv(b"\x7f\x60", header + _tlv(b"\x5f\x2e", record))
    group = _tlv(b"\x7f\x61", _tlv(b"\x02", b"\x01") + instance)
    return _tlv(b"\x75", group)


def _dg13_sample() -> bytes:
    """The CCCD-layout DG13 of tests/chip/test_fuzz.py (built here without importing the tests)."""

    def utf8(text: str) -> bytes:
        return _tlv(b"\x0c", text.encode("utf-8"))

    def field(n: int, *values: bytes) -> bytes:
        return _tlv(b"\x30", _tlv(b"\x02", bytes([n])) + b"".join(values))

    fields = [
        field(1, utf8("001099012345")),
        field(2, utf8("Nguyễn Văn An")),
        field(3, utf8("01/02/1990")),
        field(13, _tlv(b"\x30", utf8("Nguyễn Văn Bình")), _tlv(b"\x30", utf8("Trần Thị Cúc"))),
        field(16, utf8("0123456789abcdef")),
    ]
    body = (
        _tlv(b"\x02", b"\x01") + _tlv(b"\x06", bytes.fromhex("28cf060100")) + _tlv(b"\x31", b"".join(fields))
    )
    return _tlv(b"\x6d", _tlv(b"\x30", body))


def _pki_seeds(seeds: _Seeds, demo: Path) -> None:
    from asn1crypto import pem

    for path in _files("**/*.cer") + _files("**/*.der") + _files("**/*.crt"):
        seeds.add("certificate", f"shared-{path.name}", path.read_bytes())
    for path in sorted((demo / "pki").rglob("*.der")):
        seeds.add("certificate", f"cardlab-{path.parent.name}-{path.name}", path.read_bytes())
    first = _shared("vn", "CSCA_ePassport_Vietnam_2022.cer").read_bytes()
    seeds.add("certificate", "shared-vn-csca-pem", pem.armor("CERTIFICATE", first))
    for path in _files("**/*.crl"):
        seeds.add("crl", f"shared-{path.name}", path.read_bytes())
    for path in sorted((demo / "pki" / "crl").glob("*.crl")):
        data = path.read_bytes()
        seeds.add("crl", f"cardlab-{path.name}", data)
        if not pem.detect(data):
            seeds.add("crl", f"cardlab-{path.name}-pem", pem.armor("X509 CRL", data))


# --- master lists --------------------------------------------------------------------------------


def master_list_pki(assets: Path) -> dict[str, Path]:
    """A CSCA and a Master List Signer (EKU 2.23.136.1.1.3) for signing test master lists."""
    from asn1crypto import x509

    from bhytgate_clients.cardlab import crypto
    from bhytgate_clients.cardlab.pki import build_certificate, key_identifier, name

    folder = assets / "mlpki"
    paths = {
        "csca": folder / "ml-csca.der",
        "signer": folder / "ml-signer.der",
        "signer_key": folder / "ml-signer.key.pem",
    }
    if all(p.exists() for p in paths.values()):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    csca_key = crypto.new_ec("secp256r1")
    csca_info = crypto.spki(csca_key)
    subject = name("Fuzz ML CSCA")
    csca = build_certificate(
        subject=subject,
        subject_key=csca_info,
        issuer=subject,
        issuer_key=csca_key,
        issuer_key_id=key_identifier(csca_info),
        not_before=dt.datetime(2020, 1, 1, tzinfo=UTC),
        not_after=dt.datetime(2045, 1, 1, tzinfo=UTC),
        ca=True,
    )
    signer_key = crypto.new_ec("secp256r1")
    signer = build_certificate(
        subject=name("Fuzz Master List Signer"),
        subject_key=crypto.spki(signer_key),
        issuer=subject,
        issuer_key=csca_key,
        issuer_key_id=key_identifier(csca_info),
        not_before=dt.datetime(2020, 1, 1, tzinfo=UTC),
        not_after=dt.datetime(2045, 1, 1, tzinfo=UTC),
        ca=False,
    )
    # build_certificate has no EKU parameter: add it and re-sign the TBS.
    tbs = signer["tbs_certificate"]
    extensions = list(tbs["extensions"])
    extensions.append(
        x509.Extension({"extn_id": "extended_key_usage", "critical": False, "extn_value": ["2.23.136.1.1.3"]})
    )
    tbs["extensions"] = extensions
    signature = crypto.sign(csca_key, tbs.dump(force=True), "sha256")
    signer = x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": signer["signature_algorithm"],
            "signature_value": signature,
        }
    )
    paths["csca"].write_bytes(csca.dump())
    paths["signer"].write_bytes(signer.dump())
    crypto.save_key(signer_key, paths["signer_key"])
    return paths


def master_list_econtent(certificates: Iterable[bytes]) -> bytes:
    """CscaMasterList ::= SEQUENCE { version INTEGER (0), certList SET OF Certificate }."""
    certs = sorted(certificates)  # DER SET OF: sorted encodings
    return _tlv(b"\x30", _tlv(b"\x02", b"\x00") + _tlv(b"\x31", b"".join(certs)))


def sign_master_list(econtent: bytes, signer_der: bytes, signer_key: Any) -> bytes:
    """A ContentInfo(signedData) over `econtent` as an ICAO master list, by the given signer."""
    from asn1crypto import cms, core, x509

    from bhytgate_clients.cardlab import crypto

    cert = x509.Certificate.load(signer_der)
    attrs = cms.CMSAttributes(
        [
            {"type": "content_type", "values": ["2.23.136.1.1.2"]},
            {
                "type": "signing_time",
                "values": [cms.Time(name="utc_time", value=dt.datetime(2026, 1, 1, tzinfo=UTC))],
            },
            {"type": "message_digest", "values": [hashlib.sha256(econtent).digest()]},
        ]
    )
    signature = crypto.sign(signer_key, attrs.dump(), "sha256")
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                name="issuer_and_serial_number",
                value={"issuer": cert.issuer, "serial_number": cert.serial_number},
            ),
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": attrs,
            "signature_algorithm": crypto.signature_algorithm(signer_key, "sha256"),
            "signature": signature,
        }
    )
    signed_data = cms.SignedData(
        {
            "version": "v3",
            "digest_algorithms": [{"algorithm": "sha256"}],
            "encap_content_info": {
                "content_type": "2.23.136.1.1.2",
                "content": core.ParsableOctetString(econtent),
            },
            "certificates": [cert],
            "signer_infos": [signer_info],
        }
    )
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump())


def _master_list_class() -> Any:
    from asn1crypto import core, x509

    class CertificateSet(core.SetOf):  # type: ignore[misc]
        _child_spec = x509.Certificate

    class MasterList(core.Sequence):  # type: ignore[misc]
        _fields = [("version", core.Integer), ("certificates", CertificateSet)]

    return MasterList


def _master_list_seeds(seeds: _Seeds, assets: Path, demo: Path) -> None:
    from asn1crypto import cms

    from bhytgate_clients.cardlab import crypto

    _MasterList = _master_list_class()
    paths = master_list_pki(assets)
    key = crypto.load_key(paths["signer_key"])
    signer = paths["signer"].read_bytes()
    de_ml = _shared("trust", "DE_ML_2026-05-28-08-28-45.ml").read_bytes()
    de_econtent = cms.ContentInfo.load(de_ml)["content"]["encap_content_info"]["content"].contents
    de_certs = [c.dump() for c in _MasterList.load(de_econtent)["certificates"]]
    vn = _shared("vn", "CSCA_ePassport_Vietnam_2022.cer").read_bytes()
    lab = [p.read_bytes() for p in sorted((demo / "pki" / "trust").glob("*.der"))]
    contents = {
        "lab-cscas": master_list_econtent(lab),
        "vn-and-lab": master_list_econtent([vn, *lab]),
        "de-first-8": master_list_econtent(de_certs[:8]),
        "de-every-50th": master_list_econtent(de_certs[::50]),
        "empty": master_list_econtent([]),
    }
    for what, econtent in contents.items():
        seeds.add("master_list_content", what, econtent)
        seeds.add("master_list", f"signed-{what}", sign_master_list(econtent, signer, key))
    seeds.add("master_list", "shared-DE_ML", de_ml)


# --- QR, entitlements ----------------------------------------------------------------------------


def _hex(text: str) -> str:
    return text.encode("utf-8").hex()


def _vn(iso: str | None) -> str:
    if not iso:
        return "-"
    y, m, d = iso.split("-")
    return f"{d}/{m}/{y}"


def _qr_seeds(seeds: _Seeds, records: list[dict[str, Any]]) -> None:
    base_cccd = "079099001234|123456789|Nguyễn Văn An|15031990|Nam|12 Lê Lợi, Quận 1, TP Hồ Chí Minh|01072021"
    seeds.add("qr", "test-cccd", base_cccd.encode())
    seeds.add(
        "qr",
        "test-cccd-no-cmnd-nfd",
        base_cccd.replace("|123456789|", "||").replace("|Nam|", "|Nu\u031b\u0303|").encode(),
    )
    for i, rec in enumerate(records):
        dob = rec["date_of_birth"].replace("/", "")
        if len(dob) == 8 and rec.get("cccd_number"):
            issued = "01072021"
            text = f"{rec['cccd_number']}||{rec['full_name']}|{dob}|{rec['sex']}|{rec['address']}|{issued}"
            seeds.add("qr", f"cccd-demo-{i}", text.encode())
        parts = [
            rec["card_number"],
            _hex(rec["full_name"]),
            rec["date_of_birth"],
            "1" if rec["sex"] == "Nam" else "2",
            _hex(rec["address"]),
            f"{rec['registered_facility'][:2]} - {rec['registered_facility'][2:]}",
            _vn(rec["valid_from"]),
            _vn(rec.get("valid_to")),
            _vn(rec["valid_from"]),
            f"{rec['province_code']}{rec['social_insurance_number']}00",
            "-",
            rec.get("area_code") or "-",
            _vn(rec.get("five_year_date")),
            f"{i:04x}5f1c2d3e4f50-1",
        ]
        seeds.add("qr", f"bhyt14-demo-{i}", ("|".join(parts) + "|$").encode())
        if i % 3 == 0:
            parts16 = [*parts, str(rec.get("benefit_code", "4")), _hex(rec.get("issuing_office") or "BHXH")]
            seeds.add("qr", f"bhyt16-demo-{i}", ("|".join(parts16) + "|$").encode())


def _entitlement_seeds(seeds: _Seeds, demo: Path) -> list[dict[str, Any]]:
    from bhytgate.entitlement.validation import FIELD_NAMES

    jsonl = (demo / "entitlements.jsonl").read_bytes()
    records = [json.loads(line) for line in jsonl.decode().splitlines() if line.strip()]
    seeds.add("import_jsonl", "demo-all", jsonl)
    for i, line in enumerate(jsonl.splitlines()[:5]):
        seeds.add("import_jsonl", f"demo-line-{i}", line + b"\n")
    seeds.add(
        "import_jsonl",
        "bad-mixed",
        b'{"card_number": 1}\n[1,2]\nnot json\n{"full_name": "x", "x": 123456789012345678901234}\n',
    )
    columns = [name for name in FIELD_NAMES if any(name in r for r in records)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for rec in records:
        writer.writerow(
            [
                ""
                if rec.get(c) is None
                else str(rec.get(c)).lower()
                if isinstance(rec.get(c), bool)
                else rec.get(c)
                for c in columns
            ]
        )
    demo_csv = buffer.getvalue().encode("utf-8")
    seeds.add("import_csv", "demo-all", demo_csv)
    seeds.add("import_csv", "demo-bom", b"\xef\xbb\xbf" + demo_csv)
    header = "card_number,full_name,date_of_birth,sex,address,registered_facility,valid_from,valid_to,revoked"
    rows = [
        'DN4797912345678,Nguyễn Văn An,15/03/1990,Nam,"12 Lê Lợi, Q1",79014,2025-01-01,31/12/2025,',
        "HT3010112345678,Trần Thị Bình,1950,Nữ,Hà Nội,01 - 097,01/01/2025,,false",
        "DN47979123456,X,15/03/1990,Nam,,79014,2025-01-01,,",
        "DN4797912345679,,1990-02-30,Male,,7901,2025-13-01,,maybe",
        "too,few",
    ]
    seeds.add("import_csv", "test-rows", ("\n".join([header, *rows]) + "\n").encode())
    seeds.add("import_csv", "test-bad-header", b"card_number,nickname\nDN4797912345678,x\n")
    return records


# --- images --------------------------------------------------------------------------------------


def _image_seeds(seeds: _Seeds, cards: list[Path]) -> bytes:
    """Small encodings of real photos in every mode the decoder meets; returns one small JPEG frame."""
    from PIL import Image

    faces = SHARED / "faces"
    photos = [
        faces / "face_recognition" / "examples" / "obama_small.jpg",
        faces / "face_recognition" / "examples" / "biden.jpg",
        faces / "face_recognition" / "examples" / "alex-lacamoire.png",
        faces / "face-api.js" / "bbt1.jpg",
    ]
    frame = b""
    for index, path in enumerate(photos):
        with Image.open(path) as original:
            img = original.convert("RGB")
        img.thumbnail((96, 96))
        variants: dict[str, tuple[Image.Image, str, dict[str, Any]]] = {
            "baseline.jpg": (img, "JPEG", {"quality": 70}),
            "progressive.jpg": (img, "JPEG", {"quality": 60, "progressive": True}),
            "gray.jpg": (img.convert("L"), "JPEG", {"quality": 60}),
            "cmyk.jpg": (img.convert("CMYK"), "JPEG", {"quality": 60}),
            "rgb.png": (img, "PNG", {}),
            "palette.png": (img.convert("P"), "PNG", {}),
            "rgba-interlaced.png": (img.convert("RGBA"), "PNG", {"interlace": 1}),
            "gray16.png": (img.convert("I;16"), "PNG", {}),
            "file.jp2": (img, "JPEG2000", {}),
            "codestream.j2k": (img, "JPEG2000", {"irreversible": True}),
        }
        if index > 1:  # all variants for two photos, the common ones for the rest
            variants = {k: v for k, v in variants.items() if k in ("baseline.jpg", "rgb.png", "file.jp2")}
        for what, (picture, fmt, options) in variants.items():
            buffer = io.BytesIO()
            picture.save(buffer, fmt, **options)
            seeds.add("image", f"{path.stem}-{what}", buffer.getvalue())
        exif = Image.Exif()
        exif[0x0112] = 6  # orientation: rotated, exercises exif_transpose
        buffer = io.BytesIO()
        img.save(buffer, "JPEG", quality=60, exif=exif.tobytes())
        seeds.add("image", f"{path.stem}-exif-orientation6.jpg", buffer.getvalue())
        if not frame:
            frame = buffer.getvalue()
    # The images real chips carry: the BSI DG2 (JPEG 2000) and the 19794 sample (JPEG).
    from bhytgate.chip.lds.dg2 import parse_dg2

    for rel in ("bsi_test_passport_2008/Datagroup2.bin", "dg2_samples/ICAO_39794_5_AP_DG2_AllFields.dat"):
        for face in parse_dg2(_shared(rel).read_bytes()):
            seeds.add("image", f"dg2-{Path(rel).stem}-{face.format}", face.image)
    record = _shared("dg2_samples", "ISO19794_Test1_Data.bin").read_bytes()
    for face in parse_dg2(_dg2_around(record)):
        seeds.add("image", f"iso19794-{face.format}", face.image)
    return frame


# --- verify_chip ---------------------------------------------------------------------------------


def _verify_chip_assets(seeds: _Seeds, assets: Path, cards: list[Path]) -> None:
    """Base dumps with their AA answers for a fixed challenge; a seed per (dump, file)."""
    from bhytgate_clients.cardlab import SimulatedChip

    chosen = [
        c for c in cards if c.name in ("00-obama", "01-biden", "dg13_edited", "ds_revoked", "aa_replay-ec")
    ]
    chosen += [c for c in cards if c.parent.name == "extra_cards"]
    bases: list[dict[str, Any]] = []
    for card in chosen:
        files = {name: (card / name).read_bytes().hex() for name in CHIP_FILE_TAGS if (card / name).is_file()}
        signatures = [s.hex() for s in SimulatedChip.from_dump(card).answer_challenge(CHALLENGE)]
        bases.append({"name": card.name, "files": files, "signatures": signatures})
    bsi = {
        "EF.SOD": "bsi_test_passport_2008/EF_SOD.bin",
        "DG1": "bsi_test_passport_2008/Datagroup1.bin",
        "DG2": "bsi_test_passport_2008/Datagroup2.bin",
        "DG14": "bsi_test_passport_2008/Datagroup14.bin",
        "DG15": "bsi_test_passport_2008/Datagroup15.bin",
    }
    bases.append(
        {
            "name": "bsi_test_passport_2008",
            "files": {k: _shared(v).read_bytes().hex() for k, v in bsi.items()},
            "signatures": [("00" * 128)] * 4,
        }
    )
    (assets / "verify_chip.json").write_text(json.dumps(bases, indent=1), encoding="utf-8")
    names = list(CHIP_FILE_TAGS)
    for b, base in enumerate(bases):
        for f, name in enumerate(names):
            if name in base["files"] and (name != "DG2" or b < 2):
                seeds.add(
                    "verify_chip",
                    f"{base['name']}-{name}",
                    bytes([b, f]) + bytes.fromhex(base["files"][name]),
                )


# --- gRPC requests -------------------------------------------------------------------------------


def _grpc_seeds(seeds: _Seeds, demo: Path, frame: bytes, records: list[dict[str, Any]]) -> None:
    from bhytgate.api.v1 import gateway_pb2 as pb
    from bhytgate_clients.cardlab import SimulatedChip

    def add(method: str, what: str, message: Any) -> None:
        seeds.add(
            "grpc", f"{method}-{what}", bytes([GRPC_METHODS.index(method)]) + message.SerializeToString()
        )

    operator = pb.Operator(full_name="Lê Thị Hoa", cccd_number="079099001234")
    challenge_id = "0123456789abcdef0123456789abcdef"
    add(
        "BeginVerification",
        "desk",
        pb.BeginVerificationRequest(
            terminal_kind=pb.TERMINAL_KIND_DESK,
            terminal_id="desk-01",
            operator=operator,
            facility_code="01001",
        ),
    )
    add(
        "BeginVerification",
        "kiosk",
        pb.BeginVerificationRequest(terminal_kind=pb.TERMINAL_KIND_KIOSK, terminal_id="kiosk.7"),
    )
    for card_name in ("00-obama", "01-biden"):
        card = demo / "cards" / card_name
        chip = pb.ChipData(
            ef_sod=(card / "EF.SOD").read_bytes(),
            dg1=(card / "DG1").read_bytes(),
            dg2=(card / "DG2").read_bytes(),
            dg13=(card / "DG13").read_bytes(),
            dg14=(card / "DG14").read_bytes(),
            dg15=(card / "DG15").read_bytes(),
        )
        signatures = SimulatedChip.from_dump(card).answer_challenge(CHALLENGE)
        add(
            "Verify",
            f"chip-{card_name}",
            pb.VerifyRequest(
                challenge_id=challenge_id,
                terminal_id="desk-01",
                chip=chip,
                active_auth=pb.ActiveAuthResponse(signatures=signatures),
                frames=[pb.CaptureFrame(image=frame, timestamp_ms=1764590000000 + i) for i in range(2)],
                terminal_signature=pb.TerminalSignature(
                    signature=b"\x30\x06\x02\x01\x01\x02\x01\x01", key_id="desk-01"
                ),
                operator=operator,
            ),
        )
    rec = records[0]
    bhyt = (
        "|".join(
            [
                rec["card_number"],
                _hex(rec["full_name"]),
                rec["date_of_birth"],
                "1",
                _hex(rec["address"]),
                "79 - 014",
                "01/01/2026",
                "-",
                "01/01/2026",
                "79791234567800",
                "-",
                "K1",
                "-",
                "7b6a5f1c2d3e4f50-1",
            ]
        )
        + "|$"
    )
    add(
        "Verify",
        "qr-bhyt",
        pb.VerifyRequest(
            challenge_id=challenge_id,
            terminal_id="kiosk.7",
            qr=pb.QrCredential(qr_text=bhyt, qr_kind=pb.QR_KIND_BHYT_QR),
            frames=[pb.CaptureFrame(image=frame, timestamp_ms=1764590000000)],
        ),
    )
    add("GetAttestationKeys", "empty", pb.GetAttestationKeysRequest())
    add(
        "EnrollTemplate",
        "three-frames",
        pb.EnrollTemplateRequest(
            verification_id=challenge_id,
            frames=[pb.CaptureFrame(image=frame, timestamp_ms=1764590000000 + i) for i in range(3)],
            operator=operator,
            consent=pb.HolderConsent(granted=True, terms_version="2026-01"),
        ),
    )
    add(
        "LinkSocialInsurance",
        "ok",
        pb.LinkSocialInsuranceRequest(
            cccd_number="079099001234",
            social_insurance_number="7912345678",
            verification_id=challenge_id,
            operator=operator,
        ),
    )
    add(
        "ReportDocumentLost",
        "stolen",
        pb.ReportDocumentLostRequest(
            cccd_number="079099001234",
            document_number="C01234567",
            reason=pb.LOSS_REASON_STOLEN,
            reporter=operator,
            note="Mất ví tại chợ Bến Thành.\nĐã báo công an phường.",
        ),
    )
    trust = sorted((demo / "pki" / "trust").glob("*.der"))
    crls = sorted((demo / "pki" / "crl").glob("*.crl"))
    add(
        "LoadTrustAnchors",
        "lab",
        pb.LoadTrustAnchorsRequest(
            csca_certificates=[p.read_bytes() for p in trust], crls=[p.read_bytes() for p in crls]
        ),
    )
    jsonl = (demo / "entitlements.jsonl").read_bytes()
    add(
        "ImportEntitlements",
        "jsonl",
        pb.ImportEntitlementsRequest(content=jsonl[:4000], format=pb.IMPORT_FORMAT_JSONL, dry_run=True),
    )
    add(
        "ImportEntitlements",
        "csv",
        pb.ImportEntitlementsRequest(content=b"card_number,full_name\n", format=pb.IMPORT_FORMAT_CSV),
    )
    add("VerifyAuditChain", "empty", pb.VerifyAuditChainRequest())
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    add("RegisterTerminalKey", "p256", pb.RegisterTerminalKeyRequest(terminal_id="kiosk.7", public_key=der))
    members = [
        pb.HouseholdMember(cccd_number="079099001234"),
        pb.HouseholdMember(social_insurance_number="7912345678"),
    ]
    add(
        "QuoteHouseholdRenewal",
        "two",
        pb.QuoteHouseholdRenewalRequest(members=members, months=12, quote_date="2026-07-01"),
    )
    add(
        "RenewHousehold",
        "two",
        pb.RenewHouseholdRequest(
            payer_verification_id=challenge_id,
            members=members,
            months=6,
            payment_reference="CASH-0001",
            operator=operator,
        ),
    )
    add("GetConsentTerms", "empty", pb.GetConsentTermsRequest())
    for method, message in (
        ("ExportSubjectData", pb.ExportSubjectDataRequest),
        ("DeleteFaceTemplate", pb.DeleteFaceTemplateRequest),
        ("WithdrawConsent", pb.WithdrawConsentRequest),
    ):
        add(
            method,
            "holder",
            message(cccd_number="079099001234", verification_id=challenge_id, operator=operator),
        )


# --- dictionaries --------------------------------------------------------------------------------


def _der_oid(dotted: str) -> bytes | None:
    arcs = [int(a) for a in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2:
        return None
    body = bytearray()
    for value in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [value & 0x7F]
        value >>= 7
        while value:
            chunk.append(0x80 | (value & 0x7F))
            value >>= 7
        body.extend(reversed(chunk))
    return _tlv(b"\x06", bytes(body))


def known_oids() -> list[bytes]:
    """DER encodings of every dotted OID written in the chip code and asn1crypto's algorithm maps."""
    from asn1crypto import algos, keys

    found: set[str] = set()
    for path in (REPO / "server" / "bhytgate" / "chip").rglob("*.py"):
        found.update(re.findall(r"\"([0-2](?:\.[0-9]+){2,})\"", path.read_text(encoding="utf-8")))
    for mapping in (
        algos.SignedDigestAlgorithmId._map,
        algos.DigestAlgorithmId._map,
        keys.NamedCurve._map,
        keys.PublicKeyAlgorithmId._map,
    ):
        found.update(mapping)
    return sorted(d for d in (_der_oid(x) for x in found) if d)


def _escape(token: bytes) -> str:
    return '"' + "".join(f"\\x{b:02x}" for b in token) + '"'


def _write_dicts(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    der = [
        *known_oids(),
        b"\x05\x00",
        b"\x30\x80",
        b"\x00\x00",
        b"\x02\x01\x00",
        b"\x02\x01\x01",
        b"\x01\x01\xff",
        b"\x5f\x1f",
        b"\x7f\x61",
        b"\x7f\x60",
        b"\x5f\x2e",
        b"\x7f\x2e",
        b"FAC\x00010\x00",
        b"\xff\xd8\xff",
        b"\x00\x00\x00\x0cjP  \r\n\x87\n",
        b"\x17\x0d",
        b"\x18\x0f",
    ]
    der_dict = "\n".join(_escape(t) for t in der) + "\n"
    for target in (
        "sod",
        "dg1",
        "dg2",
        "dg13",
        "dg14",
        "dg15",
        "certificate",
        "crl",
        "master_list",
        "master_list_content",
        "verify_chip",
    ):
        (root / f"{target}.dict").write_text(der_dict, encoding="utf-8")
    text = [
        b"|",
        b"$",
        b"|$",
        b"Nam",
        "Nữ".encode(),
        b"-",
        b"01/01/2025",
        b"31/12/2025",
        b"15031990",
        b"79 - 014",
        b"\r\n",
        b"\xef\xbb\xbf",
        b"K1",
        b"00",
        "Nu\u031b\u0303".encode(),
    ]
    (root / "qr.dict").write_text("\n".join(_escape(t) for t in text) + "\n", encoding="utf-8")
    from bhytgate.entitlement.validation import FIELD_NAMES

    fields = [n.encode() for n in FIELD_NAMES]
    csv_tokens = [
        *fields,
        b",",
        b'"',
        b'""',
        b"\n",
        b"\r\n",
        b"true",
        b"false",
        b"01/01/2025",
        b"2025-01-01",
        b"Nam",
    ]
    (root / "import_csv.dict").write_text("\n".join(_escape(t) for t in csv_tokens) + "\n", encoding="utf-8")
    json_tokens = [b'"' + f + b'":' for f in fields] + [
        b"null",
        b"true",
        b"1e999",
        b"-0",
        b"[",
        b"{",
        b"\\u0000",
        b"\\ud800",
    ]
    (root / "import_jsonl.dict").write_text(
        "\n".join(_escape(t) for t in json_tokens) + "\n", encoding="utf-8"
    )
    image_tokens = [
        b"IHDR",
        b"IDAT",
        b"IEND",
        b"PLTE",
        b"tRNS",
        b"eXIf",
        b"iCCP",
        b"zTXt",
        b"\xff\xc0",
        b"\xff\xc2",
        b"\xff\xc4",
        b"\xff\xda",
        b"\xff\xe1",
        b"Exif\x00\x00",
        b"jp2h",
        b"ihdr",
        b"colr",
        b"\xff\x51",
        b"\xff\x90",
    ]
    (root / "image.dict").write_text("\n".join(_escape(t) for t in image_tokens) + "\n", encoding="utf-8")


# --- entry point ---------------------------------------------------------------------------------


def build(workdir: Path) -> dict[str, int]:
    """Write seeds, dictionaries and assets under `workdir`; returns the seed count per target."""
    assets = workdir / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    seed_root = workdir / "seeds"
    if seed_root.exists():
        shutil.rmtree(seed_root)
    seeds = _Seeds(seed_root)
    demo = _demo(assets)
    extra = _extra_cards(assets, demo)
    cards = _card_dirs(demo, extra)
    _chip_seeds(seeds, cards)
    _pki_seeds(seeds, demo)
    _master_list_seeds(seeds, assets, demo)
    records = _entitlement_seeds(seeds, demo)
    _qr_seeds(seeds, records)
    frame = _image_seeds(seeds, cards)
    _verify_chip_assets(seeds, assets, cards)
    _grpc_seeds(seeds, demo, frame, records)
    _write_dicts(workdir / "dicts")
    return dict(sorted(seeds.count.items()))
