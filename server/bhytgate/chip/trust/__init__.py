"""Trust anchors (CSCA certificates, master lists, link certificates, CRLs) and DS path validation."""

from bhytgate.chip.trust.chain import ChainResult, RevocationPolicy, validate_document_signer
from bhytgate.chip.trust.store import TrustStore

__all__ = ["ChainResult", "RevocationPolicy", "TrustStore", "validate_document_signer"]
