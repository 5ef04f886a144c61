"""Independent checks for card-lab output: asn1crypto to parse, cryptography to verify."""

from __future__ import annotations

import hashlib
from typing import Any

from asn1crypto import keys, parser
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key

# brainpool/NIST curves by their prime, for explicit-parameter keys (what a verifier must remap)
_CURVES_BY_PRIME: dict[int, ec.EllipticCurve] = {}


def _prime_of(curve_name: str) -> int:
    from ecdsa import curves

    table = {
        "brainpoolP512r1": curves.BRAINPOOLP512r1,
        "brainpoolP384r1": curves.BRAINPOOLP384r1,
        "brainpoolP256r1": curves.BRAINPOOLP256r1,
        "secp256r1": curves.NIST256p,
        "secp384r1": curves.NIST384p,
    }
    return int(table[curve_name].curve.p())


for _name, _curve in (
    ("secp256r1", ec.SECP256R1()),
    ("secp384r1", ec.SECP384R1()),
    ("brainpoolP256r1", ec.BrainpoolP256R1()),
    ("brainpoolP384r1", ec.BrainpoolP384R1()),
    ("brainpoolP512r1", ec.BrainpoolP512R1()),
):
    _CURVES_BY_PRIME[_prime_of(_name)] = _curve

HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def outer(data: bytes) -> tuple[int, int, int, bytes]:
    """(class, method, tag, contents) of the outer TLV; asserts it spans the whole file."""
    info = parser.parse(data)
    assert len(info[3]) + len(info[4]) + len(info[5]) == len(data)
    return info[0], info[1], info[2], info[4]


def public_key(info: keys.PublicKeyInfo) -> Any:
    """cryptography key from an SPKI, remapping explicit EC parameters to the named curve."""
    params = info["algorithm"]["parameters"]
    if info["algorithm"]["algorithm"].native == "ec" and params.name == "specified":
        prime = params.chosen["field_id"]["parameters"].native
        curve = _CURVES_BY_PRIME[prime]
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, bytes(info["public_key"]))
    return load_der_public_key(info.dump())


def verify(key: Any, signature: bytes, data: bytes, algorithm: Any) -> None:
    """Verify per an asn1crypto SignedDigestAlgorithm; raises InvalidSignature."""
    name = algorithm.signature_algo
    hash_name = algorithm.hash_algo
    if name == "rsassa_pss":
        params = algorithm["parameters"]
        h = HASHES[params["hash_algorithm"]["algorithm"].native]()
        pss = padding.PSS(mgf=padding.MGF1(h), salt_length=params["salt_length"].native)
        key.verify(signature, data, pss, h)
    elif name == "ecdsa":
        key.verify(signature, data, ec.ECDSA(HASHES[hash_name]()))
    else:
        key.verify(signature, data, padding.PKCS1v15(), HASHES[hash_name]())


def verify_rsa_aa(key: rsa.RSAPublicKey, message: bytes, signature: bytes) -> str:
    """ISO/IEC 9796-2 scheme 1 verification; returns which opening was used ('J' or 'n-J')."""
    numbers = key.public_numbers()
    n, e = numbers.n, numbers.e
    size = (n.bit_length() + 7) // 8
    j = pow(int.from_bytes(signature, "big"), e, n)
    opening = "J"
    if j & 0xF != 0xC:
        j, opening = n - j, "n-J"
    f = j.to_bytes(size, "big")
    if f[0] != 0x6A:
        raise InvalidSignature(f"header {f[0]:#x}")
    if f[-1] == 0xBC:
        hash_name, trailer = "sha1", 1
    elif f[-1] == 0xCC and f[-2] == 0x34:
        hash_name, trailer = "sha256", 2
    else:
        raise InvalidSignature(f"trailer {f[-2:].hex()}")
    digest_size = hashlib.new(hash_name).digest_size
    m1 = f[1 : -(digest_size + trailer)]
    h = f[-(digest_size + trailer) : -trailer]
    if hashlib.new(hash_name, m1 + message).digest() != h:
        raise InvalidSignature("hash mismatch")
    return opening


def verify_ec_aa(key: ec.EllipticCurvePublicKey, message: bytes, signature: bytes, hash_name: str) -> None:
    width = (key.curve.key_size + 7) // 8
    if len(signature) != 2 * width:
        raise InvalidSignature("length")
    r, s = int.from_bytes(signature[:width], "big"), int.from_bytes(signature[width:], "big")
    key.verify(encode_dss_signature(r, s), message, ec.ECDSA(HASHES[hash_name]()))


def aa_ok(key: Any, challenge: bytes, signatures: list[bytes], hash_name: str = "sha256") -> bool:
    chunks = [challenge[i : i + 8] for i in range(0, len(challenge), 8)]
    if len(chunks) != len(signatures):
        return False
    try:
        for chunk, signature in zip(chunks, signatures, strict=True):
            if isinstance(key, rsa.RSAPublicKey):
                verify_rsa_aa(key, chunk, signature)
            else:
                verify_ec_aa(key, chunk, signature, hash_name)
    except InvalidSignature:
        return False
    return True
