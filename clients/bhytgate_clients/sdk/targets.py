"""Re-exports `bhytgate_client.targets` (the light SDK distribution holds the implementation)."""

from bhytgate_client.targets import ADMIN as ADMIN
from bhytgate_client.targets import DEV_SERVER_NAME as DEV_SERVER_NAME
from bhytgate_client.targets import LOAD_BALANCING as LOAD_BALANCING
from bhytgate_client.targets import RESEND_UNAVAILABLE as RESEND_UNAVAILABLE
from bhytgate_client.targets import RETRY_SHED_VERIFY as RETRY_SHED_VERIFY
from bhytgate_client.targets import VERIFICATION as VERIFICATION
from bhytgate_client.targets import ChannelTarget as ChannelTarget
from bhytgate_client.targets import HostPort as HostPort
from bhytgate_client.targets import Resolver as Resolver
from bhytgate_client.targets import channel_target as channel_target
from bhytgate_client.targets import list_server_name as list_server_name
from bhytgate_client.targets import parse_host_port as parse_host_port
from bhytgate_client.targets import resolve as resolve
from bhytgate_client.targets import service_config as service_config
from bhytgate_client.targets import split_addresses as split_addresses
