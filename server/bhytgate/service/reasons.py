"""The reasons a check gives, in the gateway's vocabulary (`policy.model.ReasonCode`): how a chip
report, a spent challenge, a face outcome and an entitlement answer become precise reasons, and
which checks they fail. Pure functions."""

from __future__ import annotations

from bhytgate.chip.verify import ChipReport
from bhytgate.entitlement.validity import EntitlementCheck
from bhytgate.policy.model import CheckResults, FraudSignals, Reason
from bhytgate.service.workers import FaceOutcome
from bhytgate.storage.interface import ChallengeProblem

# DG1 always; DG2 and DG13 when EF.SOD lists them (a 2024 card of a child under 6 has no DG2;
# an unreadable DG13 is no failure: the number comes from DG1).
REQUIRED_DATA_GROUPS = (1,)
LISTED_DATA_GROUPS = (2, 13)

CHALLENGE_REASONS = {
    ChallengeProblem.UNKNOWN: ("CHALLENGE_UNKNOWN", "challenge was never issued or has been purged"),
    ChallengeProblem.EXPIRED: ("CHALLENGE_EXPIRED", "challenge expired before Verify"),
    ChallengeProblem.REPLAYED: ("CHALLENGE_REPLAYED", "challenge was already used by an earlier Verify"),
    ChallengeProblem.TERMINAL_MISMATCH: (
        "CHALLENGE_TERMINAL_MISMATCH",
        "challenge belongs to another terminal",
    ),
}

LIVENESS_REASONS = {
    "liveness_frame_replayed": "FRAMES_REPLAYED",
    "liveness_card_photo": "CARD_PHOTO_PRESENTED",
    "liveness_bad_signature": "TERMINAL_SIGNATURE_INVALID",
}

FACE_CAPTURE_REASONS = {"no_face": "NO_FACE", "multiple_faces": "MULTIPLE_FACES"}


def chip_reasons(report: ChipReport) -> list[Reason]:
    """Precise reasons from the chip report, in the gateway's vocabulary; empty if the chip is fine.

    A chip whose EF.SOD lists no DG2 (a child's card) passes without one; one whose EF.SOD lists
    DG2 must send it, so a photo cannot be withheld to pass as a child's card."""
    passive = report.passive
    out: list[Reason] = []
    if not passive.signature.valid:
        out.append(Reason("CHIP_SIGNATURE_INVALID", f"EF.SOD: {passive.signature.reason}"))
    chain = passive.chain.reason
    if chain and passive.signature.valid:
        if chain == "ds_revoked":
            code = "SIGNER_REVOKED"
        elif chain.endswith(("expired", "not_yet_valid")):
            code = "SIGNER_EXPIRED"
        else:
            code = "SIGNER_UNTRUSTED"
        out.append(Reason(code, f"Document Signer: {chain}"))
    if not passive.country.valid:
        out.append(Reason("SIGNER_UNTRUSTED", "DG1 issuing state differs from the signer's country"))
    for number, status in passive.data_groups.items():
        if status == "mismatch" and number in passive.trailing_bytes:
            # The data group itself is what was signed; the terminal sent bytes after it.
            extra = passive.trailing_bytes[number]
            detail = (
                f"DG{number} has {extra} bytes after its TLV (reader padding?): the TLV alone "
                "matches EF.SOD; send the data group's TLV only"
            )
            out.append(Reason("CHIP_DATA_MALFORMED", detail))
        elif status == "mismatch":
            out.append(Reason("DATA_GROUP_HASH_MISMATCH", f"DG{number} hash differs from EF.SOD"))
    if not out:
        for number in REQUIRED_DATA_GROUPS:
            required = passive.data_groups.get(number)
            if required != "match":
                out.append(Reason("DATA_GROUP_NOT_IN_SOD", f"DG{number} is {required or 'absent'}"))
        for number in LISTED_DATA_GROUPS:
            listed = passive.data_groups.get(number)
            if listed == "absent":
                out.append(
                    Reason("DATA_GROUP_NOT_IN_SOD", f"DG{number} is listed in EF.SOD but was not sent")
                )
            elif listed == "unlisted":
                out.append(Reason("DATA_GROUP_NOT_IN_SOD", f"DG{number} is unlisted"))
        # DG13 that does not parse and DG2 without a usable image are not chip failures (the
        # credential says NO_CHIP_PORTRAIT for the latter); DG1 must parse.
        if "DG1" in report.document.errors:
            out.append(Reason("CHIP_DATA_MALFORMED", f"DG1: {report.document.errors['DG1']}"))
    return out


