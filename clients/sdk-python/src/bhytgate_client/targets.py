"""From `--address HOST:PORT[,HOST:PORT...]` (or one DNS name) to a gRPC target and service config.

One address is handed to gRPC as it is: an IP literal connects directly, a name goes to gRPC's DNS
resolver, which returns every A/AAAA record, re-resolves when connections fail, and the round-robin
policy spreads calls over all of them. A list becomes one `ipv4:` or `ipv6:` target (the gRPC naming
doc's static-address schemes, https://github.com/grpc/grpc/blob/master/doc/naming.md); host names in
a list are resolved once, here, because those schemes take addresses only. A list mixing IPv4 and
IPv6 uses `ipv6:` with IPv4-mapped addresses (`[::ffff:127.0.0.1]:50051`): gRPC's dual-stack sockets
connect to those over IPv4. A target that already names a scheme (`dns:///gw.example:443`,
`ipv4:…`, `unix:…`) is passed through untouched.

Every channel gets the same service config: round robin over the addresses, client-side health
checking (a replica is picked only while its grpc.health.v1 service reports "" SERVING), and the
retry policies below.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from typing import Any

# The name the dev server certificate carries (bhytgate.pki.devca.issue_server_cert: subject CN and
# DNS SAN "localhost", IP SANs 127.0.0.1 and ::1). Every replica set up with the dev PKI presents a
# certificate with that name.
DEV_SERVER_NAME = "localhost"

VERIFICATION = "bhytgate.v1.VerificationService"
ADMIN = "bhytgate.v1.AdminService"

# A Verify refused with RESOURCE_EXHAUSTED was shed by admission before anything was consumed (its
# challenge is still unused), so sending it again a moment later is safe and usually succeeds: under
# Poisson arrivals a few calls are shed even at half load. gRPC's own retry policy does it, with
# jittered exponential backoff (each wait random, at most 0.1, 0.2, 0.4 s) inside the call's
# deadline. Each attempt is a new pick, so with several replicas it may land on another one.
#
# Verify is NOT resent on UNAVAILABLE. That status also means "the connection broke after the
# request was sent": the replica may have consumed the challenge (challenges are single-use; the
# audit log then holds a REJECTED record for it), and a resend would be refused as
# CHALLENGE_REPLAYED at best. A caller that gets UNAVAILABLE from Verify starts again with a new
# BeginVerification. (gRPC's transparent retry still resends a call that provably never reached a
# server, e.g. a stream the server refused before reading it; that is safe and stays on.)
RETRY_SHED_VERIFY: dict[str, Any] = {
    "name": [{"service": VERIFICATION, "method": "Verify"}],
    "retryPolicy": {
        "maxAttempts": 4,
        "initialBackoff": "0.1s",
        "maxBackoff": "0.5s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["RESOURCE_EXHAUSTED"],
    },
}

# Calls that change nothing a resend could double: a BeginVerification only issues a fresh
# challenge (one left unused simply expires), GetAttestationKeys and VerifyAuditChain only read.
# A replica that died or went away under them (UNAVAILABLE) costs one more attempt, picked by round
# robin, normally on another replica. Counter and the other admin calls change state and are
# never resent.
RESEND_UNAVAILABLE: dict[str, Any] = {
    "name": [
        {"service": VERIFICATION, "method": "GetAttestationKeys"},
        {"service": ADMIN, "method": "VerifyAuditChain"},
    ],
    "retryPolicy": {
        "maxAttempts": 3,
        "initialBackoff": "0.05s",
        "maxBackoff": "0.5s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"],
    },
}


def _begin_policy(retry_shed: bool) -> dict[str, Any]:
    """BeginVerification: resent on UNAVAILABLE (above), and with `retry_shed` also when the
    gateway, in overload mode, refused it before issuing anything (RESOURCE_EXHAUSTED). gRPC
    allows one policy per method, hence its own entry."""
    codes = ["UNAVAILABLE", "RESOURCE_EXHAUSTED"] if retry_shed else ["UNAVAILABLE"]
    return {
        "name": [{"service": VERIFICATION, "method": "BeginVerification"}],
        "retryPolicy": {**RESEND_UNAVAILABLE["retryPolicy"], "retryableStatusCodes": codes},
    }


LOAD_BALANCING = ("round_robin", "pick_first")

_SCHEME_RE = re.compile(r"^(dns|ipv4|ipv6|unix|unix-abstract|vsock):(?!\d+$)")
_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


@dataclasses.dataclass(frozen=True)
class HostPort:
    host: str  # an IP literal (IPv6 without brackets) or a host name
    port: int

    @property
    def is_ip(self) -> bool:
        return _ip(self.host) is not None

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclasses.dataclass(frozen=True)
class ChannelTarget:
    target: str  # what grpc.secure_channel / insecure_channel get
    # The name the server certificate is checked against (and the :authority), where gRPC's default
    # would not do; None: gRPC's default (the host of a single address).
    authority: str | None


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _valid_hostname(host: str) -> bool:
    name = host[:-1] if host.endswith(".") else host
    return 0 < len(name) <= 253 and all(_LABEL_RE.match(label) for label in name.split("."))


def parse_host_port(text: str) -> HostPort:
    """One `HOST:PORT`: an IPv4 literal, `[IPv6]`, or a host name, and a port 1-65535."""
    item = text.strip()
    if not item:
        raise ValueError("empty address (expected HOST:PORT)")
    if item.startswith("["):
        host, sep, port = item[1:].partition("]:")
        if not sep or not isinstance(_ip(host), ipaddress.IPv6Address):
            raise ValueError(f"{item!r}: expected [IPv6]:PORT, e.g. [::1]:50051")
    else:
        host, sep, port = item.rpartition(":")
        if not sep or not host:
            raise ValueError(f"{item!r}: expected HOST:PORT (the port is required)")
        if "/" in host:
            raise ValueError(f"{item!r}: expected HOST:PORT (a gRPC target URI stands alone, not in a list)")
        if ":" in host:
            raise ValueError(f"{item!r}: an IPv6 address needs brackets, e.g. [::1]:50051")
        if _ip(host) is None and not _valid_hostname(host):
            raise ValueError(f"{item!r}: {host!r} is neither an IP address nor a host name")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{item!r}: the port must be a number from 1 to 65535")
    return HostPort(host, int(port))


def split_addresses(address: str) -> list[HostPort]:
    """The entries of `HOST:PORT[,HOST:PORT...]`, each checked (ValueError names the bad one)."""
    if _SCHEME_RE.match(address.strip()):
        raise ValueError(f"{address!r} is a gRPC target URI, not a HOST:PORT list")
    return [parse_host_port(item) for item in address.split(",")]


def list_server_name(entries: Sequence[HostPort], server_name: str | None = None) -> str:
    """The one name a channel to several addresses checks every replica's certificate against.

    `server_name` when given; else the host, when every entry names the same one (what a
    single-address channel would check); else DEV_SERVER_NAME, the name the dev certificate carries.
    Production replicas behind one list need certificates sharing a name, passed as `server_name`."""
    if server_name:
        return server_name
    return entries[0].host if len({e.host.lower() for e in entries}) == 1 else DEV_SERVER_NAME


Resolver = Callable[[str, int], Sequence[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (system resolver, TCP), in the resolver's order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ValueError(f"cannot resolve {host!r}: {exc}") from None
    return [str(info[4][0]) for info in infos]


def channel_target(
    address: str, *, server_name: str | None = None, resolver: Resolver = resolve
) -> ChannelTarget:
    """The gRPC target for `address` and the server name to verify (see the module docstring).

    With several addresses the channel has one name for all of them (gRPC checks every replica's
    certificate against the same name), `list_server_name`."""
    text = address.strip()
    if not text:
        raise ValueError("no gateway address given (expected HOST:PORT[,HOST:PORT...])")
    if _SCHEME_RE.match(text):
        return ChannelTarget(text, server_name)
    entries = split_addresses(text)
    if len(entries) == 1:
        return ChannelTarget(str(entries[0]), server_name)
    name = list_server_name(entries, server_name)
    sockaddrs: list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]] = []
    for entry in entries:
        literal = _ip(entry.host)
        found = [literal] if literal is not None else [_ip(a) for a in resolver(entry.host, entry.port)]
        for ip in found:
            if ip is None:
                continue
            if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
                raise ValueError(f"{entry}: scoped (link-local) IPv6 addresses are not supported in a list")
            if (ip, entry.port) not in sockaddrs:
                sockaddrs.append((ip, entry.port))
    if not sockaddrs:
        raise ValueError(f"{address!r}: no address to connect to")
    if all(isinstance(ip, ipaddress.IPv4Address) for ip, _ in sockaddrs):
        return ChannelTarget("ipv4:" + ",".join(f"{ip}:{port}" for ip, port in sockaddrs), name)
    mapped = [
        (ipaddress.IPv6Address(f"::ffff:{ip}") if isinstance(ip, ipaddress.IPv4Address) else ip, port)
        for ip, port in sockaddrs
    ]
    return ChannelTarget("ipv6:" + ",".join(f"[{ip}]:{port}" for ip, port in mapped), name)


def service_config(*, retry_shed: bool = True, load_balancing: str = "round_robin") -> dict[str, Any]:
    """Load balancing, client-side health checking and the retry policies, as gRPC reads them.

    `pick_first` keeps every call of the channel on one replica (the first that connects, the next
    one if it fails): what a counter needs, whose follow-up calls refer to a verification held in
    that replica's memory."""
    if load_balancing not in LOAD_BALANCING:
        raise ValueError(f"load_balancing must be one of {', '.join(LOAD_BALANCING)}")
    method_config = [
        _begin_policy(retry_shed),
        RESEND_UNAVAILABLE,
        *([RETRY_SHED_VERIFY] if retry_shed else []),
    ]
    return {
        "loadBalancingConfig": [{load_balancing: {}}],
        # "" is the whole server's status, which the gateway sets SERVING once it listens.
        "healthCheckConfig": {"serviceName": ""},
        "methodConfig": method_config,
        # Retries stop while most calls of this channel fail (a gateway that is really saturated
        # or gone), so they do not multiply its load.
        "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1},
    }
