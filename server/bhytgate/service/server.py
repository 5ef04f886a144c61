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
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import grpc.aio
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.console.site import ConsoleSite, start_console
from bhytgate.pki.devca import server_credentials
from bhytgate.service.admin_servicer import AdminServicer
from bhytgate.service.assembly import build_gateway, build_pool
from bhytgate.service.binding import bind, check_listen, hold_sqlite
from bhytgate.service.call_limit import CallLimit
from bhytgate.service.checkpointer import CheckpointKeeper
from bhytgate.service.cluster import GatewayKeys, open_store_with_keys
from bhytgate.service.config import GatewayConfig
from bhytgate.service.counter_rpcs import CounterServicer
from bhytgate.service.gateway import Gateway
from bhytgate.service.metrics import Metrics
from bhytgate.service.registration_servicer import RegistrationServicer, add_registration_service
from bhytgate.service.review_servicer import ReviewServicer
from bhytgate.service.revocation import REFRESH_S as REVOCATION_REFRESH_S
from bhytgate.service.state import DocumentLock, PostgresDocumentLock, TerminalKeys
from bhytgate.service.trust import TrustAnchors
from bhytgate.service.verification_servicer import VerificationServicer
from bhytgate.service.wire import RequestBudget, RequestLimits, add_services
from bhytgate.service.workers import FacePool
from bhytgate.storage import StoreUnavailable, is_postgres
from bhytgate.storage.sql import SqlStore

log = logging.getLogger("bhytgate.server")
MAX_MESSAGE = 64 * 1024 * 1024
DRAIN_TIMEOUT = 30.0  # seconds the records of stopped checks get to be written at shutdown


@dataclasses.dataclass
class RunningGateway:
    server: grpc.aio.Server
    gateway: Gateway
    pool: FacePool
    address: str
    port: int
    metrics: Metrics
    worker_pids: list[int]
    health: health_aio.HealthServicer | None = None
    sweeper: asyncio.Future[None] | None = None
    housekeeper: asyncio.Future[None] | None = None
    revocations: asyncio.Future[None] | None = None
    checkpoints: CheckpointKeeper | None = None  # the gateway's own audit checkpoints
    checkpointer: asyncio.Future[None] | None = None
    console: ConsoleSite | None = None
    requests: RequestBudget | None = None  # the bytes of requests the handlers hold at once
    calls: CallLimit | None = None  # the gateway's calls in their handlers
    serving_lock: int | None = None  # the SQLite database's (see binding.hold_sqlite)

    async def stop(self, grace: float = 2.0, *, drain_timeout: float = DRAIN_TIMEOUT) -> None:
        """Drain and stop: health NOT_SERVING, no new calls (grpc refuses them from here on), the
        calls in flight get `grace` seconds and are then cancelled; every record still being
        written (a cancelled check leaves one) is written; the face workers stop (within
        `FacePool.stop_timeout`, killed beyond it); the store closes."""
        if self.health is not None:
            await self.health.enter_graceful_shutdown()
        if self.console is not None:
            await self.console.stop()
        await self.server.stop(grace)
        for task in (self.sweeper, self.housekeeper, self.revocations, self.checkpointer):
            if task is not None:
                task.cancel()
        # grpc.aio returns once the cancelled handlers have ended (a cancelled check has then
        # started writing its record, see Recorder.finish); a few loop turns in case one has not.
        for _ in range(3):
            await asyncio.sleep(0)
        drain = asyncio.ensure_future(self.gateway.drain())
        # Not wait_for: a timeout must not cancel the records being written.
        done, _ = await asyncio.wait([drain], timeout=drain_timeout)
        if not done:
            log.error("records still being written after %.0f s; closing anyway", drain_timeout)
        if self.checkpoints is not None:  # the last records written pinned before the store closes
            await self.checkpoints.take_logged()
        await self.gateway.doc_lock.close()
        await self.pool.close()
        self.metrics.stop()
        self.gateway.store.close()
        if self.serving_lock is not None:
            os.close(self.serving_lock)
            self.serving_lock = None


