"""Re-exports `bhytgate_client.home` (the light SDK distribution holds the implementation)."""

from bhytgate_client.home import GatewayHome as GatewayHome
from bhytgate_client.home import default_home as default_home
