"""Keys, SubjectPublicKeyInfo (named or explicit EC parameters) and raw signing for the lab."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from asn1crypto import algos, keys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from ecdsa import curves as ecdsa_curves

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
HashName = Literal["sha1", "sha224", "sha256", "sha384", "sha512"]
RsaScheme = Literal["pkcs1", "pss"]

HASH_NAMES: tuple[HashName, ...] = ("sha1", "sha224", "sha256", "sha384", "sha512")

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

# cryptography curve name -> the ecdsa package's curve, which knows the domain parameters
_ECDSA_CURVES: dict[str, ecdsa_curves.Curve] = {
    "secp256r1": ecdsa_curves.NIST256p,
    "secp384r1": ecdsa_curves.NIST384p,
    "secp521r1": ecdsa_curves.NIST521p,
    "brainpoolP256r1": ecdsa_curves.BRAINPOOLP256r1,
    "brainpoolP384r1": ecdsa_curves.BRAINPOOLP384r1,
    "brainpoolP512r1": ecdsa_curves.BRAINPOOLP512r1,
}

CURVES: dict[str, ec.EllipticCurve] = {
    "secp256r1": ec.SECP256R1(),
    "secp384r1": ec.SECP384R1(),
    "secp521r1": ec.SECP521R1(),
    "brainpoolP256r1": ec.BrainpoolP256R1(),
    "brainpoolP384r1": ec.BrainpoolP384R1(),
    "brainpoolP512r1": ec.BrainpoolP512R1(),
}


def hash_algorithm(name: str) -> hashes.HashAlgorithm:
    try:
        return _HASHES[name]()
    except KeyError:
        raise ValueError(f"unsupported hash {name!r}; choose one of {', '.join(HASH_NAMES)}") from None


def digest(name: str, data: bytes) -> bytes:
    return hashlib.new(name, data).digest()


def new_rsa(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def new_ec(curve: str = "secp256r1") -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(CURVES[curve])


def public_key(key: PrivateKey) -> PublicKey:
    return key.public_key()


def spki(key: PrivateKey | PublicKey, *, explicit: bool = False) -> keys.PublicKeyInfo:
    """SubjectPublicKeyInfo; `explicit` spells out the curve as real CSCAs do (SpecifiedECDomain)."""
    pub = key.public_key() if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) else key
    der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    named = keys.PublicKeyInfo.load(der)
    if not explicit:
        return named
    if not isinstance(pub, ec.EllipticCurvePublicKey):
        raise ValueError("explicit parameters only exist for EC keys")
    return keys.PublicKeyInfo(
        {
            "algorithm": keys.PublicKeyAlgorithm(
                {
                    "algorithm": "ec",
                    "parameters": keys.ECDomainParameters(
                        name="specified", value=specified_domain(pub.curve.name)
                    ),
                }
            ),
            "public_key": named["public_key"].native,
        }
    )


def specified_domain(curve_name: str) -> keys.SpecifiedECDomain:
    """The curve's domain parameters in the shape of the Vietnamese CSCA (ecdpVer1, no seed/hash)."""
    try:
        curve = _ECDSA_CURVES[curve_name]
    except KeyError:
        raise ValueError(f"no domain parameters known for curve {curve_name!r}") from None
    p = curve.curve.p()
    size = (p.bit_length() + 7) // 8
    generator = curve.generator
    base = b"\x04" + generator.x().to_bytes(size, "big") + generator.y().to_bytes(size, "big")
    return keys.SpecifiedECDomain(
        {
            "version": "ecdpVer1",
            "field_id": {"field_type": "prime_field", "parameters": p},
            "curve": {
                "a": (curve.curve.a() % p).to_bytes(size, "big"),
                "b": curve.curve.b().to_bytes(size, "big"),
            },
            "base": base,
            "order": curve.order,
            "cofactor": curve.curve.cofactor(),
        }
    )


def named_curve_for(domain: keys.SpecifiedECDomain) -> str:
    """Map explicit parameters back to the named curve: what a verifier must do with such keys."""
    p = domain["field_id"]["parameters"].native
    order = domain["order"].native
    for name, curve in _ECDSA_CURVES.items():
        if curve.curve.p() == p and curve.order == order:
            return name
    raise ValueError("unknown explicit curve")


def signature_algorithm(
    key: PrivateKey, hash_name: str, rsa_scheme: RsaScheme = "pkcs1"
) -> dict[str, object]:
    """AlgorithmIdentifier (as asn1crypto native input) for a signature by `key` with `hash_name`."""
    hash_algorithm(hash_name)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {"algorithm": f"{hash_name}_ecdsa"}
    if rsa_scheme == "pss":
        return {
            "algorithm": "rsassa_pss",
            "parameters": algos.RSASSAPSSParams(
                {
                    "hash_algorithm": {"algorithm": hash_name, "parameters": None},
                    "mask_gen_algorithm": {
                        "algorithm": "mgf1",
                        "parameters": {"algorithm": hash_name, "parameters": None},
                    },
                    "salt_length": hash_algorithm(hash_name).digest_size,
                    "trailer_field": "trailer_field_bc",
                }
            ),
        }
    return {"algorithm": f"{hash_name}_rsa", "parameters": None}


def sign(key: PrivateKey, data: bytes, hash_name: str, rsa_scheme: RsaScheme = "pkcs1") -> bytes:
    """Signature value as X.509/CMS carry it (DER ECDSA-Sig-Value for EC)."""
    algorithm = hash_algorithm(hash_name)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(algorithm))
    if rsa_scheme == "pss":
        pss = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)
        return key.sign(data, pss, algorithm)
    return key.sign(data, padding.PKCS1v15(), algorithm)


def key_kind(key: PrivateKey | PublicKey) -> Literal["rsa", "ec"]:
    return "rsa" if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey) else "ec"


def save_key(key: PrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)


def load_key(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: not an RSA or EC private key")
    return key
