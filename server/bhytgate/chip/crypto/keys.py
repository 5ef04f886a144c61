"""Public keys as found in certificates, DG15 and DG14, including explicit EC parameters."""

from __future__ import annotations

import dataclasses
import functools
from typing import Literal

import ecdsa
import ecdsa.curves
from asn1crypto import keys as akeys
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bhytgate.chip.errors import ChipFormatError, UnsupportedAlgorithmError

# ecdsa's curve name -> cryptography's curve class, for the curves both know.
_CRYPTOGRAPHY_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "NIST192p": ec.SECP192R1,
    "NIST224p": ec.SECP224R1,
    "NIST256p": ec.SECP256R1,
    "NIST384p": ec.SECP384R1,
    "NIST521p": ec.SECP521R1,
    "SECP256k1": ec.SECP256K1,
    "BRAINPOOLP256r1": ec.BrainpoolP256R1,
    "BRAINPOOLP384r1": ec.BrainpoolP384R1,
    "BRAINPOOLP512r1": ec.BrainpoolP512R1,
}

# asn1crypto's named-curve names -> ecdsa's names (for named curves cryptography lacks).
_ASN1_TO_ECDSA: dict[str, str] = {
    "secp192r1": "NIST192p",
    "secp224r1": "NIST224p",
    "secp256r1": "NIST256p",
    "secp384r1": "NIST384p",
    "secp521r1": "NIST521p",
    "secp256k1": "SECP256k1",
    "brainpoolp160r1": "BRAINPOOLP160r1",
    "brainpoolp192r1": "BRAINPOOLP192r1",
    "brainpoolp224r1": "BRAINPOOLP224r1",
    "brainpoolp256r1": "BRAINPOOLP256r1",
    "brainpoolp320r1": "BRAINPOOLP320r1",
    "brainpoolp384r1": "BRAINPOOLP384r1",
    "brainpoolp512r1": "BRAINPOOLP512r1",
}

# The oldest chips in circulation carry 1024-bit AA keys; anything shorter is refused.
MIN_RSA_BITS = 1024

# The only curves we accept: NIST prime curves, secp256k1 and the brainpool r1 family.
_ACCEPTED_ECDSA_CURVES = frozenset(_ASN1_TO_ECDSA.values())


@functools.cache
def _curves_by_domain() -> dict[tuple[int, int, int, int, int, int], ecdsa.curves.Curve]:
    table = {}
    for curve in ecdsa.curves.curves:
        if curve.name not in _ACCEPTED_ECDSA_CURVES:
            continue
        fp = curve.curve
        g = curve.generator
        table[(fp.p(), fp.a() % fp.p(), fp.b() % fp.p(), g.x(), g.y(), curve.order)] = curve
    return table


@dataclasses.dataclass(frozen=True)
class PublicKey:
    """A verification key. Exactly one of `_crypto` and `_ecdsa` is set."""

    kind: Literal["rsa", "ec"]
    curve: str | None  # e.g. "BRAINPOOLP512r1"; None for RSA
    bits: int
    explicit_parameters: bool
    _crypto: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | None = dataclasses.field(repr=False)
    _ecdsa: ecdsa.VerifyingKey | None = dataclasses.field(repr=False, default=None)

    @property
    def rsa(self) -> rsa.RSAPublicKey:
        if not isinstance(self._crypto, rsa.RSAPublicKey):
            raise UnsupportedAlgorithmError("not an RSA key", reason="key_type_mismatch")
        return self._crypto

    @property
    def description(self) -> str:
        if self.kind == "rsa":
            return f"RSA-{self.bits}"
        explicit = " (explicit parameters)" if self.explicit_parameters else ""
        return f"EC {self.curve}{explicit}"


def _rsa_key(info: akeys.PublicKeyInfo) -> PublicKey:
    try:
        parsed = info["public_key"].parsed
        # Some chips encode the modulus without the leading zero octet, so it reads as a negative
        # INTEGER (the BSI 2008 test passport and the ETSI test chip do): take it as unsigned.
        n = int.from_bytes(parsed["modulus"].contents, "big")
        e = int.from_bytes(parsed["public_exponent"].contents, "big")
    except (ValueError, TypeError, KeyError) as exc:
        raise ChipFormatError(f"RSA public key does not parse: {exc}", reason="key_malformed") from exc
    if n.bit_length() < MIN_RSA_BITS or e < 3 or e % 2 == 0:
        raise UnsupportedAlgorithmError(
            f"RSA key refused: {n.bit_length()}-bit modulus, exponent {e}", reason="key_too_weak"
        )
    try:
        key = rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError as exc:
        raise ChipFormatError(f"RSA public key invalid: {exc}", reason="key_malformed") from exc
    return PublicKey("rsa", None, n.bit_length(), False, key)


