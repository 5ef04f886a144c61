"""Signed statements (compact JWS, ES256) that a hospital keeps with the claim for a released entitlement."""

from bhytgate.attestation.jws import (
    ALGORITHM,
    ATTESTATION_TYP,
    AttestationCheck,
    AttestationClaims,
    AttestationStatus,
    generate_key,
    jwk_thumbprint,
    jwks_json,
    load_or_create_key,
    load_private_key,
    public_jwk,
    save_private_key,
    sign_attestation,
    verify_attestation,
)

__all__ = [
    "ALGORITHM",
    "ATTESTATION_TYP",
    "AttestationCheck",
    "AttestationClaims",
    "AttestationStatus",
    "generate_key",
    "jwk_thumbprint",
    "jwks_json",
    "load_or_create_key",
    "load_private_key",
    "public_jwk",
    "save_private_key",
    "sign_attestation",
    "verify_attestation",
]
