"""The CCCD chip: Passive Authentication, Active Authentication over the gateway's challenge, the
document's expiry, and the holder's enrolled template (if any).

The 2024 Căn cước card encrypts most of DG13: the 12-digit number is DG13's when it reads as one,
else DG1's (MRZ optional data), and a chip without a usable face (children under 6) ends in
NO_CHIP_PORTRAIT once PA and AA have passed: a guardian's verification is required instead."""

from __future__ import annotations

import datetime as dt

from bhytgate.chip import ChipError, dump_from_files, verify_chip
from bhytgate.chip.verify import DocumentData
from bhytgate.ids import CCCD_RE
from bhytgate.policy.model import DocumentSource, Reason
from bhytgate.service.credentials.base import CredentialContext, Evidence, Rejected, enrolled_template
from bhytgate.service.model import VerifyInput
from bhytgate.service.reasons import chip_reasons


def _dmy(text: str | None) -> dt.date | None:
    """A DG13 date (dd/mm/yyyy); None when absent or not a date."""
    try:
        return dt.datetime.strptime((text or "").strip(), "%d/%m/%Y").date()
    except ValueError:
        return None


def holder_number(doc: DocumentData) -> str | None:
    """The CCCD number: DG13's field 1 when it is 12 digits, else the first 12 characters of the
    MRZ optional data when they are (where CCCDs, old and 2024, write the full number)."""
    from_dg13 = doc.dg13.get("id_number") if doc.dg13 else None
    if from_dg13 and CCCD_RE.fullmatch(from_dg13):
        return from_dg13
    from_mrz = doc.mrz.optional_data[:12] if doc.mrz else ""
    return from_mrz if CCCD_RE.fullmatch(from_mrz) else None


NO_PORTRAIT_DETAIL = "the chip holds no usable face image ({why}): a guardian's verification is required"


class ChipCredential:
    kind = "chip"

    def verify(self, inp: VerifyInput, ctx: CredentialContext) -> Evidence | Rejected:
        assert inp.chip_files is not None
        checks = ctx.checks
        ctx.trust.refresh()  # anchors another replica loaded a moment ago count already
        try:
            dump = dump_from_files(inp.chip_files)
            report = verify_chip(
                dump,
                ctx.trust.store,
                at=ctx.now,
                challenge=ctx.challenge.aa_challenge if inp.aa_signatures else None,
                aa_signatures=list(inp.aa_signatures or []),
                policy=ctx.config.chip,
            )
        except ChipError as exc:
            # Unusable input is INVALID_ARGUMENT, but the challenge is spent: it is recorded first.
            checks["PASSIVE_AUTH"] = "FAILED"
            return Rejected(
                [Reason("CHIP_DATA_MALFORMED", f"EF.SOD: {exc.reason}")],
                violations=[("chip.ef_sod", f"{exc.message} [{exc.reason}]")],
            )
        problems = chip_reasons(report)
        checks["PASSIVE_AUTH"] = "FAILED" if problems else "PASSED"
        aa_capable = 15 in report.passive.data_groups  # EF.SOD lists the AA key
        aa_ok: bool | None = None
        if report.active is not None and report.active.reason == "aa_key_absent":
            problems.append(Reason("AA_MISSING", "EF.SOD lists DG15 but DG15 was not sent"))
        elif report.active is not None:
            aa_ok = report.active.valid
            checks["ACTIVE_AUTH"] = "PASSED" if aa_ok else "FAILED"
            if not aa_ok and not problems:
                if report.active.reason == "aa_answer_unreadable":
                    detail = f"Active Authentication answer unreadable: {report.active.detail}"
                    problems.append(Reason("AA_UNREADABLE", detail))
                else:
                    problems.append(
                        Reason("CHIP_NOT_GENUINE", f"Active Authentication: {report.active.reason}")
                    )
        elif aa_capable:
            # A chip that can prove it is genuine must do so at every terminal: otherwise a copy of
            # its data on another chip would pass wherever the proof is not asked for.
            problems.append(
                Reason("AA_MISSING", "the chip supports Active Authentication; no answer was sent")
            )
        elif ctx.config.require_active_authentication:
            # Policy, not a glitch: this chip can never answer (so never RETRY).
            problems.append(Reason("ASSURANCE_TOO_LOW", "policy requires Active Authentication"))
            problems.append(Reason("AA_MISSING", "chip without Active Authentication (no DG15 in EF.SOD)"))
        if any(r.code == "AA_MISSING" for r in problems):
            checks["ACTIVE_AUTH"] = "FAILED"
        if problems:
            return Rejected(problems)
        doc = report.document
        assert doc.mrz is not None
        dg13 = doc.dg13
        cccd = holder_number(doc)
        if cccd is None:
            return Rejected([Reason("CHIP_DATA_MALFORMED", "no 12-digit CCCD number in DG13 or DG1")])
        expiry = doc.mrz.date_of_expiry
        # Only the explicit no-expiry rule means "no expiry"; an unreadable date is no date.
        unreadable = expiry is None and not doc.mrz.no_expiry
        expired = unreadable or (expiry is not None and expiry < ctx.now.date())
        checks["DOCUMENT_STATUS"] = "FAILED" if expired else "PASSED"
        if expired:
            detail = "CCCD expiry date unreadable" if unreadable else "CCCD past its expiry date"
            return Rejected([Reason("DOCUMENT_EXPIRED", detail)], cccd=cccd)
        if doc.face is None and inp.guardian is None:
            # PA and AA passed: a genuine chip, but nothing to match a face against (with a
            # guardian's verification named, the guardian path decides instead).
            why = (
                "DG2 not in EF.SOD"
                if 2 not in report.passive.data_groups
                else doc.errors.get("DG2", "no image")
            )
            checks["FACE_MATCH"] = "SKIPPED"
            return Rejected([Reason("NO_CHIP_PORTRAIT", NO_PORTRAIT_DETAIL.format(why=why))], cccd=cccd)
        template = enrolled_template(ctx, cccd)
        if isinstance(template, Rejected):
            return template
        return Evidence(
            source=DocumentSource.CHIP,
            cccd=cccd,
            template=template,
            report=report,
            issue_date=_dmy(dg13.get("issue_date")) if dg13 else None,
            chip_image=doc.face.image if doc.face is not None and doc.face.image else None,
            name=dg13.get("full_name") if dg13 else None,
            dob=dg13.get("date_of_birth") if dg13 else None,
            aa_ok=aa_ok,
            document_expired=False,
        )
