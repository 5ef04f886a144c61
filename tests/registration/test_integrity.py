"""Platform integrity verdicts: the JWS is parsed strictly, signed by a configured key with an
allowed algorithm, bound to the challenge, fresh, and its verdict meets the policy."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from bhytgate import ids
from bhytgate.policy.model import AssuranceLevel, Outcome, Reason
from bhytgate.registration.integrity import (
    Disposition,
    IntegrityKey,
    IntegrityPolicy,
    Verdict,
    check_integrity,
)
from bhytgate.registration.model import Contact, ContactKind, Strength, combine

from .platform_lab import PACKAGE, Platform, b64u, jws, verdict

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
ISSUED = NOW - dt.timedelta(seconds=20)
NONCE = secrets.token_bytes(32)


@pytest.fixture(scope="module")
def platform() -> Platform:
    return Platform()


@pytest.fixture(scope="module")
def policy(platform: Platform) -> IntegrityPolicy:
    return IntegrityPolicy(keys={"play-1": platform.key()}, package_names=frozenset({PACKAGE}))


def run(
    token: str | None, policy: IntegrityPolicy, nonce: bytes = NONCE
) -> tuple[Verdict, str | None, Disposition]:
    check = check_integrity(token, policy, challenge_nonce=nonce, challenge_issued_at=ISSUED, now=NOW)
    return check.verdict, check.reason.code if check.reason else None, check.disposition


def test_a_valid_token_is_verified(platform: Platform, policy: IntegrityPolicy) -> None:
    token = platform.token(NONCE, at=NOW - dt.timedelta(seconds=5))
    assert run(token, policy) == (Verdict.VERIFIED, None, Disposition.ACCEPT)


def test_not_configured_checks_nothing(platform: Platform) -> None:
    assert run(None, IntegrityPolicy()) == (Verdict.NOT_CONFIGURED, None, Disposition.ACCEPT)
    assert run("a.b.c", IntegrityPolicy())[0] is Verdict.NOT_CONFIGURED


def test_missing_means_what_the_policy_says(policy: IntegrityPolicy) -> None:
    assert run(None, policy) == (Verdict.MISSING, "INTEGRITY_TOKEN_MISSING", Disposition.REJECT)
    lenient = dataclasses.replace(policy, on_missing=Disposition.REVIEW)
    assert run("", lenient) == (Verdict.MISSING, "INTEGRITY_TOKEN_MISSING", Disposition.REVIEW)


def test_forged_signature_is_invalid(platform: Platform, policy: IntegrityPolicy) -> None:
    attacker = ec.generate_private_key(ec.SECP256R1())
    forged = jws(verdict(NONCE, at=NOW), attacker)  # same kid, another key
    assert run(forged, policy) == (Verdict.FAILED, "INTEGRITY_TOKEN_INVALID", Disposition.REJECT)
    # a genuine token whose payload was edited after signing
    head, _, sig = platform.token(NONCE, at=NOW, device=()).split(".")
    edited = f"{head}.{b64u(json.dumps(verdict(NONCE, at=NOW)).encode())}.{sig}"
    assert run(edited, policy)[1] == "INTEGRITY_TOKEN_INVALID"


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "none", "kid": "play-1"},
        {"alg": "HS256", "kid": "play-1"},
        {"alg": "ES384", "kid": "play-1"},  # supported, but not on this policy's allow-list
        {"alg": "ES256", "kid": "play-1", "crit": ["exp"]},
        {"alg": "ES256", "kid": "play-1", "b64": False},
        {"alg": "ES256", "kid": "play-1", "jwk": {"kty": "EC"}},
        {"alg": "ES256", "kid": "play-1", "jku": "https://attacker.example/jwks"},
        {"alg": "ES256", "kid": "play-1", "x5c": ["MII..."]},
        {"alg": "ES256", "kid": "other"},
        {"alg": "ES256", "kid": 7},
    ],
)
def test_headers_outside_the_allow_list_are_refused(
    platform: Platform, policy: IntegrityPolicy, header: dict[str, object]
) -> None:
    token = jws(verdict(NONCE, at=NOW), platform.es256, alg="ES256", header=header)
    assert run(token, policy)[1] == "INTEGRITY_TOKEN_INVALID"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t + "=",  # padding
        lambda t: t.replace(".", "..", 1),
        lambda t: t + ".AAAA",  # JWE-like five parts / four parts
        lambda t: t.split(".")[0] + ".." + t.split(".")[2],  # detached payload
        lambda t: t[:-1] + ("B" if t[-1] == "A" else "A"),  # signature bit flip
        lambda t: "x" * 20000,
    ],
)
def test_malformed_compact_serialisations_are_invalid(
    platform: Platform, policy: IntegrityPolicy, mangle: object
) -> None:
    token = mangle(platform.token(NONCE, at=NOW))  # type: ignore[operator]
    assert run(token, policy)[1] == "INTEGRITY_TOKEN_INVALID"


def test_duplicate_member_names_are_refused(platform: Platform, policy: IntegrityPolicy) -> None:
    good = json.dumps(verdict(NONCE, at=NOW))
    doubled = good[:-1] + ', "deviceIntegrity": {"deviceRecognitionVerdict": []}}'
    assert run(jws(doubled.encode(), platform.es256), policy)[1] == "INTEGRITY_TOKEN_INVALID"
    assert run(jws(b"[1, 2]", platform.es256), policy)[1] == "INTEGRITY_TOKEN_INVALID"
    assert run(jws(b'{"a": NaN}', platform.es256), policy)[1] == "INTEGRITY_TOKEN_INVALID"


def test_the_nonce_must_be_bound_to_this_challenge(platform: Platform, policy: IntegrityPolicy) -> None:
    other_challenge = platform.token(secrets.token_bytes(32), at=NOW)
    assert run(other_challenge, policy) == (Verdict.FAILED, "INTEGRITY_NONCE_MISMATCH", Disposition.REJECT)
    raw = platform.token(NONCE, at=NOW, nonce=b64u(NONCE))  # the raw nonce, not its bound hash
    assert run(raw, policy)[1] == "INTEGRITY_NONCE_MISMATCH"


@pytest.mark.parametrize(
    "at",
    [
        NOW - dt.timedelta(minutes=6),  # older than max_age (and than the challenge)
        ISSUED - dt.timedelta(seconds=30),  # made before the challenge existed
        NOW + dt.timedelta(minutes=1),  # from the future
    ],
)
def test_stale_tokens(platform: Platform, policy: IntegrityPolicy, at: dt.datetime) -> None:
    assert run(platform.token(NONCE, at=at), policy) == (
        Verdict.FAILED,
        "INTEGRITY_TOKEN_STALE",
        Disposition.REJECT,
    )


@pytest.mark.parametrize("value", ["999999999999999", "-5", "12.5", True, None, 1e20, "", "٣٣"])
def test_odd_timestamps_are_invalid(platform: Platform, policy: IntegrityPolicy, value: object) -> None:
    payload = verdict(NONCE, at=NOW)
    payload["requestDetails"]["timestampMillis"] = value
    assert run(jws(payload, platform.es256), policy)[1] == "INTEGRITY_TOKEN_INVALID"


def test_max_age_counts_on_its_own(platform: Platform, policy: IntegrityPolicy) -> None:
    short = dataclasses.replace(policy, max_age=dt.timedelta(seconds=10))
    assert run(platform.token(NONCE, at=NOW - dt.timedelta(seconds=15)), short)[1] == "INTEGRITY_TOKEN_STALE"
    assert run(platform.token(NONCE, at=NOW - dt.timedelta(seconds=5)), short)[0] is Verdict.VERIFIED


@pytest.mark.parametrize(
    "kw",
    [
        {"device": ()},
        {"device": ("MEETS_BASIC_INTEGRITY",)},
        {"app": "UNRECOGNIZED_VERSION"},
        {"package": "com.attacker.clone"},
    ],
)
def test_verdict_fields_decide_by_policy(
    platform: Platform, policy: IntegrityPolicy, kw: dict[str, object]
) -> None:
    token = platform.token(NONCE, at=NOW, **kw)  # type: ignore[arg-type]
    assert run(token, policy) == (Verdict.FAILED, "INTEGRITY_VERDICT_FAILED", Disposition.REVIEW)
    strict = dataclasses.replace(policy, on_verdict_failed=Disposition.REJECT)
    assert run(token, strict)[2] is Disposition.REJECT


@pytest.mark.parametrize("alg", ["RS256", "PS256", "EdDSA"])
def test_other_allowed_algorithms(platform: Platform, alg: str) -> None:
    policy = IntegrityPolicy(
        keys={"k": platform.key("k", alg)}, algorithms=frozenset({alg}), package_names=frozenset({PACKAGE})
    )
    key = {"RS256": platform.rs256, "PS256": platform.rs256, "EdDSA": platform.eddsa}[alg]
    token = jws(verdict(NONCE, at=NOW), key, alg=alg, header={"alg": alg, "kid": "k"})
    assert run(token, policy)[0] is Verdict.VERIFIED
    # an ES256 token naming this key is refused before any crypto (algorithm not allowed)
    assert run(platform.token(NONCE, at=NOW), policy)[1] == "INTEGRITY_TOKEN_INVALID"


def test_policy_is_immutable_and_validated(platform: Platform, policy: IntegrityPolicy) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.on_missing = Disposition.ACCEPT  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.keys["evil"] = platform.key("evil")  # type: ignore[index]
    with pytest.raises(ValueError, match="allow-list"):
        IntegrityPolicy(keys={"k": platform.key("k", "RS256")}, package_names=frozenset({PACKAGE}))
    with pytest.raises(ValueError, match="key type"):
        IntegrityKey("k", "ES256", platform.key("k", "EdDSA").pem)  # an Ed25519 key declared as ES256
    with pytest.raises(ValueError, match="package_names"):
        IntegrityPolicy(keys={"play-1": platform.key()})
    with pytest.raises(ValueError):
        IntegrityPolicy(algorithms=frozenset({"none"}))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_a_verdict_never_an_exception(text: str) -> None:
    policy = IntegrityPolicy(keys={"play-1": _PLATFORM.key()}, package_names=frozenset({PACKAGE}))
    assert run(text, policy)[0] in (Verdict.FAILED, Verdict.MISSING)


_PLATFORM = Platform()


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=8),
        st.recursive(
            st.none() | st.integers() | st.text(max_size=8),
            lambda children: st.one_of(st.lists(children), st.dictionaries(st.text(max_size=5), children)),
            max_leaves=10,
        ),
    )
)
def test_any_signed_payload_gives_a_verdict(payload: dict[str, object]) -> None:
    policy = IntegrityPolicy(keys={"play-1": _PLATFORM.key()}, package_names=frozenset({PACKAGE}))
    token = jws(payload, _PLATFORM.es256)
    assert run(token, policy)[0] is Verdict.FAILED


# --- contacts, strength, the combination ----------------------------------------------------------


@pytest.mark.parametrize("good", ["+84912345678", "+12025550123", "+442071838750"])
def test_phone_numbers_in_e164(good: str) -> None:
    assert ids.phone_e164(good) == good


@pytest.mark.parametrize(
    "bad",
    [
        "0912345678",
        "+0912345678",
        "+84 912345678",
        "+84-912-345-678",
        "+84912345678\n",
        "+8491234567890123",
        "+8491",
        "+٨٤912345678",
        "84912345678",
    ],
)
def test_phone_numbers_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        ids.phone_e164(bad)


@pytest.mark.parametrize("good", ["an.nguyen@example.vn", "a+tag@mail.bhxh.gov.vn", "x_y-z@a-b.co"])
def test_email_addresses(good: str) -> None:
    assert ids.email(good) == good


@pytest.mark.parametrize(
    "bad",
    [
        "an@localhost",
        "an@@example.vn",
        ".an@example.vn",
        "an.@example.vn",
        "a..n@example.vn",
        '"an"@example.vn',
        "an@[127.0.0.1]",
        "an@-example.vn",
        "an@example.vn\n",
        " an@example.vn",
        "nguyễn@example.vn",
        "an@example.v1",
        "a" * 65 + "@example.vn",
        "a@" + "b" * 250 + ".vn",
    ],
)
def test_email_addresses_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        ids.email(bad)
    with pytest.raises(ValueError):
        Contact(ContactKind.EMAIL, bad)


def test_strength_and_combination() -> None:
    high = Strength(AssuranceLevel.CHIP_AA_FACE_LIVENESS, Verdict.VERIFIED)
    assert high.at_least(high)
    assert not Strength(AssuranceLevel.CHIP_AA_FACE_LIVENESS, Verdict.MISSING).at_least(high)
    assert not Strength(AssuranceLevel.CHIP_FACE, Verdict.VERIFIED).at_least(high)
    assert high.at_least(Strength(AssuranceLevel.CHIP_AA_FACE_LIVENESS, Verdict.NOT_CONFIGURED))
    miss = Reason("INTEGRITY_TOKEN_MISSING", "x")
    weak = Reason("REGISTRATION_WEAKER", "y")
    assert combine([]) == (Outcome.ACCEPTED, [])
    assert combine([(miss, Disposition.REVIEW)]) == (Outcome.REVIEW, [miss])
    assert combine([(miss, Disposition.REVIEW), (weak, Disposition.REJECT)]) == (Outcome.REJECTED, [weak])
    assert combine([(miss, Disposition.ACCEPT)]) == (Outcome.ACCEPTED, [miss])