def refine(
    reasons: list[Reason], face: FaceOutcome, replay: Reason | None, ent: EntitlementCheck | None
) -> list[Reason]:
    """The policy speaks in broad codes; say exactly what failed where we know it."""
    out: list[Reason] = []
    for reason in reasons:
        code, detail = reason.code, reason.detail
        if code == "LIVENESS_FAILED":
            if replay is not None:
                code, detail = replay.code, replay.detail
            elif face.liveness_failure in LIVENESS_REASONS:
                code = LIVENESS_REASONS[face.liveness_failure]
                detail = face.capture_detail or detail
            elif face.liveness_failure == "liveness_card_photo" or detail == "liveness_card_photo":
                code, detail = "CARD_PHOTO_PRESENTED", "the capture is the chip photo itself"
            elif face.liveness_failure:
                # The reason, and the verifier's words for it (no personal data: face/errors.py).
                detail = face.liveness_failure
                if face.capture_detail and face.capture_detail != face.liveness_failure:
                    detail = f"{detail}: {face.capture_detail}"
        elif code in ("NO_FACE", "MULTIPLE_FACES", "POOR_FACE_QUALITY"):
            which = "chip photo" if face.reference_failure else "live capture"
            detail = f"{which}: {face.capture_failure or face.reference_failure}"
        elif code == "NO_ENTITLEMENT" and ent is not None:
            mkq = ent.ma_ket_qua.value
            if mkq.startswith("12"):
                code = "CARD_REDUCED"
            elif mkq in ("060", "061", "070", "080"):
                code = "HOLDER_DATA_MISMATCH"
            elif mkq in ("001", "002"):
                code = "CARD_MANAGED_ELSEWHERE"
            detail = f"maKetQua {mkq}"
        elif code == "NO_ENTITLEMENT":
            detail = "no BHYT card known for this CCCD"
        out.append(Reason(code, detail))
    return out


def identity_ok(reasons: list[Reason]) -> bool:
    """Did the person prove to be the card's holder, whatever the entitlement says?"""
    identity_codes = {r.code for r in reasons} - {
        "NO_ENTITLEMENT",
        "CARD_EXPIRED",
        "CARD_REVOKED",
        "CARD_REDUCED",
        "CARD_MANAGED_ELSEWHERE",
        "FRAUD_VELOCITY",
        "FRAUD_TERMINAL_FLAGGED",
    }
    return not identity_codes


def fill_checks(
    checks: dict[str, str], results: CheckResults, reasons: list[Reason], fraud: FraudSignals
) -> None:
    codes = {r.code for r in reasons}
    if results.face_match is not None or results.template_match is not None or results.face_failure_code:
        face_codes = {
            "FACE_MISMATCH",
            "TEMPLATE_MISMATCH",
            "NO_FACE",
            "MULTIPLE_FACES",
            "POOR_FACE_QUALITY",
        }
        checks["FACE_MATCH"] = "FAILED" if codes & face_codes else "PASSED"
    if results.liveness_ok is not None:
        checks["LIVENESS"] = "PASSED" if results.liveness_ok else "FAILED"
    entitlement_codes = {
        "NO_ENTITLEMENT",
        "CARD_EXPIRED",
        "CARD_REVOKED",
        "CARD_REDUCED",
        "HOLDER_DATA_MISMATCH",
    }
    checks["ENTITLEMENT"] = "FAILED" if codes & entitlement_codes else "PASSED"
    fraud_codes = {"FRAUD_VELOCITY", "FRAUD_BIOMETRIC_LOCKED", "FRAUD_TERMINAL_FLAGGED"}
    checks["FRAUD_RULES"] = "FAILED" if codes & fraud_codes else "PASSED"
