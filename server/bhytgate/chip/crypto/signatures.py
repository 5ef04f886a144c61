"""Signature verification driven by the AlgorithmIdentifier found in the document.

The algorithm always comes from the structure that carries the signature (SignerInfo,
certificate, CRL), never from the signer's certificate: real documents disagree with their
certificates often enough that trusting the certificate is a known source of false results.
"""

from __future__ import annotations

import hashlib
from typing import Any

import ecdsa
import ecdsa.util
from asn1crypto import algos
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from bhytgate.chip.crypto.keys import PublicKey
from bhytgate.chip.errors import ChipError, ChipFormatError, UnsupportedAlgorithmError


class SignatureInvalidError(ChipError):
    """The signature does not verify with the given key."""

    reason = "signature_invalid"


_HASH_OIDS: dict[str, str] = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}

_CRYPTO_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

# OID -> (scheme, hash or None when the hash comes from the digest algorithm)
_SIGNATURE_OIDS: dict[str, tuple[str, str | None]] = {
    "1.2.840.113549.1.1.1": ("pkcs1v15", None),  # bare rsaEncryption, seen in US documents
    "1.2.840.113549.1.1.5": ("pkcs1v15", "sha1"),
    "1.2.840.113549.1.1.14": ("pkcs1v15", "sha224"),
    "1.2.840.113549.1.1.11": ("pkcs1v15", "sha256"),
    "1.2.840.113549.1.1.12": ("pkcs1v15", "sha384"),
    "1.2.840.113549.1.1.13": ("pkcs1v15", "sha512"),
    "1.2.840.113549.1.1.10": ("pss", None),
    "1.2.840.10045.2.1": ("ecdsa", None),  # bare ecPublicKey as a signature algorithm
    "1.2.840.10045.4.1": ("ecdsa", "sha1"),
    "1.2.840.10045.4.3.1": ("ecdsa", "sha224"),
    "1.2.840.10045.4.3.2": ("ecdsa", "sha256"),
    "1.2.840.10045.4.3.3": ("ecdsa", "sha384"),
    "1.2.840.10045.4.3.4": ("ecdsa", "sha512"),
    # BSI TR-03111 ecdsa-plain-signatures: r || s instead of DER
    "0.4.0.127.0.7.1.1.4.1.1": ("ecdsa_plain", "sha1"),
    "0.4.0.127.0.7.1.1.4.1.2": ("ecdsa_plain", "sha224"),
    "0.4.0.127.0.7.1.1.4.1.3": ("ecdsa_plain", "sha256"),
    "0.4.0.127.0.7.1.1.4.1.4": ("ecdsa_plain", "sha384"),
    "0.4.0.127.0.7.1.1.4.1.5": ("ecdsa_plain", "sha512"),
}


def hash_algorithm(identifier: algos.DigestAlgorithm | algos.SignedDigestAlgorithm | Any) -> str:
    """The hash name ("sha256"...) of a DigestAlgorithm; NULL and absent parameters both accepted."""
    try:
        oid = identifier["algorithm"].dotted
    except (ValueError, TypeError, KeyError) as exc:
        raise ChipFormatError(f"hash AlgorithmIdentifier does not parse: {exc}") from exc
    name = _HASH_OIDS.get(oid)
    if name is None:
        raise UnsupportedAlgorithmError(f"hash algorithm {oid} is not accepted", reason="hash_unsupported")
    return name


def digest(name: str, data: bytes) -> bytes:
    return hashlib.new(name, data).digest()


def signature_scheme(algorithm: algos.SignedDigestAlgorithm, digest_hint: str | None) -> tuple[str, str]:
    """(scheme, hash) named by a signature AlgorithmIdentifier, with the SignerInfo's digest as hint."""
    try:
        oid = algorithm["algorithm"].dotted
    except (ValueError, TypeError, KeyError) as exc:
        raise ChipFormatError(f"signature AlgorithmIdentifier does not parse: {exc}") from exc
    entry = _SIGNATURE_OIDS.get(oid)
    if entry is None:
        raise UnsupportedAlgorithmError(
            f"signature algorithm {oid} is not accepted", reason="signature_algorithm_unsupported"
        )
    scheme, hash_name = entry
    if scheme == "pss":
        hash_name = _pss_parameters(algorithm)[0]
    if hash_name is None:
        if digest_hint is None:
            raise UnsupportedAlgorithmError(
                f"signature algorithm {oid} names no hash and none was given",
                reason="signature_algorithm_unsupported",
            )
        hash_name = digest_hint
    return scheme, hash_name


