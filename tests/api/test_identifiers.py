"""Identifiers and short texts from outside: one set of ASCII, full-match validators (bhytgate.ids),
applied to every string field of every request.

The attack this guards against: `^\\d{12}$` accepted "<cccd>\\n" and Arabic-Indic digits, so a
stolen-card report was accepted, audited, and flagged nothing: the card stayed ACCEPTED.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

# The session deployment of the end-to-end tests (a real server on loopback, mTLS).
from gateway.conftest import Deployment, deployment  # noqa: F401
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from bhytgate import ids
from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.storage._codec import check_bhxh, check_card, check_cccd
from bhytgate_clients.cardlab import SimulatedChip
from bhytgate_clients.cardlab.camera import SimulatedCamera
from bhytgate_clients.cli.checkin import chip_photo_source, read_chip_files
from bhytgate_clients.sdk import Frame, GatewayClient, GatewayError, Operator
from bhytgate_clients.sdk.results import Challenge

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")


def unicode_digit_forms(value: str) -> list[str]:
    return [value.translate(t) for t in (ARABIC_INDIC, FULLWIDTH, DEVANAGARI)]


# --- the validators ------------------------------------------------------------------------------

DIGIT_IDS: list[tuple[Callable[[str], str], str]] = [
    (ids.cccd, "001185000123"),
    (ids.bhxh, "0112345678"),
    (ids.facility_code, "79014"),
]


@pytest.mark.parametrize(("check", "good"), DIGIT_IDS, ids=lambda v: getattr(v, "__name__", v))
def test_digit_identifiers_are_ascii_digits_and_nothing_else(check: Callable[[str], str], good: str) -> None:
    assert check(good) == good
    hostile = [
        good + "\n",
        good + "\r\n",
        "\n" + good,
        good + " ",
        " " + good,
        good[:-1] + " " + good[-1],
        good[:-1],
        good + "0",
        "",
        good + "\x00",
        "0" * 10_000,
        *unicode_digit_forms(good),
        good[:-1] + "١",  # one Arabic-Indic digit is enough
    ]
    for value in hostile:
        with pytest.raises(ValueError) as err:
            check(value)
        assert good not in str(err.value) or not good  # the message never echoes the value


def test_card_number() -> None:
    good = "DN4797912345678"
    assert ids.card_number(good) == good
    for value in [
        good + "\n",
        good.lower(),
        "DN6797912345678",  # benefit code 6
        "ĐN4797912345678",
        "DN479791234567８",
        good[:2] + good[2:].translate(ARABIC_INDIC),
        good[:-1],
        " " + good,
        "",
    ]:
        with pytest.raises(ValueError):
            ids.card_number(value)


def test_terminal_and_key_ids() -> None:
    for good in ("desk-01", "a", "Kiosk_3.lobby", "x" * 64):
        assert ids.terminal_id(good) == good and ids.key_id(good) == good
    for value in [
        "desk-01\n",
        "desk-01 ",
        "desk 01",
        "",
        "x" * 65,
        "-desk",
        ".hidden",
        "../phone-01",
        "desk/01",
        "desk-٠١",
        "desk-０１",
        "dеsk-01",  # Cyrillic е
        "desk-01\x00",
    ]:
        with pytest.raises(ValueError):
            ids.terminal_id(value)
        with pytest.raises(ValueError):
            ids.key_id(value)


def test_challenge_and_verification_ids() -> None:
    good = "0123456789abcdef" * 2
    assert ids.challenge_id(good) == good and ids.verification_id(good) == good
    for value in [good + "\n", good.upper(), good[:-1], good + "0", "", good[:-1] + "g", good[:-2] + "٠١"]:
        with pytest.raises(ValueError):
            ids.challenge_id(value)
        with pytest.raises(ValueError):
            ids.verification_id(value)


def test_document_number() -> None:
    assert ids.document_number("185000123") == "185000123"
    for value in ["185000123\n", "18500012٣", "185 000123", "", "X" * 21, "185000123\x00", "abc"]:
        with pytest.raises(ValueError):
            ids.document_number(value)


def test_person_names() -> None:
    assert ids.person_name("Lê Thu Hà") == "Lê Thu Hà"
    assert ids.person_name("  Lê Thu Hà ") == "Lê Thu Hà"
    decomposed = "Le\u0302 Thu Ha\u0300"  # NFD: combining marks are printable
    assert ids.person_name(decomposed) == decomposed
    for value in [
        "",
        "   ",
        "Lê\nThu Hà",
        "Lê Thu Hà\n",
        "Lê\tThu",
        "Lê\x00",
        "Lê\x1b[31m",
        "Lê\u202eàH",  # right-to-left override
        "Lê\u2028Hà",
        "x" * 201,
    ]:
        with pytest.raises(ValueError):
            ids.person_name(value)


def test_free_text_notes() -> None:
    note = "Mất ví ở chợ Bến Thành.\nĐã báo công an phường.\t(bản sao)"
    assert ids.free_text(note) == note and ids.free_text("") == ""
    for value in ["x" * 2001, "a\x00b", "a\x1bb", "a\u202eb", "a\rb", "\x7f"]:
        with pytest.raises(ValueError):
            ids.free_text(value)


def test_qr_text() -> None:
    qr = "079099001234|123456789|Nguyễn Văn An|15031990|Nam|12 Lê Lợi|01012021\r\n"
    assert ids.qr_text(qr) == qr
    for value in ["", "x" * 4097, "abc\x00", "a\x1bb"]:
        with pytest.raises(ValueError):
            ids.qr_text(value)


def test_storage_checks_use_the_same_patterns() -> None:
    assert check_cccd("001185000123") == "001185000123"
    for bad in ["001185000123\n", "٠٠١١٨٥٠٠٠١٢٣"]:
        with pytest.raises(ValueError):
            check_cccd(bad)
    with pytest.raises(ValueError):
        check_bhxh("0112345678\n")
    with pytest.raises(ValueError):
        check_card("DN4797912345678\n")


# --- every string field of every RPC, on the wire -------------------------------------------------


def string_fields(message: Descriptor, prefix: str = "") -> list[str]:
    """Dotted paths of every string field, nested messages of ours included ("operator.cccd_number")."""
    out: list[str] = []
    for field in message.fields:
        path = prefix + field.name
        if field.type == FieldDescriptor.TYPE_STRING:
            out.append(path + "[0]" if field.is_repeated else path)  # a list: its first item
        elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.file is message.file:
            if field.is_repeated:
                path += "[0]"
            out += string_fields(field.message_type, path + ".")
    return out


RPCS = [
    (service.name, method.name, method.input_type)
    for service in pb.DESCRIPTOR.services_by_name.values()
    for method in service.methods
]
CASES = [(svc, method, path) for svc, method, message in RPCS for path in string_fields(message)]

# A well-formed value per field name: a field that is not listed here fails the test, so that a new
# string field cannot arrive without a decision about its form (and a validator in the servicer).
VALID = {
    "terminal_id": "probe-desk",
    "facility_code": "01001",
    "full_name": "Lê Thu Hà",
    "cccd_number": "001185000123",
    "challenge_id": "0" * 32,
    "verification_id": "0" * 32,
    "qr_text": "079099001234|123456789|Nguyễn Văn An|15031990|Nam|12 Lê Lợi|01012021",
    "key_id": "probe-desk",
    "social_insurance_number": "0112345678",
    "document_number": "185000123",
    "note": "taken at the counter",
    # issue 15
    "payer_verification_id": "0" * 32,
    "payment_reference": "PAY-2026-0001",
    "quote_date": "2026-12-01",
    "terms_version": "2026-01",
    "ma_lk": "LK-2026/001",
    "ma_bn": "BN0042",
    "ma_doituong_kcb": "1.1",
    "ma_loai_kcb": "01",
    "file_name": "claims-2026-11.xml",
    "guardian_verification_id": "0" * 32,
    "reason": "papers checked at the desk",
    "phone_e164": "+84912345678",
    "email": "an.nguyen@example.vn",
    "integrity_token": "eyJhbGciOiJFUzI1NiJ9.e30.c2ln",
    "checkpoints": "eyJhbGciOiJFUzI1NiJ9.e30.c2ln",
}
TERMINAL = {
    "VerificationService": "probe-desk",
    "CounterService": "counter-01",
    "AdminService": "admin-01",
    "ReviewService": "reviewer-01",
    "RegistrationService": "signing-phone",
}
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64  # the format check passes; never decoded (refused earlier)


def _name(path: str) -> str:
    """The field's name: the last part of its path, without a list's [0]."""
    return path.rsplit(".", 1)[-1].removesuffix("[0]")


def hostile_values(path: str) -> list[str]:
    name = _name(path)
    good = VALID[name]
    too_long = {"qr_text": 4097, "note": 2001, "reason": 501, "integrity_token": 16 * 1024 + 1}.get(name, 300)
    values = [good + "\x00", "x" * too_long]  # refused by every validator
    if name in ("full_name", "note", "qr_text", "reason", "file_name"):
        values += ["Lê\x1b[2J", "Lê\u202eàH"] if name != "qr_text" else ["abc\x1b[2J"]
        if name == "full_name":
            values += ["Lê Thu\nHà", "Lê Thu Hà\n"]
    else:
        values += [good + "\n", "\n" + good, good + " ", good[:1] + " " + good[1:]]
        if any(c.isdigit() for c in good):
            values += unicode_digit_forms(good)
    return values


def set_path(message: Any, path: str, value: str) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        if part.endswith("[0]"):
            items = getattr(message, part[:-3])
            message = items[0] if items else items.add()
        else:
            message = getattr(message, part)
    if leaf.endswith("[0]"):  # a list of strings: its first item
        items = getattr(message, leaf[:-3])
        if items:
            items[0] = value
        else:
            items.append(value)
        return
    setattr(message, leaf, value)


def base_request(method: str) -> Any:
    """A request of `method` whose every string field is well-formed (and other fields usable)."""
    message = getattr(pb, dict((m, msg) for _, m, msg in RPCS)[method].name)()
    for path in string_fields(message.DESCRIPTOR):
        set_path(message, path, VALID[_name(path)])
    if method == "BeginVerification":
        message.terminal_kind = pb.TERMINAL_KIND_DESK
    if method in ("Verify", "EnrollTemplate"):
        message.frames.add(image=JPEG, timestamp_ms=int(dt.datetime.now(dt.UTC).timestamp() * 1000))
    if method == "Verify":
        message.qr.qr_kind = pb.QR_KIND_CCCD_QR
        message.terminal_signature.signature = b"\x01" * 64
    if method == "ReportDocumentLost":
        message.reason = pb.LOSS_REASON_STOLEN
    if method == "RegisterTerminalKey":
        message.public_key = b"\x01" * 32
    if method == "ResolveReviewCase":
        message.resolution = pb.REVIEW_STATE_ACCEPTED
    if method in ("QuoteHouseholdRenewal", "RenewHousehold"):
        message.months = 12
    if method == "EnrollTemplate":
        message.consent.granted = True
    return message


def test_the_field_list_comes_from_the_contract() -> None:
    """The wire test below goes through these; the descriptors decide what they are."""
    paths = {(method, path) for _, method, path in CASES}
    assert {
        ("BeginVerification", "operator.cccd_number"),
        ("Verify", "qr.qr_text"),
        ("Verify", "terminal_signature.key_id"),
        ("ReportDocumentLost", "cccd_number"),
        ("ReportDocumentLost", "reporter.full_name"),
        ("ReportDocumentLost", "note"),
        ("LinkSocialInsurance", "social_insurance_number"),
        ("EnrollTemplate", "verification_id"),
        ("EnrollTemplate", "consent.terms_version"),
        ("RenewHousehold", "payment_reference"),
        ("RenewHousehold", "members[0].cccd_number"),
        ("RenewHousehold", "members[0].social_insurance_number"),
        ("QuoteHouseholdRenewal", "quote_date"),
        ("ExportSubjectData", "cccd_number"),
        ("WithdrawConsent", "operator.full_name"),
    } <= paths
    assert {_name(path) for _, _, path in CASES} <= set(VALID)


@pytest.fixture(scope="module")
def clients(deployment: Deployment) -> Iterator[dict[str, GatewayClient]]:  # noqa: F811
    made = {svc: deployment.client(terminal) for svc, terminal in TERMINAL.items()}
    yield made
    for client in made.values():
        client.close()


def _stub_call(client: GatewayClient, service: str, method: str) -> Any:
    stub = {
        "VerificationService": client.verification,
        "CounterService": client.counter,
        "AdminService": client.admin,
        "ReviewService": client.review,
        "RegistrationService": client.registration,
    }[service]
    return getattr(stub, method)


@pytest.mark.parametrize(("service", "method", "path"), CASES, ids=[f"{m}:{p}" for _, m, p in CASES])
def test_every_string_field_refuses_hostile_values(
    deployment: Deployment,  # noqa: F811
    clients: dict[str, GatewayClient],
    service: str,
    method: str,
    path: str,
) -> None:
    call = _stub_call(clients[service], service, method)
    records = deployment.running.gateway.store.audit_head()[0]
    for value in hostile_values(path):
        request = base_request(method)
        set_path(request, path, value)
        with pytest.raises(grpc.RpcError) as err:
            if method == "ReconcileClaims":  # a stream: the options travel in its first message
                list(call(iter([request]), timeout=30))
            else:
                call(request, timeout=30)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (path, value[:40], err.value.details())
        fields = [f for f, _ in GatewayError.from_rpc_error(err.value).violations]
        assert fields == [path], (path, value[:40], fields)
    # Refused before anything was looked up or recorded.
    assert deployment.running.gateway.store.audit_head()[0] == records


def _live_frames(d: Deployment, card: Path) -> list[Path]:
    meta = json.loads((card / "card.json").read_text(encoding="utf-8"))
    identity = meta.get("identity") or card.name.split("-", 1)[1]
    rows = (d.faces / "labels.csv").read_text(encoding="utf-8").splitlines()[1:]
    photos = [d.faces / line.split(",")[0] for line in rows if line.split(",")[1] == identity]
    source = chip_photo_source(card)
    return [p for p in photos if source is None or p.resolve() != source.resolve()]


def test_a_lost_report_with_a_disguised_cccd_is_refused_and_flags_nothing(
    deployment: Deployment,  # noqa: F811
) -> None:
    card = deployment.card("raj")
    cccd = json.loads((card / "card.json").read_text(encoding="utf-8"))["citizen_id"]
    reporter = Operator("Lê Thu Hà", "001185000123")
    records = deployment.running.gateway.store.audit_head()[0]
    with deployment.client("counter-01") as counter:
        for disguised in [cccd + "\n", *unicode_digit_forms(cccd), cccd + " ", cccd[:-1] + "١"]:
            with pytest.raises(GatewayError) as err:
                counter.report_lost(disguised, "stolen", reporter)
            assert err.value.code == "INVALID_ARGUMENT"
            assert [f for f, _ in err.value.violations] == ["cccd_number"]
    assert deployment.running.gateway.store.audit_head()[0] == records  # no REPORTED_STOLEN record

    # The card behaves as before: accepted at a desk, not DOCUMENT_REPORTED_LOST.
    camera = SimulatedCamera(_live_frames(deployment, card))

    def capture(challenge: Challenge) -> list[Frame]:
        return camera.single(int(dt.datetime.now(dt.UTC).timestamp() * 1000))

    with deployment.client("clean-desk") as desk:
        result = desk.check_in(
            read_chip_files(card),
            capture,
            answer_challenge=SimulatedChip.from_dump(card).answer_challenge,
            terminal_kind="desk",
            operator=reporter,
        )
    assert result.decision == "ACCEPTED", result.reasons
    assert "DOCUMENT_REPORTED_LOST" not in result.reason_codes


# --- enum fields ---------------------------------------------------------------------------------

ENUM_FIELDS = [
    ("VerificationService", "BeginVerification", "terminal_kind", True),
    ("VerificationService", "BeginVerification", "purpose", False),  # a hint: unspecified is fine
    ("VerificationService", "Verify", "qr.qr_kind", True),
    ("CounterService", "ReportDocumentLost", "reason", True),
    ("AdminService", "ImportEntitlements", "format", True),
    ("AdminService", "RevokeTerminalCertificate", "reason", True),
    ("ReviewService", "ResolveReviewCase", "resolution", True),
]


def _enum_paths(descriptor: Descriptor, prefix: str = "") -> list[str]:
    out = []
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_ENUM:
            out.append(prefix + field.name)
        elif (
            field.type == FieldDescriptor.TYPE_MESSAGE
            and not field.is_repeated
            and not field.message_type.full_name.startswith("google.")
        ):
            out += _enum_paths(field.message_type, prefix + field.name + ".")
    return out


def test_the_enum_field_list_comes_from_the_contract() -> None:
    """Every enum field of every request is in ENUM_FIELDS: a new one must say how it is checked."""
    found = {(method, path) for _, method, message in RPCS for path in _enum_paths(message)}
    assert found == {(m, p) for _, m, p, _ in ENUM_FIELDS}


@pytest.mark.parametrize(
    ("service", "method", "path", "required"), ENUM_FIELDS, ids=[f"{m}:{p}" for _, m, p, _ in ENUM_FIELDS]
)
def test_an_unknown_enum_value_is_named_as_unknown(
    deployment: Deployment,  # noqa: F811
    clients: dict[str, GatewayClient],
    service: str,
    method: str,
    path: str,
    required: bool,
) -> None:
    """A number the contract does not define (a newer client, a fuzzer) is "unknown value N", with
    the values this call takes; the zero of a required field is "required"."""
    call = _stub_call(clients[service], service, method)
    *parents, leaf = path.split(".")
    for value, expected in (
        (77, "unknown value 77: one of "),
        (0, "required: one of " if required else None),
    ):
        request = base_request(method)
        target = request
        for part in parents:
            target = getattr(target, part)
        setattr(target, leaf, value)
        try:
            call(request, timeout=30)
            details: dict[str, str] = {}
        except grpc.RpcError as err:
            details = dict(GatewayError.from_rpc_error(err).violations)
            if expected is not None:
                assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (path, value, err.details())
        if expected is None:
            assert path not in details, (path, value, details)
        else:
            assert details.get(path, "").startswith(expected), (path, value, details)
            assert "UNSPECIFIED" not in details[path]


def test_a_facility_code_other_than_the_certificates_is_refused(
    clients: dict[str, GatewayClient],
) -> None:
    """The facility is the certificate's, as the terminal id is (probe-desk is 01001's)."""
    call = _stub_call(clients["VerificationService"], "VerificationService", "BeginVerification")
    request = base_request("BeginVerification")
    request.facility_code = "79001"
    with pytest.raises(grpc.RpcError) as err:
        call(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "facility_code" in (err.value.details() or "")
    request.facility_code = "01001"
    assert call(request, timeout=30).challenge_id
