"""Generated from proto/bhytgate/v1/gateway.proto by `python -m bhytgate.api.codegen`; do not edit."""