def _ec_curve(params: akeys.ECDomainParameters) -> tuple[ecdsa.curves.Curve, bool]:
    if params.name == "named":
        name = params.chosen.native
        ecdsa_name = _ASN1_TO_ECDSA.get(str(name))
        if ecdsa_name is None:
            raise UnsupportedAlgorithmError(f"EC curve {name} is not accepted", reason="curve_unsupported")
        return ecdsa.curves.curve_by_name(ecdsa_name), False
    if params.name == "specified":
        spec = params.chosen
        try:
            field = spec["field_id"]
            if field["field_type"].native != "prime_field":
                raise UnsupportedAlgorithmError(
                    "EC curve over a characteristic-two field", reason="curve_unsupported"
                )
            p = int(field["parameters"].native)
            a = int.from_bytes(spec["curve"]["a"].native, "big")
            b = int.from_bytes(spec["curve"]["b"].native, "big")
            base = spec["base"].native
            order = int(spec["order"].native)
        except (ValueError, TypeError, KeyError) as exc:
            raise ChipFormatError(
                f"explicit EC parameters do not parse: {exc}", reason="key_malformed"
            ) from exc
        coord_len = (p.bit_length() + 7) // 8
        if len(base) != 1 + 2 * coord_len or base[0] != 4:
            raise UnsupportedAlgorithmError(
                "explicit EC parameters with a compressed or malformed base point", reason="curve_unsupported"
            )
        gx = int.from_bytes(base[1 : 1 + coord_len], "big")
        gy = int.from_bytes(base[1 + coord_len :], "big")
        curve = _curves_by_domain().get((p, a % p, b % p, gx, gy, order))
        if curve is None:
            raise UnsupportedAlgorithmError(
                "explicit EC parameters describe no known curve", reason="curve_unsupported"
            )
        return curve, True
    raise UnsupportedAlgorithmError(
        "implicitly-CA EC parameters are not accepted", reason="curve_unsupported"
    )


def ec_public_key(params: akeys.ECDomainParameters, point: bytes) -> PublicKey:
    """An EC key from domain parameters and an encoded point (DG14 and SPKI use both forms)."""
    curve, explicit = _ec_curve(params)
    crypto_curve = _CRYPTOGRAPHY_CURVES.get(curve.name)
    bits = curve.order.bit_length()
    if crypto_curve is not None:
        try:
            key = ec.EllipticCurvePublicKey.from_encoded_point(crypto_curve(), point)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise ChipFormatError(f"EC point is not on {curve.name}: {exc}", reason="key_malformed") from exc
        return PublicKey("ec", curve.name, bits, explicit, key)
    try:
        vk = ecdsa.VerifyingKey.from_string(point, curve=curve)
    except (ecdsa.errors.MalformedPointError, ValueError, AssertionError) as exc:
        raise ChipFormatError(f"EC point is not on {curve.name}: {exc}", reason="key_malformed") from exc
    return PublicKey("ec", curve.name, bits, explicit, None, vk)


def load_public_key(info: akeys.PublicKeyInfo) -> PublicKey:
    """A `PublicKey` from a SubjectPublicKeyInfo, or a typed error saying why not."""
    try:
        algorithm = info["algorithm"]["algorithm"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise ChipFormatError(f"SubjectPublicKeyInfo does not parse: {exc}", reason="key_malformed") from exc
    if algorithm == "rsa":
        return _rsa_key(info)
    if algorithm == "ec":
        try:
            params = info["algorithm"]["parameters"]
            point = bytes(info["public_key"].native)
        except (ValueError, TypeError, KeyError) as exc:
            raise ChipFormatError(f"EC public key does not parse: {exc}", reason="key_malformed") from exc
        if not isinstance(params, akeys.ECDomainParameters):
            raise ChipFormatError("EC public key without domain parameters", reason="key_malformed")
        return ec_public_key(params, point)
    raise UnsupportedAlgorithmError(
        f"public key algorithm {algorithm} is not accepted", reason="key_unsupported"
    )
