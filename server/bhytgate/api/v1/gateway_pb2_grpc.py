"""The contract's stubs and servicer bases: the generated module of the client distribution
(`bhytgate_client.v1`, from proto/bhytgate/v1/gateway.proto), the single copy both sides use."""

from bhytgate_client.v1.gateway_pb2_grpc import *  # noqa: F403
