"""Keys and signature verification for ICAO 9303 documents.

`cryptography` does the work wherever it can; curves it lacks (brainpoolP224r1, P320r1...) go
to the pure-Python `ecdsa` package. Keys with explicit EC parameters are mapped to the named
curve they describe; an unknown curve is refused, never guessed.
"""

from bhytgate.chip.crypto.keys import PublicKey, load_public_key
from bhytgate.chip.crypto.signatures import hash_algorithm, verify_signature

__all__ = ["PublicKey", "hash_algorithm", "load_public_key", "verify_signature"]
