"""QR credentials (the CCCD's QR, the BHYT/VssID QR). A QR proves nothing: it only selects whose
enrolled template the live face is compared with, and the name and birth date it claims must agree
with the entitlement (as the card-check service's lookup requires)."""

from __future__ import annotations

from bhytgate.entitlement.qr import QrFormatError, parse_bhyt_qr, parse_cccd_qr
from bhytgate.policy.model import DocumentSource, Reason
from bhytgate.service.credentials.base import CredentialContext, Evidence, Rejected, enrolled_template
from bhytgate.service.model import VerifyInput


def _holder(cccd: str | None, name: str, dob: str, ctx: CredentialContext) -> Evidence | Rejected:
    if not cccd:
        return Rejected([Reason("QR_UNUSABLE", "no holder known for this QR")])
    template = enrolled_template(ctx, cccd)
    if isinstance(template, Rejected):
        return template
    if template is None:
        return Rejected([Reason("TEMPLATE_NOT_ENROLLED", "no face template enrolled for this holder")])
    ctx.checks["DOCUMENT_STATUS"] = "PASSED"
    return Evidence(
        source=DocumentSource.QR,
        cccd=cccd,
        template=template,
        name=name,
        dob=dob,
        document_expired=False,
    )


class CccdQrCredential:
    kind = "cccd_qr"

    def verify(self, inp: VerifyInput, ctx: CredentialContext) -> Evidence | Rejected:
        assert inp.qr is not None
        try:
            qr = parse_cccd_qr(inp.qr[1])
        except QrFormatError as exc:
            return Rejected([Reason("QR_UNUSABLE", f"QR {exc.field}: {exc.message}")])
        return _holder(qr.cccd_number, qr.full_name, qr.date_of_birth.strftime("%d/%m/%Y"), ctx)


class BhytQrCredential:
    kind = "bhyt_qr"

    def verify(self, inp: VerifyInput, ctx: CredentialContext) -> Evidence | Rejected:
        assert inp.qr is not None
        try:
            qr = parse_bhyt_qr(inp.qr[1])
        except QrFormatError as exc:
            return Rejected([Reason("QR_UNUSABLE", f"QR {exc.field}: {exc.message}")])
        ent = ctx.store.entitlement_by_card(qr.card_number.value)
        if inp.guardian is not None:
            # A child with only a BHYT number (a newborn): the guardian's check binds the visit;
            # the card stands for the document (its pseudonym keys the fraud rules).
            if ent is None:
                return Rejected([Reason("QR_UNUSABLE", "no BHYT card known for this QR")])
            ctx.checks["DOCUMENT_STATUS"] = "PASSED"
            return Evidence(
                source=DocumentSource.QR,
                cccd=ent.cccd_number or ent.card_number,
                template=None,
                name=qr.full_name,
                dob=qr.date_of_birth,
                card_number=ent.card_number,
                document_expired=False,
            )
        return _holder(ent.cccd_number if ent is not None else None, qr.full_name, qr.date_of_birth, ctx)
