"""`--address HOST:PORT[,HOST:PORT...]`: round robin over healthy replicas, a dead one is skipped.

The live replica is the session's real gateway (mTLS on 127.0.0.1); a dead one is a loopback port
nobody listens on. Failover between two live gateways is tested elsewhere."""

from __future__ import annotations

import datetime as dt
import json
import socket
import time
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from bhytgate.pki.devca import server_credentials
from bhytgate_clients.cardlab import SimulatedChip
from bhytgate_clients.cardlab.camera import SimulatedCamera
from bhytgate_clients.cli import main
from bhytgate_clients.cli.checkin import read_chip_files
from bhytgate_clients.sdk import GatewayClient, GatewayError, VerificationResult
from bhytgate_clients.sdk.targets import (
    DEV_SERVER_NAME,
    channel_target,
    parse_host_port,
    resolve,
    service_config,
    split_addresses,
)

from .conftest import Deployment
from .test_e2e import OPERATOR, live_photos


def dead_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (bound, then closed): connecting to it is refused at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def desk_check(d: Deployment, client: GatewayClient, identity: str = "obama") -> VerificationResult:
    card = d.card(identity)
    camera = SimulatedCamera(live_photos(d, card))
    chip = SimulatedChip.from_dump(card)
    challenge = client.begin(terminal_kind="desk", operator=OPERATOR)
    return client.verify(
        challenge,
        chip_files=read_chip_files(card),
        aa_signatures=chip.answer_challenge(challenge.aa_challenge),
        frames=camera.single(int(dt.datetime.now(dt.UTC).timestamp() * 1000)),
        operator=OPERATOR,
    )


# --- the target and service-config builder ----------------------------------------------------


def test_a_single_address_is_handed_to_grpc_as_it_is() -> None:
    def no_lookup(host: str, port: int) -> list[str]:
        raise AssertionError("a single address is resolved by gRPC, not here")

    assert channel_target("127.0.0.1:50051", resolver=no_lookup) == channel_target("127.0.0.1:50051")
    assert channel_target(" 127.0.0.1:50051 ").target == "127.0.0.1:50051"
    assert channel_target("127.0.0.1:50051").authority is None
    assert channel_target("[::1]:50051").target == "[::1]:50051"
    one_name = channel_target("gateway.bv-bachmai.example:443", resolver=no_lookup)
    assert one_name.target == "gateway.bv-bachmai.example:443"  # gRPC's DNS resolver: every record
    assert one_name.authority is None  # the certificate must carry that name
    assert channel_target("gw.example:443", server_name="bhytgate").authority == "bhytgate"
    assert channel_target("dns:///gw.example:443").target == "dns:///gw.example:443"
    assert channel_target("ipv4:10.0.0.1:1,10.0.0.2:1").target == "ipv4:10.0.0.1:1,10.0.0.2:1"


def test_an_ipv4_list_becomes_an_ipv4_target_with_one_name() -> None:
    same_host = channel_target("127.0.0.1:50051, 127.0.0.1:50052")
    assert same_host.target == "ipv4:127.0.0.1:50051,127.0.0.1:50052"
    assert same_host.authority == "127.0.0.1"  # the dev certificate's IP SAN, as for one address
    two_hosts = channel_target("10.0.0.1:50051,10.0.0.2:50051")
    assert two_hosts.target == "ipv4:10.0.0.1:50051,10.0.0.2:50051"
    assert two_hosts.authority == DEV_SERVER_NAME == "localhost"
    named = channel_target("10.0.0.1:50051,10.0.0.2:50051", server_name="gateway.internal")
    assert named.authority == "gateway.internal"
    assert channel_target("10.0.0.1:1,10.0.0.1:1,10.0.0.2:1").target == "ipv4:10.0.0.1:1,10.0.0.2:1"


def test_ipv6_lists_and_mixed_families() -> None:
    v6 = channel_target("[::1]:50051,[2001:db8::7]:50051")
    assert v6.target == "ipv6:[::1]:50051,[2001:db8::7]:50051"
    assert v6.authority == "localhost"
    assert channel_target("[::1]:1,[::1]:2").authority == "::1"
    # IPv4 and IPv6 in one list: one ipv6: target, the IPv4 entries IPv4-mapped
    mixed = channel_target("[::1]:50051,127.0.0.1:50052")
    assert mixed.target == "ipv6:[::1]:50051,[::ffff:7f00:1]:50052"
    assert mixed.authority == "localhost"


