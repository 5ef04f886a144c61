"""Build and run the grpc.aio server: storage, trust anchors, face workers, gateway, servicers.

The face workers are spawned and their models loaded before the server binds its port, so the
first request never pays for model loading and a half-started gateway never accepts calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
from pathlib import Path

import grpc
import grpc.aio
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.attestation import load_or_create_key
from bhytgate.pki.devca import server_credentials
from bhytgate.service.config import GatewayConfig, load_or_create_secret
from bhytgate.service.gateway import Gateway
from bhytgate.service.metrics import Metrics
from bhytgate.service.servicer import AdminServicer, CounterServicer, VerificationServicer
from bhytgate.service.trust import TrustAnchors
from bhytgate.service.wire import RequestLimits, add_services
from bhytgate.service.workers import FacePool
from bhytgate.storage import open_store

log = logging.getLogger("bhytgate.server")
MAX_MESSAGE = 64 * 1024 * 1024


@dataclasses.dataclass
class RunningGateway:
    server: grpc.aio.Server
    gateway: Gateway
    pool: FacePool
    address: str
    port: int
    metrics: Metrics
    worker_pids: list[int]

    async def stop(self, grace: float = 2.0) -> None:
        await self.server.stop(grace)
        await self.gateway.drain()  # records of checks whose callers hung up, before the store closes
        await self.pool.close()
        self.gateway.store.close()


async def start_gateway(config: GatewayConfig, *, write_info: bool = True) -> RunningGateway:
    home = config.home
    home.mkdir(parents=True, exist_ok=True)
    keys = config.keys_dir
    template_key = load_or_create_secret(keys / "template.key")
    audit_key = load_or_create_secret(keys / "audit.key")
    attestation_key = load_or_create_key(keys / "attestation.pem")
    store = open_store(config.db_url, template_key=template_key)
    trust = TrustAnchors(config.trust_dir)
    pool = FacePool(
        config.face, workers=config.workers, queue_limit=config.queue_limit, nice=config.worker_nice
    )
    pids = await pool.start()
    metrics = Metrics()
    metrics.track_pool(pool)
    gateway = Gateway(
        config, store, trust, pool, attestation_key=attestation_key, audit_key=audit_key, metrics=metrics
    )
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", RequestLimits.from_config(config).largest),
            ("grpc.max_send_message_length", MAX_MESSAGE),
        ]
    )
    add_services(
        server,
        VerificationServicer(gateway, config, metrics),
        CounterServicer(gateway, config, metrics),
        AdminServicer(gateway, config, metrics),
        RequestLimits.from_config(config),
    )
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    services = [
        pb.DESCRIPTOR.services_by_name[name].full_name
        for name in ("VerificationService", "CounterService", "AdminService")
    ]
    reflection.enable_server_reflection([*services, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    if config.plaintext:
        host = config.listen.rsplit(":", 1)[0].strip("[]")
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("plaintext mode listens on loopback only (127.0.0.1, ::1 or localhost)")
        port = server.add_insecure_port(config.listen)
    else:
        port = server.add_secure_port(config.listen, server_credentials(config.pki_dir))
    if port == 0:
        raise RuntimeError(f"could not bind {config.listen}")
    await server.start()
    for name in ["", *services]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    host = config.listen.rsplit(":", 1)[0]
    address = f"{host}:{port}"
    if config.metrics_port is not None:
        metrics.serve(config.metrics_port)
    if write_info:
        info = {
            "address": address,
            "plaintext": config.plaintext,
            "pid": os.getpid(),
            "database": config.db_url,
            "pki": str(config.pki_dir),
            "trust": str(config.trust_dir),
            "metrics_port": config.metrics_port,
            "workers": len(pids),
        }
        (home / "gateway.json").write_text(json.dumps(info, indent=2))
    log.info("gateway listening on %s with %d face workers", address, len(pids))
    return RunningGateway(server, gateway, pool, address, port, metrics, pids)


async def serve_forever(config: GatewayConfig, *, on_ready: object | None = None) -> None:
    running = await start_gateway(config)
    if callable(on_ready):
        on_ready(running)
    try:
        await running.server.wait_for_termination()
    finally:
        await running.stop()
        info = config.home / "gateway.json"
        if info.exists():
            info.unlink()


def run(config: GatewayConfig, *, on_ready: object | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(config, on_ready=on_ready))


__all__ = ["Path", "RunningGateway", "run", "start_gateway"]
