"""Prometheus metrics: decisions by outcome and reason, stage latencies, queue depth."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server

if TYPE_CHECKING:
    from bhytgate.service.gateway import VerifyResult

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "bhytgate_decisions", "Verification decisions", ["outcome"], registry=self.registry
        )
        self.reasons = Counter("bhytgate_decision_reasons", "Reasons given", ["code"], registry=self.registry)
        self.stage_seconds = Histogram(
            "bhytgate_stage_seconds",
            "Server time per stage",
            ["stage"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.shed = Counter("bhytgate_shed", "Calls refused with RESOURCE_EXHAUSTED", registry=self.registry)
        self.queue_depth = Gauge(
            "bhytgate_queue_depth", "Checks waiting for a face worker", registry=self.registry
        )
        self.inflight = Gauge("bhytgate_inflight", "Checks admitted and not finished", registry=self.registry)
        self.work = Gauge(
            "bhytgate_face_work_in_flight",
            "Admitted face work, in average checks (admission: service/admission.py)",
            registry=self.registry,
        )
        self.overload = Gauge(
            "bhytgate_admission_overload",
            "1 while admission is in overload mode (a standing face queue: the short budget applies)",
            registry=self.registry,
        )
        self.overload_entries = Gauge(
            "bhytgate_admission_overload_entries",
            "Times admission entered overload mode since the gateway started",
            registry=self.registry,
        )

    def observe_decision(self, result: VerifyResult) -> None:
        self.decisions.labels(result.outcome.value).inc()
        for reason in result.reasons:
            self.reasons.labels(reason.code).inc()
        for stage, millis in result.timings:
            self.stage_seconds.labels(stage).observe(millis / 1000)

    def track_pool(self, pool: Any) -> None:
        self.queue_depth.set_function(lambda: float(pool.queue_depth))
        self.inflight.set_function(lambda: float(pool.inflight))
        self.work.set_function(lambda: float(getattr(pool, "work_in_flight", pool.inflight)))
        self.overload.set_function(lambda: float(getattr(pool, "overloaded", False)))
        standing = getattr(pool, "standing", None)
        self.overload_entries.set_function(lambda: float(getattr(standing, "entered", 0)))

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        self._http: WSGIServer | None = start_http_server(port, addr=addr, registry=self.registry)[0]

    def stop(self) -> None:
        """Close the metrics port (a gateway that stops, or could not start, leaves it free)."""
        http = getattr(self, "_http", None)
        if http is not None:
            self._http = None
            http.shutdown()
            http.server_close()
