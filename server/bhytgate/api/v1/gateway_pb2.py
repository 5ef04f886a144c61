"""The contract's messages and enums: the generated module of the client distribution
(`bhytgate_client.v1`, from proto/bhytgate/v1/gateway.proto), the single copy both sides use."""

from bhytgate_client.v1.gateway_pb2 import *  # noqa: F403
from bhytgate_client.v1.gateway_pb2 import DESCRIPTOR as DESCRIPTOR
