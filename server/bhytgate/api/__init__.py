"""The gRPC contract: generated messages and stubs (`bhytgate.api.v1`) and their regeneration."""