def test_host_names_in_a_list_are_resolved_to_every_address() -> None:
    records = {"a.example": ["10.0.0.1", "10.0.0.2"], "b.example": ["10.0.0.3"], "c.example": ["2001:db8::1"]}

    def lookup(host: str, port: int) -> list[str]:
        return records[host]

    both = channel_target("a.example:443,b.example:8443", resolver=lookup)
    assert both.target == "ipv4:10.0.0.1:443,10.0.0.2:443,10.0.0.3:8443"
    assert both.authority == "localhost"
    assert channel_target("a.example:1,a.example:2", resolver=lookup).authority == "a.example"
    mixed = channel_target("b.example:1,c.example:1", resolver=lookup)
    assert mixed.target == "ipv6:[::ffff:a00:3]:1,[2001:db8::1]:1"
    # the system resolver, for real
    assert "127.0.0.1" in resolve("localhost", 50051)
    assert "127.0.0.1:7" in channel_target("localhost:7,127.0.0.1:8").target
    with pytest.raises(ValueError, match=r"cannot resolve 'nonexistent\.invalid'"):
        channel_target("nonexistent.invalid:1,127.0.0.1:2")


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("", "no gateway address given"),
        ("   ", "no gateway address given"),
        ("127.0.0.1", "the port is required"),
        ("127.0.0.1:", "the port must be a number"),
        (":50051", "the port is required"),
        ("127.0.0.1:0", "from 1 to 65535"),
        ("127.0.0.1:65536", "from 1 to 65535"),
        ("127.0.0.1:grpc", "the port must be a number"),
        ("::1:50051", "needs brackets"),
        ("[::1]50051", r"expected \[IPv6\]:PORT"),
        ("[127.0.0.1]:1", r"expected \[IPv6\]:PORT"),
        ("[::1:1", r"expected \[IPv6\]:PORT"),
        ("bad host:1", "neither an IP address nor a host name"),
        ("a..b:1", "neither an IP address nor a host name"),
        ("-gw.example:1", "neither an IP address nor a host name"),
        ("127.0.0.1:1,,127.0.0.1:2", "empty address"),
        ("127.0.0.1:1,", "empty address"),
        ("127.0.0.1:1,dns:///gw:1", "a gRPC target URI stands alone"),
    ],
)
def test_bad_addresses_are_refused_with_a_clear_message(address: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        channel_target(address)
    with pytest.raises(ValueError, match=message):  # before any channel exists
        GatewayClient.connect(address, terminal_id="desk-01", plaintext=True)


def test_split_addresses() -> None:
    assert [str(e) for e in split_addresses("10.0.0.1:1, [::1]:2,gw.example:3")] == [
        "10.0.0.1:1",
        "[::1]:2",
        "gw.example:3",
    ]
    assert parse_host_port("[fe80::1]:5").host == "fe80::1"
    with pytest.raises(ValueError, match="target URI"):
        split_addresses("dns:///gw.example:443")


def test_service_config_resends_only_what_is_safe() -> None:
    config = service_config()
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    assert config["healthCheckConfig"] == {"serviceName": ""}
    by_code: dict[str, set[str]] = {}
    for entry in config["methodConfig"]:
        for code in entry["retryPolicy"]["retryableStatusCodes"]:
            by_code.setdefault(code, set()).update(n["method"] for n in entry["name"])
    assert by_code == {
        # shed before a challenge was issued (Begin, in overload mode) or consumed (Verify)
        "RESOURCE_EXHAUSTED": {"BeginVerification", "Verify"},
        "UNAVAILABLE": {"BeginVerification", "GetAttestationKeys", "VerifyAuditChain"},
    }
    names = [n["method"] for entry in config["methodConfig"] for n in entry["name"]]
    assert len(names) == len(set(names))  # gRPC takes one policy per method
    no_shed = service_config(retry_shed=False, load_balancing="pick_first")
    assert no_shed["loadBalancingConfig"] == [{"pick_first": {}}]
    assert all(n["method"] != "Verify" for entry in no_shed["methodConfig"] for n in entry["name"])
    assert all(
        "RESOURCE_EXHAUSTED" not in entry["retryPolicy"]["retryableStatusCodes"]
        for entry in no_shed["methodConfig"]
    )
    with pytest.raises(ValueError, match="load_balancing"):
        service_config(load_balancing="grpclb")


# --- against the real gateway -------------------------------------------------------------------


def test_checks_complete_when_one_listed_replica_is_dead(deployment: Deployment) -> None:
    d = deployment
    address = f"127.0.0.1:{dead_port()},{d.running.address}"
    with GatewayClient.local("clean-desk", home=d.home, address=address, timeout_s=30) as client:
        for _ in range(4):
            result = desk_check(d, client)
            assert result.decision == "ACCEPTED", result.reasons
        assert "keys" in json.loads(client.attestation_keys())
    # pick_first (the counter's one-replica channel) moves past the dead first entry too
    with GatewayClient.local(
        "clean-desk", home=d.home, address=address, timeout_s=30, load_balancing="pick_first"
    ) as client:
        assert desk_check(d, client).decision == "ACCEPTED"


def test_a_replica_whose_health_is_not_serving_gets_no_calls(deployment: Deployment) -> None:
    """Client-side health checking. The other replica is a server with the standard health service
    only (and the dev server certificate): a call routed to it would fail UNIMPLEMENTED. While its
    health says NOT_SERVING no call goes there; once SERVING, round robin includes it."""
    d = deployment
    server = grpc.server(futures.ThreadPoolExecutor(4))
    status = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(status, server)
    status.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    port = server.add_secure_port("127.0.0.1:0", server_credentials(d.home / "pki"))
    server.start()
    try:
        address = f"127.0.0.1:{port},{d.running.address}"
        with GatewayClient.local("desk-01", home=d.home, address=address, timeout_s=10) as client:
            for _ in range(8):
                assert "keys" in json.loads(client.attestation_keys())
            status.set("", health_pb2.HealthCheckResponse.SERVING)
            codes: set[str] = set()
            deadline = time.monotonic() + 10
            while "UNIMPLEMENTED" not in codes and time.monotonic() < deadline:
                try:
                    client.attestation_keys()
                except GatewayError as exc:
                    codes.add(exc.code)
            assert codes == {"UNIMPLEMENTED"}
    finally:
        server.stop(0)


def test_a_list_of_dead_replicas_only_is_unavailable(deployment: Deployment) -> None:
    address = f"127.0.0.1:{dead_port()},127.0.0.1:{dead_port()}"
    client = GatewayClient.local("clean-desk", home=deployment.home, address=address, timeout_s=10)
    with client, pytest.raises(GatewayError) as err:
        client.attestation_keys()
    assert err.value.code == "UNAVAILABLE"


def test_mixed_families_verify_the_dev_certificate_name(deployment: Deployment) -> None:
    """[::1] (dead) and 127.0.0.1 (live): an ipv6: target, 127.0.0.1 IPv4-mapped, the server's
    certificate checked against "localhost" (its DNS SAN)."""
    d = deployment
    address = f"[::1]:{dead_port('::1')},{d.running.address}"
    assert channel_target(address).authority == "localhost"
    with GatewayClient.local("clean-desk", home=d.home, address=address, timeout_s=30) as client:
        assert desk_check(d, client).decision == "ACCEPTED"


def test_one_dns_name(deployment: Deployment) -> None:
    port = deployment.running.address.rsplit(":", 1)[1]
    with GatewayClient.local("desk-01", home=deployment.home, address=f"localhost:{port}") as client:
        assert "keys" in json.loads(client.attestation_keys())


def test_gateway_json_may_list_several_addresses(deployment: Deployment, tmp_path: Path) -> None:
    """A home whose gateway.json names a dead and the live replica ("addresses"); and a home with
    certificates but no gateway.json, reached with an explicit address."""
    d = deployment
    listed = tmp_path / "listed"
    listed.mkdir()
    (listed / "pki").symlink_to(d.home / "pki")
    (listed / "gateway.json").write_text(
        json.dumps({"addresses": [f"127.0.0.1:{dead_port()}", d.running.address], "plaintext": False})
    )
    with GatewayClient.local("desk-01", home=listed) as client:
        assert "keys" in json.loads(client.attestation_keys())
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "pki").symlink_to(d.home / "pki")
    with pytest.raises(FileNotFoundError, match=r"gateway\.json is missing"):
        GatewayClient.local("desk-01", home=bare)
    with GatewayClient.local("desk-01", home=bare, address=d.running.address) as client:
        assert "keys" in json.loads(client.attestation_keys())


