"""BHYT verification gateway: chip trust, face matching, policy and the gRPC service."""

__version__ = "0.1.0"