def _pss_parameters(algorithm: algos.SignedDigestAlgorithm) -> tuple[str, str, int]:
    try:
        params = algorithm["parameters"]
        if params is None or params.native is None:
            return "sha1", "sha1", 20  # RFC 4055 defaults
        hash_name = hash_algorithm(params["hash_algorithm"])
        mgf = params["mask_gen_algorithm"]
        if mgf["algorithm"].native != "mgf1":
            raise UnsupportedAlgorithmError("RSASSA-PSS with a mask generation other than MGF1")
        mgf_hash = hash_algorithm(mgf["parameters"])
        salt = int(params["salt_length"].native)
        trailer = params["trailer_field"].native
    except ChipError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise ChipFormatError(f"RSASSA-PSS parameters do not parse: {exc}") from exc
    if trailer not in ("trailer_field_bc", 1):
        raise UnsupportedAlgorithmError("RSASSA-PSS trailer field other than 0xBC")
    if salt < 0 or salt > 512:
        raise ChipFormatError(f"RSASSA-PSS salt length {salt} is absurd")
    return hash_name, mgf_hash, salt


def verify_signature(
    key: PublicKey,
    algorithm: algos.SignedDigestAlgorithm,
    data: bytes,
    signature: bytes,
    *,
    digest_hint: str | None = None,
) -> None:
    """Return if `signature` over `data` verifies; raise `SignatureInvalidError` otherwise."""
    scheme, hash_name = signature_scheme(algorithm, digest_hint)
    if scheme in ("pkcs1v15", "pss"):
        if key.kind != "rsa":
            raise SignatureInvalidError(f"{scheme} signature but the signer key is {key.description}")
        pad: padding.AsymmetricPadding
        if scheme == "pss":
            _, mgf_hash, salt = _pss_parameters(algorithm)
            pad = padding.PSS(mgf=padding.MGF1(_CRYPTO_HASHES[mgf_hash]()), salt_length=salt)
        else:
            pad = padding.PKCS1v15()
        try:
            key.rsa.verify(signature, data, pad, _CRYPTO_HASHES[hash_name]())
        except (InvalidSignature, ValueError, UnsupportedAlgorithm) as exc:
            raise SignatureInvalidError(f"RSA {scheme} signature with {hash_name} does not verify") from exc
        return
    if key.kind != "ec":
        raise SignatureInvalidError(f"ECDSA signature but the signer key is {key.description}")
    verify_ecdsa(key, hash_name, data, signature, plain=(scheme == "ecdsa_plain"))


def verify_ecdsa(key: PublicKey, hash_name: str, data: bytes, signature: bytes, *, plain: bool) -> None:
    """ECDSA over `data`; `plain` means r||s of equal halves (BSI TR-03111, Active Authentication)."""
    if plain:
        if len(signature) == 0 or len(signature) % 2:
            raise SignatureInvalidError("plain ECDSA signature of odd length")
        half = len(signature) // 2
        r = int.from_bytes(signature[:half], "big")
        s = int.from_bytes(signature[half:], "big")
        der = encode_dss_signature(r, s)
    else:
        der = signature
    if isinstance(key._crypto, ec.EllipticCurvePublicKey):
        try:
            key._crypto.verify(der, data, ec.ECDSA(_CRYPTO_HASHES[hash_name]()))
        except (InvalidSignature, ValueError) as exc:
            raise SignatureInvalidError(f"ECDSA signature with {hash_name} does not verify") from exc
        return
    vk = key._ecdsa
    if vk is None:
        raise SignatureInvalidError("EC key has no usable implementation")
    try:
        ok = vk.verify(der, data, hashfunc=getattr(hashlib, hash_name), sigdecode=ecdsa.util.sigdecode_der)
    except (ecdsa.BadSignatureError, ecdsa.BadDigestError, ecdsa.der.UnexpectedDER, ValueError) as exc:
        raise SignatureInvalidError(f"ECDSA signature with {hash_name} does not verify") from exc
    if not ok:
        raise SignatureInvalidError(f"ECDSA signature with {hash_name} does not verify")