def test_cli_commands_take_an_address_list(deployment: Deployment) -> None:
    d = deployment
    card = d.card("obama")
    dead = f"127.0.0.1:{dead_port()}"
    address = f"{dead},{d.running.address}"
    runner = CliRunner()
    frames = [arg for photo in live_photos(d, card) for arg in ("--frame", str(photo))]
    checkin = runner.invoke(
        main,
        [
            *("checkin", "--card", str(card), *frames, "--terminal", "clean-desk"),
            *("--home", str(d.home), "--address", address, "--json"),
        ],
    )
    assert checkin.exit_code == 0, checkin.output
    assert json.loads(checkin.stdout)["decision"] == "ACCEPTED"

    audit = runner.invoke(main, ["admin", "audit", "--home", str(d.home), "--address", address])
    assert audit.exit_code in (0, 1), audit.output  # 1: another test broke the chain on purpose
    assert "record_count" in json.loads(audit.stdout)

    # Trust anchors are shared through the database: loaded once, through whichever replica is up
    # (the list mixes families, so the certificate is checked against its one name, "localhost").
    dead6 = f"[::1]:{dead_port('::1')}"
    trust = runner.invoke(
        main, ["admin", "trust", "--home", str(d.home), "--address", f"{dead6},{d.running.address}"]
    )
    assert trust.exit_code == 0, trust.output
    assert json.loads(trust.stdout)["csca_added"] == 0

    bad = runner.invoke(main, ["admin", "audit", "--home", str(d.home), "--address", "::1:50051"])
    assert bad.exit_code == 2 and "needs brackets" in bad.stderr
