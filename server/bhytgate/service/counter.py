"""The counter's services: enrol a face template, link a CCCD to a social-insurance number, report
a document lost or stolen. Follow-ups refer to a verification kept as a session in the database, so
they work on any replica and after a restart."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence

from bhytgate.audit.chain import document_key
from bhytgate.entitlement.authority import death_refusal, is_bhxh_office
from bhytgate.entitlement.model import Entitlement
from bhytgate.entitlement.validity import check_entitlement
from bhytgate.face.template import template_from_bytes
from bhytgate.service.config import GatewayConfig
from bhytgate.service.model import Caller, FailedPrecondition, InvalidRequest, PermissionDenied, db
from bhytgate.service.privacy import PrivacyService
from bhytgate.service.recorder import Recorder
from bhytgate.service.state import Session, Sessions
from bhytgate.service.workers import FaceJob, FacePool, check_kind
from bhytgate.storage.sql import SqlStore

# One verification enrols once (a second EnrollTemplate would replace the template with other
# frames under the same proof), and never over an enrolment newer than itself.
ENROLLED_SINCE = "a template was enrolled for this holder since this verification: verify again to enrol anew"


class CounterService:
    def __init__(
        self,
        config: GatewayConfig,
        store: SqlStore,
        pool: FacePool,
        sessions: Sessions,
        recorder: Recorder,
        *,
        audit_key: bytes,
        clock: Callable[[], dt.datetime],
        face_limit: Callable[[float | None], float],
    ) -> None:
        self.config = config
        self.store = store
        self.pool = pool
        self.sessions = sessions
        self.recorder = recorder
        self.audit_key = audit_key
        self.clock = clock
        self.face_limit = face_limit
        self.privacy: PrivacyService | None = None  # set by the gateway (consent at enrolment)

    async def _session(self, vid: str, caller: Caller) -> Session:
        session: Session = await db(
            self.sessions.owned, vid, caller.terminal_id, caller.facility, self.clock()
        )
        return session

    async def enroll(
        self,
        caller: Caller,
        verification_id: str,
        frames: Sequence[tuple[bytes, int]],
        *,
        timeout: float | None,
        consent_version: str,
        operator: str | None = None,
    ) -> str:
        """Enrol under the holder's consent: refused (before any face work) unless they agreed
        to the current terms; the consent is recorded and audited, the template kept under it."""
        assert self.privacy is not None
        self.privacy.check_terms(consent_version)
        session = await self._session(verification_id, caller)
        if not session.identity_ok or session.chip_image is None:
            raise FailedPrecondition("enrolment needs a chip verification whose identity checks passed")
        current = await db(self.store.get_face_template, session.cccd_number)
        if current is not None and current.enrolled_at >= session.at:
            raise FailedPrecondition(ENROLLED_SINCE)
        limit = self.face_limit(timeout)
        async with self.pool.slot(check_kind(len(frames), enrol=True), deadline_s=limit):
            outcome = await self.pool.run(
                FaceJob(frames=tuple(frames), now_ms=0, chip_image=session.chip_image, enrol=True),
                timeout=limit,
            )
        if outcome.capture_failure or outcome.template is None:
            raise InvalidRequest([("frames", f"capture unusable: {outcome.capture_failure}")])
        threshold = outcome.threshold if outcome.threshold is not None else self.config.face.match_threshold
        if outcome.chip_distance is None or outcome.chip_distance > threshold:
            raise FailedPrecondition("the enrolment frames do not match the verified chip photo")
        parsed = template_from_bytes(outcome.template)
        now = self.clock()
        privacy = self.privacy
        # The template first (conditional: of two enrolments of one verification at once, one
        # writes), then the consent it is kept under: the loser records no consent for nothing.
        # Until the consent is attached the template has none, which retention treats as a
        # template to delete (a crash in between fails safe).
        written = await db(
            lambda: self.store.put_face_template(
                session.cccd_number,
                outcome.template or b"",
                parsed.model.name,
                parsed.model.version,
                now,
                unless_enrolled_since=session.at,
            )
        )
        if not written:
            raise FailedPrecondition(ENROLLED_SINCE)
        consent_id = await db(lambda: privacy.record_consent(caller, session.cccd_number, operator))
        await db(self.store.attach_template_consent, session.cccd_number, now, consent_id)
        await db(
            lambda: self.recorder.record_action(
                caller, "ENROLLED", "enrol", document_number=session.cccd_number
            )
        )
        return hashlib.sha256(f"{session.cccd_number}:{now.isoformat()}".encode()).hexdigest()[:24]

    async def link(self, caller: Caller, cccd: str, bhxh: str, verification_id: str) -> Entitlement | None:
        session = await self._session(verification_id, caller)
        if session.cccd_number != cccd:
            raise FailedPrecondition("the verification was for another CCCD")
        if not session.identity_ok or session.chip_image is None:
            raise FailedPrecondition("linking needs a chip verification whose identity checks passed")
        # The BHXH number's card must belong to the person the chip proved: otherwise a counter could
        # point one citizen's CCCD at another citizen's cover.
        name, dob = session.holder
        cards = await db(self.store.entitlements_by_bhxh, bhxh)
        assert isinstance(cards, list)
        for ent in cards:
            check = check_entitlement(ent, self.clock().date(), name=name, dob=dob)
            if check.ma_ket_qua.value in ("060", "061", "070", "080"):
                raise FailedPrecondition("the social-insurance number's card names another person")
        await db(self.store.link_cccd, cccd, bhxh, caller.terminal_id, self.clock())
        await db(lambda: self.recorder.record_action(caller, "LINKED", "link", document_number=cccd))
        return cards[0] if cards else None

    async def report_lost(
        self, caller: Caller, cccd: str, document_number: str, reason: str, reporter: str
    ) -> str:
        # Keyed by the person's CCCD number; which cards it blocks is decided at check time by their
        # issue date. The DG1 document number of a CCCD is the last nine digits of the CCCD number,
        # so it cannot tell a replacement card from the lost one.
        del document_number
        if reason == "deceased":
            cards = await db(self.store.entitlements_by_cccd, cccd) if is_bhxh_office(caller.facility) else []
            refusal = death_refusal(caller.facility, cards)
            if refusal is not None:
                raise PermissionDenied(refusal)
        key = document_key(self.audit_key, cccd)
        await db(self.store.report_lost, key, reason, reporter, self.clock())
        rid = await db(
            lambda: self.recorder.record_action(
                caller, f"REPORTED_{reason.upper()}", "report_lost", document_number=cccd, operator=reporter
            )
        )
        assert isinstance(rid, str)
        return rid
