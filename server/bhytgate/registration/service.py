"""Instant remote registration: the holder's phone has just passed the normal strongest check
(BeginVerification + Verify, the unchanged verification pipeline); this turns that verification
into a registration record linking CCCD, social-insurance number and contact, at once.

In order: the device's attempt limit; the verification (a counter session: any replica, this
terminal, recent, unused); then, under the CCCD's registration lock (held across replicas): the
verification again (not spent meanwhile), the CCCD's attempt limit, the verification's strength,
the platform integrity token (bound to the verification's challenge), the social-insurance number
(must belong to the verified holder), the registration in force (a re-registration must be at
least as strong). The findings combine to ACCEPTED (record active), REVIEW (record pending review:
a rule asked for a person) or REJECTED; the record, the superseded one, the CCCD link and the audit
record are written in one transaction. A rejection is audited too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from bhytgate.attestation.jws import ALGORITHM, public_jwk
from bhytgate.audit.chain import AuditEvent, builder, document_key
from bhytgate.entitlement.validity import check_entitlement
from bhytgate.policy.model import AssuranceLevel, Outcome, Reason
from bhytgate.registration.integrity import Disposition, IntegrityCheck, Verdict, check_integrity
from bhytgate.registration.limits import AttemptLimiter
from bhytgate.registration.model import (
    Contact,
    RegistrationConfig,
    RegistrationRecord,
    Status,
    Strength,
    combine,
)
from bhytgate.service.model import Caller, FailedPrecondition, db
from bhytgate.service.state import DocumentLock, Session, Sessions
from bhytgate.storage.registrations import RegistrationConflict
from bhytgate.storage.sql import SqlStore

REGISTRATION_TYP = "bhytgate-registration+jwt"
_NAMES_ANOTHER_PERSON = frozenset({"060", "061", "070", "080"})


@dataclasses.dataclass(frozen=True, slots=True)
class RegisterInput:
    verification_id: str
    contact: Contact
    bhxh_number: str | None = None
    integrity_token: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RegisterResult:
    outcome: Outcome
    reasons: list[Reason]
    record: RegistrationRecord | None


Finding = tuple[Reason, Disposition]


class RegistrationFlow:
    def __init__(
        self,
        config: RegistrationConfig,
        store: SqlStore,
        sessions: Sessions,
        doc_lock: DocumentLock,
        *,
        gateway_id: str,
        audit_key: bytes,
        attestation_key: ec.EllipticCurvePrivateKey,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.config = config
        self.store = store
        self.sessions = sessions
        self.doc_lock = doc_lock
        self.gateway_id = gateway_id
        self.audit_key = audit_key
        self.attestation_key = attestation_key
        self.clock = clock
        self.device_limit = AttemptLimiter(
            store, "reg-device", "terminal", config.device_attempts, config.device_window
        )
        self.cccd_limit = AttemptLimiter(store, "reg-cccd", "CCCD", config.cccd_attempts, config.cccd_window)

    async def register(self, caller: Caller, inp: RegisterInput) -> RegisterResult:
        now = self.clock()
        await db(self.device_limit.take, f"{caller.facility}/{caller.terminal_id}", now)
        session = await self._session(inp.verification_id, caller, now)
        doc_key = document_key(self.audit_key, session.cccd_number)
        async with self.doc_lock.hold("registration:" + doc_key):
            # Again under the lock: a concurrent attempt with this verification may have spent it
            # (a rejection drops the session and leaves no registration row), and a spent one
            # takes no attempt of the CCCD's (attack run, 2026-12-02: eight at once were each
            # decided and audited, using up the CCCD's daily attempts).
            session = await self._session(inp.verification_id, caller, now)
            if self._verification_strength(session, []) is not None:
                # Only an attempt that could register takes one of the CCCD's: five rejected
                # QR Verifies of another facility's phone used up a holder's day (attack run,
                # 2026-12-03). A weak one is still decided, audited and counted for the device.
                await db(self.cccd_limit.take, doc_key, now)
            return await db(self._register, caller, inp, session, now)

    async def _session(self, vid: str, caller: Caller, now: dt.datetime) -> Session:
        session: Session = await db(self.sessions.owned, vid, caller.terminal_id, caller.facility, now)
        if now - session.at > self.config.max_verification_age:
            raise FailedPrecondition(
                f"the verification is older than {self.config.max_verification_age.total_seconds():.0f} s;"
                " verify again"
            )
        return session

    # --- the decision (in a worker thread, under the CCCD's registration lock) -----------------

    def _register(
        self, caller: Caller, inp: RegisterInput, session: Session, now: dt.datetime
    ) -> RegisterResult:
        if self.store.registration_used_verification(inp.verification_id):
            raise FailedPrecondition("this verification was already used for a registration")
        findings: list[Finding] = []
        level = self._verification_strength(session, findings)
        integrity = self._integrity(inp, session, now)
        if integrity.reason is not None:
            findings.append((integrity.reason, integrity.disposition))
        bhxh = self._social_insurance(session, inp.bhxh_number, now, findings)
        existing = self.store.registration_in_force(session.cccd_number)
        if (
            level is not None
            and existing is not None
            and not Strength(level, integrity.verdict).at_least(existing.strength)
        ):
            weaker = Reason(
                "REGISTRATION_WEAKER",
                "a re-registration needs the assurance level and device integrity of the one in force",
            )
            findings.append((weaker, Disposition.REJECT))
        outcome, reasons = combine(findings)
        rid = uuid.uuid4().hex
        event = AuditEvent(
            verification_id=rid,
            at=now,
            decision=outcome.value,
            facility=caller.facility,
            terminal_id=caller.terminal_id,
            reasons=reasons,
            action="register",
            assurance_level=level.value if level is not None else None,
            document_number=session.cccd_number,
        )
        if outcome is Outcome.REJECTED or level is None or bhxh is None:
            self.store.append_audit(builder(event, self.audit_key), record_id=rid)
            self.store.drop_session(inp.verification_id)  # one attempt per verification
            return RegisterResult(Outcome.REJECTED, reasons, None)
        status = Status.ACTIVE if outcome is Outcome.ACCEPTED else Status.PENDING_REVIEW
        strength = Strength(level, integrity.verdict)
        record = RegistrationRecord(
            registration_id=rid,
            cccd_number=session.cccd_number,
            bhxh_number=bhxh,
            contact=inp.contact,
            status=status,
            strength=strength,
            verification_id=inp.verification_id,
            terminal_id=caller.terminal_id,
            facility=caller.facility,
            created_at=now,
            attestation=self._attest(rid, inp.verification_id, strength, status, caller, now),
            supersedes=existing.registration_id if existing is not None else None,
        )
        try:
            self.store.save_registration(record, builder(event, self.audit_key), audit_id=rid)
        except RegistrationConflict as exc:
            raise FailedPrecondition(f"{exc}; retry") from None
        self.store.drop_session(inp.verification_id)
        return RegisterResult(outcome, reasons, record)

    def _verification_strength(self, session: Session, findings: list[Finding]) -> AssuranceLevel | None:
        """The verification's level when it proved the holder strongly enough, else None (and why)."""
        level = AssuranceLevel(session.assurance_level) if session.assurance_level else None
        required = self.config.required_level
        if (
            session.outcome is Outcome.REJECTED
            or not session.identity_ok
            or session.chip_image is None
            or level is None
            or level.rank < required.rank
        ):
            reason = Reason(
                "ASSURANCE_TOO_LOW", f"registration needs a verification passed at {required.value}"
            )
            findings.append((reason, Disposition.REJECT))
            return None
        if session.outcome is Outcome.REVIEW:
            # A rule of the verification asked for a person: so does the registration.
            for code in session.reason_codes or ("CHECK_MISSING",):
                findings.append((Reason(code, "the verification was sent to review"), Disposition.REVIEW))
        return level

    def _integrity(self, inp: RegisterInput, session: Session, now: dt.datetime) -> IntegrityCheck:
        policy = self.config.integrity
        if not policy.configured:
            return check_integrity(None, policy, challenge_nonce=b"-", challenge_issued_at=now, now=now)
        challenge = self.store.challenge_by_id(session.challenge_id) if session.challenge_id else None
        if challenge is None:
            reason = Reason("INTEGRITY_NONCE_MISMATCH", "the verification's challenge is no longer known")
            return IntegrityCheck(Verdict.FAILED, policy.on_invalid, reason)
        return check_integrity(
            inp.integrity_token,
            policy,
            challenge_nonce=challenge.nonce,
            challenge_issued_at=challenge.issued_at,
            now=now,
        )

    def _social_insurance(
        self, session: Session, given: str | None, now: dt.datetime, findings: list[Finding]
    ) -> str | None:
        """The BHXH number to link: the given one when its cards name the verified holder, else the
        one on the CCCD's own card (or an earlier link)."""
        own = [
            e
            for e in self.store.entitlements_by_cccd(session.cccd_number)
            if e.cccd_number == session.cccd_number
        ]
        if given is None:
            if own:
                return own[0].social_insurance_number
            link = self.store.linked_bhxh(session.cccd_number)
            if link is not None:
                return link.bhxh_number
            reason = Reason("NO_ENTITLEMENT", "no social-insurance number known for this CCCD: give one")
            findings.append((reason, Disposition.REJECT))
            return None
        if any(e.social_insurance_number != given for e in own):
            reason = Reason("HOLDER_DATA_MISMATCH", "the CCCD's own card has another social-insurance number")
            findings.append((reason, Disposition.REJECT))
            return None
        cards = self.store.entitlements_by_bhxh(given)
        if not cards:
            findings.append(
                (
                    Reason("NO_ENTITLEMENT", "no card on record for this social-insurance number"),
                    Disposition.REJECT,
                )
            )
            return None
        name, dob = session.holder
        for card in cards:
            if (
                check_entitlement(card, now.date(), name=name, dob=dob).ma_ket_qua.value
                in _NAMES_ANOTHER_PERSON
            ):
                reason = Reason(
                    "HOLDER_DATA_MISMATCH", "the social-insurance number's card names another person"
                )
                findings.append((reason, Disposition.REJECT))
                return None
        return given

    def _attest(
        self, rid: str, vid: str, strength: Strength, status: Status, caller: Caller, now: dt.datetime
    ) -> str:
        """What the holder's app keeps: which registration, how strongly proven. No numbers or names."""
        payload = {
            "iss": self.gateway_id,
            "jti": rid,
            "vid": vid,
            "lvl": strength.level.value,
            "integrity": strength.integrity.value,
            "status": status.value,
            "fac": caller.facility,
            "term": caller.terminal_id,
            "iat": int(now.timestamp()),
            "exp": int((now + self.config.attestation_ttl).timestamp()),
        }
        kid = public_jwk(self.attestation_key.public_key())["kid"]
        return jwt.encode(
            payload, self.attestation_key, algorithm=ALGORITHM, headers={"kid": kid, "typ": REGISTRATION_TYP}
        )
