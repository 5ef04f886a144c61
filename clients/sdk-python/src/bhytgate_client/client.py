"""A synchronous client for the gateway: the two-step verification flow and the counter RPCs; the
admin and review calls are mixins (`admin_calls`, `review_calls`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import grpc

from bhytgate_client.admin_calls import AdminCalls
from bhytgate_client.errors import GatewayError as GatewayError
from bhytgate_client.home import GatewayHome
from bhytgate_client.results import Challenge, Frame, Operator, VerificationResult
from bhytgate_client.review_calls import ReviewCalls
from bhytgate_client.signing import frames_signing_payload
from bhytgate_client.targets import channel_target, service_config
from bhytgate_client.v1 import gateway_pb2 as pb
from bhytgate_client.v1 import gateway_pb2_grpc as pb_grpc

TERMINAL_KINDS = {
    "desk": pb.TERMINAL_KIND_DESK,
    "kiosk": pb.TERMINAL_KIND_KIOSK,
    "phone": pb.TERMINAL_KIND_PHONE,
}
CHIP_FIELDS = {"EF.SOD": "ef_sod", "DG1": "dg1", "DG2": "dg2", "DG13": "dg13", "DG14": "dg14", "DG15": "dg15"}


SignFrames = Callable[[bytes], bytes]

MAX_REQUEST_BYTES = 32 * 1024 * 1024


class GatewayClient(AdminCalls, ReviewCalls):
    def __init__(self, channel: grpc.Channel, *, terminal_id: str, timeout_s: float = 30.0) -> None:
        self._channel = channel
        self.terminal_id = terminal_id
        self.timeout_s = timeout_s
        self.verification = pb_grpc.VerificationServiceStub(channel)
        self.counter = pb_grpc.CounterServiceStub(channel)
        self.admin = pb_grpc.AdminServiceStub(channel)
        self.review = pb_grpc.ReviewServiceStub(channel)
        self.registration = pb_grpc.RegistrationServiceStub(channel)
        self.last_request: pb.VerifyRequest | None = None  # what the last verify() sent

    # --- construction --------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        address: str,
        *,
        terminal_id: str,
        ca: Path | None = None,
        cert: Path | None = None,
        key: Path | None = None,
        plaintext: bool = False,
        server_name: str | None = None,
        timeout_s: float = 30.0,
        retry_shed: bool = True,
        load_balancing: str = "round_robin",
    ) -> GatewayClient:
        """A channel to the gateway's replicas.

        `address`: `HOST:PORT`, a comma-separated list of them (IPv4, `[IPv6]` or host names), or one
        DNS name `HOST:PORT` that resolves to every replica; calls are spread round robin over the
        replicas whose health service says SERVING, and move to the others when one dies
        (`bhytgate_client.targets`). A bad address raises ValueError.

        `server_name`: the name the server certificate must carry, when it is not the address's
        host; with several addresses it defaults to their common host, else to the dev
        certificate's "localhost" (see `targets.channel_target`).

        `retry_shed`: resend a Verify that the gateway shed (RESOURCE_EXHAUSTED). BeginVerification,
        GetAttestationKeys and VerifyAuditChain are resent on UNAVAILABLE; Verify never is (its
        challenge may have been consumed), nor is anything that changes state.

        `load_balancing`: "round_robin", or "pick_first" to keep every call on one replica (the
        counter's enrolment and linking refer to a verification held in that replica's memory)."""
        target = channel_target(address, server_name=server_name)
        options: list[tuple[str, str | int]] = [
            ("grpc.max_send_message_length", MAX_REQUEST_BYTES),
            ("grpc.enable_retries", 1),
            (
                "grpc.service_config",
                json.dumps(service_config(retry_shed=retry_shed, load_balancing=load_balancing)),
            ),
            # Our retry policy is part of what makes a resend safe: a DNS TXT record must not
            # replace it.
            ("grpc.service_config_disable_resolution", 1),
            # gRPC keeps a request for retries only if it fits this buffer (256 kB by default, less
            # than a burst of camera frames).
            ("grpc.per_rpc_retry_buffer_size", MAX_REQUEST_BYTES),
            # A dead replica is tried again after 0.5 s, then with doubling (jittered) waits up to
            # 10 s: it comes back into the rotation soon after it restarts, without being hammered
            # (gRPC's defaults, 1 s up to 120 s, would leave a restarted replica idle for minutes).
            ("grpc.initial_reconnect_backoff_ms", 500),
            ("grpc.max_reconnect_backoff_ms", 10_000),
        ]
        if target.authority is not None:
            # One channel has one authority for all its addresses: the ipv4:/ipv6: list target has
            # no host name of its own, so the name to check every replica's certificate against (and
            # to send as :authority) is set here.
            options.append(("grpc.default_authority", target.authority))
        if plaintext:
            channel = grpc.insecure_channel(target.target, options=options)
        else:
            if ca is None or cert is None or key is None:
                raise ValueError("mutual TLS needs ca, cert and key (or plaintext=True for local tests)")
            credentials = grpc.ssl_channel_credentials(ca.read_bytes(), key.read_bytes(), cert.read_bytes())
            if target.authority is not None:
                options.append(("grpc.ssl_target_name_override", target.authority))
            channel = grpc.secure_channel(target.target, credentials, options=options)
        return cls(channel, terminal_id=terminal_id, timeout_s=timeout_s)

    @classmethod
    def local(
        cls,
        terminal: str,
        *,
        home: Path | None = None,
        address: str | None = None,
        server_name: str | None = None,
        timeout_s: float = 30.0,
        retry_shed: bool = True,
        load_balancing: str = "round_robin",
    ) -> GatewayClient:
        """Connect as one of the dev terminals of `home` (certificates under home/pki).

        The gateway is `address` when given (`HOST:PORT[,HOST:PORT...]` or a DNS name, see
        `connect`), else the one `bhytgate serve` recorded in home/gateway.json ("addresses", a
        list, or "address")."""
        gateway = GatewayHome.find(home)
        try:
            info = gateway.info()
        except FileNotFoundError:
            if address is None:
                raise
            info = {}  # replicas elsewhere, reached with this home's dev certificates
        if address is None:
            addresses = info.get("addresses")
            if isinstance(addresses, list) and addresses:
                address = ",".join(str(a) for a in addresses)
            else:
                address = str(info["address"])
        if info.get("plaintext"):
            return cls.connect(
                address,
                terminal_id=terminal,
                plaintext=True,
                timeout_s=timeout_s,
                retry_shed=retry_shed,
                load_balancing=load_balancing,
            )
        ca, cert, key = gateway.terminal_credentials(terminal)
        if not cert.exists():
            known = sorted(p.name for p in (gateway.pki / "terminals").glob("*"))
            raise FileNotFoundError(
                f"no dev certificate for terminal {terminal!r}; known: {', '.join(known)}"
            )
        return cls.connect(
            address,
            terminal_id=terminal,
            ca=ca,
            cert=cert,
            key=key,
            server_name=server_name,
            timeout_s=timeout_s,
            retry_shed=retry_shed,
            load_balancing=load_balancing,
        )

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(
        self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
    ) -> None:
        self.close()

    def _call(self, method: Callable[..., object], request: object) -> object:
        try:
            return method(request, timeout=self.timeout_s)
        except grpc.RpcError as error:
            raise GatewayError.from_rpc_error(error) from None

    # --- verification --------------------------------------------------------------------

    def begin(
        self, *, terminal_kind: str = "desk", operator: Operator | None = None, facility_code: str = ""
    ) -> Challenge:
        request = pb.BeginVerificationRequest(
            terminal_kind=TERMINAL_KINDS[terminal_kind],
            terminal_id=self.terminal_id,
            purpose=pb.PURPOSE_CHECK_IN,
            facility_code=facility_code,
        )
        if operator is not None:
            request.operator.CopyFrom(operator.to_proto())
        response = self._call(self.verification.BeginVerification, request)
        assert isinstance(response, pb.BeginVerificationResponse)
        return Challenge.from_proto(response)

    def verify(
        self,
        challenge: Challenge,
        *,
        chip_files: Mapping[str, bytes] | None = None,
        qr: tuple[str, str] | None = None,
        aa_signatures: Sequence[bytes] | None = None,
        frames: Sequence[Frame],
        operator: Operator | None = None,
        sign_frames: SignFrames | None = None,
        key_id: str = "",
        guardian_verification_id: str = "",
        checkin: Mapping[str, str] | None = None,
    ) -> VerificationResult:
        """`guardian_verification_id`: a child's check-in vouched for by the adult verified just
        before at this terminal (the child's card has no face image; `frames` may be empty).
        `checkin`: the hospital's keys for the QĐ 4750 check-in record (ma_lk, ma_bn,
        ma_doituong_kcb, ma_loai_kcb), all optional."""
        request = pb.VerifyRequest(
            challenge_id=challenge.challenge_id,
            terminal_id=self.terminal_id,
            guardian_verification_id=guardian_verification_id,
        )
        if checkin:
            request.checkin.CopyFrom(pb.CheckinDetails(**checkin))
        if chip_files is not None:
            request.chip.CopyFrom(
                pb.ChipData(**{CHIP_FIELDS[k]: v for k, v in chip_files.items() if k in CHIP_FIELDS})
            )
        elif qr is not None:
            kind = {"cccd": pb.QR_KIND_CCCD_QR, "bhyt": pb.QR_KIND_BHYT_QR}[qr[0]]
            request.qr.CopyFrom(pb.QrCredential(qr_text=qr[1], qr_kind=kind))
        if aa_signatures is not None:
            request.active_auth.signatures.extend(aa_signatures)
        request.frames.extend(f.to_proto() for f in frames)
        if operator is not None:
            request.operator.CopyFrom(operator.to_proto())
        if sign_frames is not None:
            payload = frames_signing_payload(challenge.nonce, [(f.image, f.timestamp_ms) for f in frames])
            request.terminal_signature.CopyFrom(
                pb.TerminalSignature(signature=sign_frames(payload), key_id=key_id)
            )
        self.last_request = request
        return self.send_verify(request)

    def send_verify(self, request: pb.VerifyRequest) -> VerificationResult:
        """Send a prepared Verify request as it is (the replay demo sends a recorded one).

        Resent by gRPC only when shed (RESOURCE_EXHAUSTED). A GatewayError UNAVAILABLE means the
        replica may or may not have consumed the challenge: start again with `begin`."""
        response = self._call(self.verification.Verify, request)
        assert isinstance(response, pb.VerifyResponse)
        return VerificationResult.from_proto(response)

    def check_in(
        self,
        chip_files: Mapping[str, bytes],
        capture: Callable[[Challenge], Sequence[Frame]],
        *,
        answer_challenge: Callable[[bytes], Sequence[bytes]] | None,
        terminal_kind: str = "desk",
        operator: Operator | None = None,
        facility_code: str = "",
        checkin: Mapping[str, str] | None = None,
    ) -> VerificationResult:
        """The two-step flow: a challenge, the chip's answer, the capture, the decision.

        `chip_files`: the chip's files as read, by name ("EF.SOD", "DG1", "DG2", "DG13", "DG14",
        "DG15"). `answer_challenge`: the 32-byte aa_challenge to the chip's four answers, usually
        `lambda c: activeauth.relay_active_auth(c, reader.internal_authenticate)`; None for a chip
        without Active Authentication. `capture`: the frames, taken after the challenge was issued."""
        challenge = self.begin(terminal_kind=terminal_kind, operator=operator, facility_code=facility_code)
        signatures = list(answer_challenge(challenge.aa_challenge)) if answer_challenge else None
        frames = capture(challenge)
        return self.verify(
            challenge,
            chip_files=chip_files,
            aa_signatures=signatures,
            frames=frames,
            operator=operator,
            checkin=checkin,
        )

    # --- counter ---------------------------------------------------------------------------

    def enroll(
        self,
        verification_id: str,
        frames: Sequence[Frame],
        operator: Operator,
        *,
        consent_terms_version: str | None,
    ) -> str:
        """Enrol a template. `consent_terms_version`: the version of the consent terms
        (`consent_terms()`) the holder was shown and explicitly agreed to; None sends no consent
        (the gateway refuses the enrolment)."""
        request = pb.EnrollTemplateRequest(
            verification_id=verification_id,
            frames=[f.to_proto() for f in frames],
            operator=operator.to_proto(),
        )
        if consent_terms_version is not None:
            request.consent.CopyFrom(pb.HolderConsent(granted=True, terms_version=consent_terms_version))
        response = self._call(self.counter.EnrollTemplate, request)
        assert isinstance(response, pb.EnrollTemplateResponse)
        return response.template_id

    def link(self, cccd_number: str, bhxh_number: str, verification_id: str, operator: Operator) -> str:
        request = pb.LinkSocialInsuranceRequest(
            cccd_number=cccd_number,
            social_insurance_number=bhxh_number,
            verification_id=verification_id,
            operator=operator.to_proto(),
        )
        response = self._call(self.counter.LinkSocialInsurance, request)
        assert isinstance(response, pb.LinkSocialInsuranceResponse)
        return response.ma_the

    def report_lost(
        self, cccd_number: str, reason: str, reporter: Operator, *, document_number: str = "", note: str = ""
    ) -> str:
        reasons = {
            "lost": pb.LOSS_REASON_LOST,
            "stolen": pb.LOSS_REASON_STOLEN,
            "deceased": pb.LOSS_REASON_HOLDER_DECEASED,
        }
        request = pb.ReportDocumentLostRequest(
            cccd_number=cccd_number,
            document_number=document_number,
            reason=reasons[reason],
            reporter=reporter.to_proto(),
            note=note,
        )
        response = self._call(self.counter.ReportDocumentLost, request)
        assert isinstance(response, pb.ReportDocumentLostResponse)
        return response.report_id

    # --- remote registration -------------------------------------------------------------

    def register_holder(
        self,
        verification_id: str,
        *,
        phone_e164: str = "",
        email: str = "",
        social_insurance_number: str = "",
        integrity_token: str = "",
    ) -> pb.RegisterHolderResponse:
        """RegistrationService.RegisterHolder after this phone's Verify (see the proto). The integrity
        token's nonce is `bhytgate_client.integrity.integrity_nonce(challenge.nonce)`."""
        request = pb.RegisterHolderRequest(
            verification_id=verification_id,
            terminal_id=self.terminal_id,
            social_insurance_number=social_insurance_number,
            integrity_token=integrity_token,
        )
        if phone_e164:
            request.phone_e164 = phone_e164
        if email:
            request.email = email
        response = self._call(self.registration.RegisterHolder, request)
        assert isinstance(response, pb.RegisterHolderResponse)
        return response

    # --- household renewal and the holder's data rights (issue 15) -------------------------

    @staticmethod
    def household_member(number: str) -> pb.HouseholdMember:
        """A member by CCCD (12 digits) or social-insurance number (10 digits)."""
        if len(number) == 12:
            return pb.HouseholdMember(cccd_number=number)
        return pb.HouseholdMember(social_insurance_number=number)

    def household_quote(
        self, members: Sequence[str], months: int, *, quote_date: str = ""
    ) -> pb.QuoteHouseholdRenewalResponse:
        request = pb.QuoteHouseholdRenewalRequest(
            members=[self.household_member(m) for m in members], months=months, quote_date=quote_date
        )
        response = self._call(self.counter.QuoteHouseholdRenewal, request)
        assert isinstance(response, pb.QuoteHouseholdRenewalResponse)
        return response

    def renew_household(
        self,
        payer_verification_id: str,
        members: Sequence[str],
        months: int,
        payment_reference: str,
        operator: Operator,
    ) -> pb.RenewHouseholdResponse:
        """Idempotent per payment_reference: sending it again returns the same receipt."""
        request = pb.RenewHouseholdRequest(
            payer_verification_id=payer_verification_id,
            members=[self.household_member(m) for m in members],
            months=months,
            payment_reference=payment_reference,
            operator=operator.to_proto(),
        )
        response = self._call(self.counter.RenewHousehold, request)
        assert isinstance(response, pb.RenewHouseholdResponse)
        return response

    def consent_terms(self) -> pb.GetConsentTermsResponse:
        response = self._call(self.counter.GetConsentTerms, pb.GetConsentTermsRequest())
        assert isinstance(response, pb.GetConsentTermsResponse)
        return response

    def export_subject_data(
        self, cccd_number: str, verification_id: str, operator: Operator
    ) -> pb.ExportSubjectDataResponse:
        request = pb.ExportSubjectDataRequest(
            cccd_number=cccd_number, verification_id=verification_id, operator=operator.to_proto()
        )
        response = self._call(self.counter.ExportSubjectData, request)
        assert isinstance(response, pb.ExportSubjectDataResponse)
        return response

    def delete_face_template(
        self, cccd_number: str, verification_id: str, operator: Operator
    ) -> pb.DeleteFaceTemplateResponse:
        request = pb.DeleteFaceTemplateRequest(
            cccd_number=cccd_number, verification_id=verification_id, operator=operator.to_proto()
        )
        response = self._call(self.counter.DeleteFaceTemplate, request)
        assert isinstance(response, pb.DeleteFaceTemplateResponse)
        return response

    def withdraw_consent(
        self, cccd_number: str, verification_id: str, operator: Operator
    ) -> pb.WithdrawConsentResponse:
        request = pb.WithdrawConsentRequest(
            cccd_number=cccd_number, verification_id=verification_id, operator=operator.to_proto()
        )
        response = self._call(self.counter.WithdrawConsent, request)
        assert isinstance(response, pb.WithdrawConsentResponse)
        return response

    def attestation_keys(self) -> str:
        response = self._call(self.verification.GetAttestationKeys, pb.GetAttestationKeysRequest())
        assert isinstance(response, pb.GetAttestationKeysResponse)
        return response.jwks_json


def now_ms() -> int:
    return int(time.time() * 1000)
