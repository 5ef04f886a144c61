"""Chip trust: is this CCCD chip data genuine, and is this chip genuine and present now?

- `verify.verify_chip` composes everything below; the gateway calls only that.
- `lds/`: parsers for EF.SOD, DG1 (MRZ), DG2 (face), DG13 (Vietnamese data), DG14, DG15.
- `crypto/`: keys (incl. explicit EC parameters), signatures by AlgorithmIdentifier, X.509, CMS.
- `trust/`: the CSCA trust store (folders, master lists, link certificates, CRLs), DS paths.
- `passive.py`, `active.py`: the two authentications.

No gRPC, no I/O beyond `dump.load_dump` and `TrustStore.from_paths`.
"""

from bhytgate.chip.dump import CardDump, dump_from_files, load_dump
from bhytgate.chip.errors import ChipError, ChipFormatError
from bhytgate.chip.trust import RevocationPolicy, TrustStore
from bhytgate.chip.verify import ChipPolicy, ChipReport, verify_chip

__all__ = [
    "CardDump",
    "ChipError",
    "ChipFormatError",
    "ChipPolicy",
    "ChipReport",
    "RevocationPolicy",
    "TrustStore",
    "dump_from_files",
    "load_dump",
    "verify_chip",
]