async def start_gateway(config: GatewayConfig, *, write_info: bool = True) -> RunningGateway:
    """Storage and keys (cluster or local) first, so a misconfigured replica stops before the
    models load; then the trust anchors, the orphan sweep, the face workers, the port."""
    if config.console_listen is not None and config.plaintext:
        raise ValueError("the console needs mTLS: it cannot run with --plaintext")
    check_listen(config.listen, "listen address")
    if config.console_listen is not None:
        check_listen(config.console_listen, "console address")
    limits = RequestLimits.from_config(config)
    largest = limits.largest
    if config.max_inflight_request_bytes < largest:
        raise ValueError(
            f"max_inflight_request_bytes {config.max_inflight_request_bytes} is under the largest"
            f" request a call may send ({largest} bytes)"
        )
    if config.max_concurrent_rpcs < 1:
        raise ValueError("max_concurrent_rpcs must be at least 1")
    for name, seconds, most in (
        ("handshake_timeout_s", config.handshake_timeout_s, 300),
        ("connection_idle_s", config.connection_idle_s, 86400),
    ):
        if not 1 <= seconds <= most:
            raise ValueError(f"{name} {seconds}: seconds from 1 to {most}")
    if config.claims_streams_per_terminal < 1:
        raise ValueError("claims_streams_per_terminal must be at least 1")
    if not 0 < config.claims_idle_s <= 3600:
        raise ValueError(f"claims_idle_s {config.claims_idle_s}: seconds, more than 0 and at most 3600")
    if not 0 <= config.checkpoint_interval_s <= 7 * 86400:
        every = config.checkpoint_interval_s
        raise ValueError(f"checkpoint_interval_s {every}: seconds from 0 (off) to 604800")
    if config.metrics_port is not None and not 0 <= config.metrics_port <= 65535:
        raise ValueError(f"metrics port {config.metrics_port}: a port is a number from 0 to 65535")
    home = config.home
    home.mkdir(parents=True, exist_ok=True)
    serving_lock = hold_sqlite(config.db_url)
    try:
        store, keys = open_store_with_keys(config)
    except BaseException:
        if serving_lock is not None:
            os.close(serving_lock)
        raise
    try:
        # Certificates now, not after the models load: a missing file stops the start at once.
        credentials = None if config.plaintext else server_credentials(config.pki_dir)
        trust = TrustAnchors(store, config.trust_dir)
        TerminalKeys(store).import_folder(config.terminal_keys_dir)
    except BaseException:
        store.close()
        if serving_lock is not None:
            os.close(serving_lock)
        raise
    doc_lock: DocumentLock | None = None
    if is_postgres(config.db_url):
        doc_lock = PostgresDocumentLock(config.db_url, config.document_lock_wait_s)
    try:
        gateway, metrics, pool, pids = await _start_workers(config, store, trust, keys, doc_lock)
    except BaseException:
        # Opened for this server: a start that fails here (the workers, the revocation list, the
        # orphan sweep) closes them, and gives the SQLite database back, so that the next start
        # in this process is not refused as "already served" by itself.
        await _close_each(
            [
                *([doc_lock.close] if doc_lock is not None else []),
                store.close,
                *([lambda: os.close(serving_lock)] if serving_lock is not None else []),
            ]
        )
        raise
    calls = CallLimit(
        config.max_concurrent_rpcs,
        receive_s=config.request_receive_s,
        receiving_per_peer=config.receiving_per_terminal,
        min_rate=config.request_min_rate_bytes_s,
        sizes=limits.per_method,
    )
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", largest),
            ("grpc.max_send_message_length", MAX_MESSAGE),
            # gRPC sets SO_REUSEPORT by default: a second gateway started on this port (another
            # home, another database) would then bind it too and silently take part of the
            # terminals' calls, its own audit chain and replay memory with them; and two servers
            # asking for port 0 can be handed one port (grpc/grpc#10755, seen here as tests of two
            # gateways run side by side reading each other's audit). Off: the port is ours alone.
            ("grpc.so_reuseport", 0),
            ("grpc.server_handshake_timeout_ms", int(config.handshake_timeout_s * 1000)),
            ("grpc.max_connection_idle_ms", int(config.connection_idle_s * 1000)),
        ],
        # Not gRPC's maximum_concurrent_rpcs: that counts each connected client's health Watch.
        interceptors=[calls],
    )
    requests = RequestBudget(config.max_inflight_request_bytes)
    add_services(
        server,
        VerificationServicer(gateway, config, metrics, requests=requests),
        CounterServicer(gateway, config, metrics, requests=requests),
        AdminServicer(gateway, config, metrics, requests=requests),
        limits,
        review=ReviewServicer(gateway, config, metrics, requests=requests),
    )
    add_registration_service(
        server, RegistrationServicer(gateway, config, metrics, requests=requests), limits
    )
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    services = [
        pb.DESCRIPTOR.services_by_name[name].full_name
        for name in (
            "VerificationService",
            "CounterService",
            "AdminService",
            "ReviewService",
            "RegistrationService",
        )
    ]
    reflection.enable_server_reflection([*services, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    console = None
    try:
        port = bind(server, config, credentials)
        await server.start()
        for name in ["", *services]:
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        if config.metrics_port is not None:
            try:
                metrics.serve(config.metrics_port)
            except OSError as exc:
                raise OSError(exc.errno, f"metrics port {config.metrics_port}: {exc.strerror}") from exc
        if config.console_listen is not None:
            try:
                console = await start_console(
                    gateway, config.console_listen, config.pki_dir, limits=config.console
                )
            except OSError as exc:  # a name that does not resolve said only "Name or service not known"
                reason = exc.strerror or str(exc)
                raise OSError(exc.errno, f"console address {config.console_listen}: {reason}") from exc
    except BaseException:
        # The workers and the store were opened for this server: a port it cannot have (in use,
        # not this machine's) stops them too, so that nothing is left running half-started. Each
        # step on its own: one that fails neither skips the others nor hides why the start failed.
        steps: list[Callable[[], Awaitable[None] | None]] = [
            lambda: server.stop(0),
            metrics.stop,
            pool.close,
            *([doc_lock.close] if doc_lock is not None else []),
            store.close,
            *([lambda: os.close(serving_lock)] if serving_lock is not None else []),
        ]
        await _close_each(steps)
        raise
    host = config.listen.rsplit(":", 1)[0]
    address = f"{host}:{port}"
    if write_info:
        info = {
            "address": address,
            "plaintext": config.plaintext,
            "pid": os.getpid(),
            "database": config.db_url.split("@")[-1] if "://" in config.db_url else config.db_url,
            "pki": str(config.pki_dir),
            "trust": str(config.trust_dir),
            "metrics_port": config.metrics_port,
            "workers": len(pids),
            "console": None if console is None else console.url,
        }
        (home / config.info_name).write_text(json.dumps(info, indent=2))
    log.info(
        "gateway listening on %s with %d face workers (%s)",
        address,
        len(pids),
        f"cluster {keys.cluster_id[:12]}" if keys.cluster_id else "single gateway",
    )
    running = RunningGateway(
        server,
        gateway,
        pool,
        address,
        port,
        metrics,
        pids,
        health_servicer,
        console=console,
        serving_lock=serving_lock,
        requests=requests,
        calls=calls,
    )
    running.sweeper = asyncio.ensure_future(_sweep_forever(gateway, config.orphan_sweep_s))
    running.housekeeper = asyncio.ensure_future(
        _housekeep_forever(gateway, config.privacy.retention.every.total_seconds())
    )
    running.revocations = asyncio.ensure_future(_reload_revocations_forever(gateway, REVOCATION_REFRESH_S))
    if config.checkpoint_interval_s > 0:
        keeper = running.checkpoints = CheckpointKeeper(gateway.admin, config.checkpoint_path)
        running.checkpointer = asyncio.ensure_future(keeper.run_forever(config.checkpoint_interval_s))
    return running


async def _start_workers(
    config: GatewayConfig,
    store: SqlStore,
    trust: TrustAnchors,
    keys: GatewayKeys,
    doc_lock: DocumentLock | None,
) -> tuple[Gateway, Metrics, FacePool, list[int]]:
    """The gateway and its face workers, once the store is open; the workers closed again if
    the gateway, the orphan sweep or their own start fails."""
    pool = build_pool(config)
    metrics = Metrics()
    try:
        gateway = build_gateway(config, store, trust, pool, keys, doc_lock, metrics=metrics)
        # Checks a killed process left without a record are recorded before this one serves.
        swept = await asyncio.to_thread(gateway.recorder.sweep_orphans)
        if swept:
            log.warning("recorded %d check(s) left unfinished by a stopped gateway", swept)
        pids = await pool.start()
    except BaseException:
        await _close_each([pool.close])
        raise
    metrics.track_pool(pool)
    return gateway, metrics, pool, pids


async def _close_each(steps: list[Callable[[], Awaitable[None] | None]]) -> None:
    """Each clean-up step on its own: one that fails neither skips the others nor hides why the
    start failed."""
    for step in steps:
        try:
            pending = step()
            if pending is not None:
                await pending
        except Exception:
            log.exception("clean-up after a failed start")


async def _reload_revocations_forever(gateway: Gateway, every_s: float) -> None:
    """Certificates another replica revoked are refused here within `every_s` (service/revocation.py)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await asyncio.to_thread(gateway.revoked.refresh)
        except StoreUnavailable:
            log.warning("revocation list not reloaded: database unavailable")
        except Exception as exc:  # the reload must never stop for good
            log.error("revocation list reload failed: %s", type(exc).__name__)


async def _housekeep_forever(gateway: Gateway, every_s: float) -> None:
    """Retention (service/housekeeper.py): at start, then every `every_s` seconds."""
    while True:
        try:
            counts = await asyncio.to_thread(gateway.housekeeper.run_once)
            if any(counts.values()):
                log.info("retention: deleted %s", ", ".join(f"{n} {k}" for k, n in counts.items() if n))
        except StoreUnavailable:
            log.warning("retention skipped: database unavailable")
        except Exception as exc:  # the housekeeper must never stop for good
            log.error("retention failed: %s", type(exc).__name__)
        await asyncio.sleep(every_s)


async def _sweep_forever(gateway: Gateway, every_s: float) -> None:
    """Any replica records what any stopped replica left unrecorded (the append decides who)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await asyncio.to_thread(gateway.recorder.sweep_orphans)
            await asyncio.to_thread(gateway.reviews.sweep_expired)
            await asyncio.to_thread(gateway.checkins.purge_if_due)  # expired QĐ 4750 records
        except StoreUnavailable:
            log.warning("orphan sweep skipped: database unavailable")
        except Exception as exc:  # the sweep must never stop for good
            log.error("orphan sweep failed: %s", type(exc).__name__)


async def serve_forever(config: GatewayConfig, *, on_ready: object | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then drain (see `RunningGateway.stop`) and return.

    The first signal starts the drain, bounded by `config.shutdown_grace_seconds` for the calls in
    flight; a second one kills the face workers and exits at once (status 128 + signal)."""
    running = await start_gateway(config)
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    received: list[signal.Signals] = []

    def force_exit(signum: int, _frame: object) -> None:
        # A plain handler, not the loop's: it runs even while the loop is busy.
        log.warning(
            "%s again: exiting now, without waiting for the checks in flight", signal.Signals(signum).name
        )
        running.pool.kill()
        os._exit(128 + signum)

    def on_signal(signum: signal.Signals) -> None:
        received.append(signum)
        log.info(
            "%s: shutting down (checks in flight get %.1f s; a second signal exits at once)",
            signum.name,
            config.shutdown_grace_seconds,
        )
        for sig in _STOP_SIGNALS:
            loop.remove_signal_handler(sig)
            signal.signal(sig, force_exit)
        stop_requested.set()

    previous = {sig: signal.getsignal(sig) for sig in _STOP_SIGNALS}
    handled: list[signal.Signals] = []
    for sig in _STOP_SIGNALS:
        try:
            loop.add_signal_handler(sig, on_signal, sig)
            handled.append(sig)
        except (ValueError, RuntimeError, NotImplementedError):  # not the main thread, or not POSIX
            log.debug("cannot handle %s here; stop the gateway some other way", sig.name)
    if callable(on_ready):
        on_ready(running)
    stopping = asyncio.ensure_future(stop_requested.wait())
    terminated = asyncio.ensure_future(running.server.wait_for_termination())
    try:
        await asyncio.wait([stopping, terminated], return_when=asyncio.FIRST_COMPLETED)
    finally:
        started = time.monotonic()
        stopping.cancel()
        # `terminated` is left alone: cancelling it would cancel grpc's own shutdown future.
        try:
            await running.stop(config.shutdown_grace_seconds)
            await asyncio.wait([terminated], timeout=1.0)
        finally:
            info = config.home / config.info_name
            if info.exists():
                info.unlink()
            for sig in handled:
                if not received:
                    loop.remove_signal_handler(sig)
                signal.signal(sig, previous[sig])
        log.info(
            "gateway stopped in %.2f s%s",
            time.monotonic() - started,
            f" ({received[0].name})" if received else "",
        )


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def run(config: GatewayConfig, *, on_ready: object | None = None) -> None:
    """Run the gateway until it is stopped; returns normally (exit status 0) after a drain."""
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C before the signal handlers are in place
        asyncio.run(serve_forever(config, on_ready=on_ready))


__all__ = ["Path", "RunningGateway", "run", "start_gateway"]
