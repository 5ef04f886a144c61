"""Re-exports `bhytgate_client.client` (the light SDK distribution holds the implementation)."""

from bhytgate_client.client import CHIP_FIELDS as CHIP_FIELDS
from bhytgate_client.client import MAX_REQUEST_BYTES as MAX_REQUEST_BYTES
from bhytgate_client.client import TERMINAL_KINDS as TERMINAL_KINDS
from bhytgate_client.client import GatewayClient as GatewayClient
from bhytgate_client.client import GatewayError as GatewayError
from bhytgate_client.client import SignFrames as SignFrames
from bhytgate_client.client import now_ms as now_ms
