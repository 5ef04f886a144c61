"""The face pool and the gateway a server is made of, built from its configuration: the one
construction `server.py` uses, and the load bench's in-process floor (benchmarks/load/inproc.py)."""

from __future__ import annotations

from typing import Any

from bhytgate.service.admission import AdmissionPolicy
from bhytgate.service.cluster import GatewayKeys
from bhytgate.service.config import GatewayConfig
from bhytgate.service.gateway import Gateway
from bhytgate.service.state import DocumentLock
from bhytgate.service.trust import TrustAnchors
from bhytgate.service.workers import FacePool
from bhytgate.storage.sql import SqlStore


def build_pool(config: GatewayConfig) -> FacePool:
    """The face workers (not started), sized and admitted as configured."""
    return FacePool(
        config.face,
        workers=config.workers,
        queue_limit=config.queue_limit,
        nice=config.worker_nice,
        admission=AdmissionPolicy(
            deadline_fraction=config.admission_deadline_fraction,
            max_wait_s=config.admission_max_wait_s,
            overload_interval_s=config.admission_overload_interval_s,
            overload_target_jobs=config.admission_overload_target_jobs,
            overload_wait_jobs=config.admission_overload_wait_jobs,
        ),
    )


def build_gateway(
    config: GatewayConfig,
    store: SqlStore,
    trust: TrustAnchors,
    pool: FacePool,
    keys: GatewayKeys,
    doc_lock: DocumentLock | None,
    metrics: Any | None = None,
) -> Gateway:
    """The gateway over an open store, its trust anchors and a face pool, signing with `keys`."""
    return Gateway(
        config,
        store,
        trust,
        pool,
        attestation_key=keys.attestation_key,
        audit_key=keys.audit_key,
        doc_lock=doc_lock,
        metrics=metrics,
    )
