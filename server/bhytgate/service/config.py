"""Gateway configuration: one frozen object built from defaults, gateway.toml and flags."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import os
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bhytgate.checkin.record import CheckinConfig
from bhytgate.chip import ChipPolicy
from bhytgate.chip.verify import chip_policy_from_settings
from bhytgate.console.settings import ConsoleLimits
from bhytgate.face import FaceConfig
from bhytgate.face.config import LivenessConfig
from bhytgate.household.config import HouseholdConfig
from bhytgate.policy.model import PolicyConfig
from bhytgate.privacy.policy import ConsentTerms, PrivacyConfig, RetentionPolicy
from bhytgate.registration.config import registration_config
from bhytgate.registration.model import RegistrationConfig


@dataclasses.dataclass(frozen=True)
class GatewayConfig:
    home: Path  # data folder: database, keys, trust anchors, dev PKI
    listen: str = "127.0.0.1:50051"
    plaintext: bool = False  # only with an explicit flag, for local tests: no terminal authentication
    database_url: str | None = None  # default: SQLite under home
    gateway_id: str = "bhytgate-dev"
    workers: int = dataclasses.field(default_factory=lambda: os.cpu_count() or 2)
    # Admission by expected completion (service/admission.py): a check is admitted when the face
    # work ahead of it, at the measured service rate, plus its own expected cost ends within
    # admission_deadline_fraction of the caller's remaining deadline and within
    # admission_max_wait_s (the bound on an accepted check's latency under overload); otherwise it
    # is shed at once with RESOURCE_EXHAUSTED. queue_limit bounds the face jobs that may wait
    # beyond the busy workers (each holds its frames in memory; measured: 12 rather than 32 cut the
    # refusals' p99 at 150% load from 756 to 125 ms and shed nothing more below capacity).
    admission_deadline_fraction: float = 0.75
    admission_max_wait_s: float = 2.0
    # Overload mode (CoDel's adaptive queue timeout): once, for admission_overload_interval_s,
    # every face job waited more than admission_overload_target_jobs average jobs for a worker and
    # no worker was idle, a check is admitted only if its face work ends within
    # admission_overload_wait_jobs average jobs (own cost included), until the queue drains.
    # Defaults measured in benchmarks/admission_sim.py and the full bench (service/admission.py).
    admission_overload_interval_s: float = 1.0
    admission_overload_target_jobs: float = 1.0
    admission_overload_wait_jobs: float = 5.0
    queue_limit: int = 12
    # CPU priority of the face workers below the main process (os.nice increment; 0 disables).
    worker_nice: int = 5
    challenge_ttl: dt.timedelta = dt.timedelta(minutes=2)
    attestation_ttl: dt.timedelta = dt.timedelta(days=7)
    # A REVIEW opens a case; unresolved this long (a desk check-in: the patient is waiting) it
    # expires and says so. gateway.toml: review_ttl = seconds.
    review_ttl: dt.timedelta = dt.timedelta(minutes=30)
    # A child's check-in may name a guardian's ACCEPTED verification at the same terminal this
    # recent, for a holder under guardian_max_age_years whose card has no face image.
    guardian_window: dt.timedelta = dt.timedelta(minutes=15)
    guardian_max_age_years: int = 6
    guardian_max_children: int = 4  # per guardian verification (policy.guardian.GuardianRule)
    max_frames: int = 12  # a liveness burst needs 3-8; each frame is decoded in a worker
    max_check_seconds: float = 20.0  # a face job running longer is abandoned (INTERNAL_CHECK_UNAVAILABLE)
    # On SIGTERM/SIGINT the server refuses new calls at once and gives the checks in flight this
    # long to finish; those still running are then cancelled (and recorded as not completed).
    shutdown_grace_seconds: float = 10.0
    begin_rate_per_minute: int = 60  # BeginVerification per terminal; more is RESOURCE_EXHAUSTED
    # Chips whose EF.SOD has no DG15 cannot prove they are genuine: refused unless this is False.
    # Chips that list DG15 must always answer the Active Authentication challenge.
    require_active_authentication: bool = True
    max_frame_bytes: int = 4 * 1024 * 1024
    max_chip_file_bytes: int = 1024 * 1024
    # Memory for requests, whatever their number: one call is bounded by its method's size limit
    # (service/wire.py), but 24 concurrent 55 MB Verify calls held 1.6 GB (attack run, 2026-12-02).
    # At most this many of the gateway's calls at once (service/call_limit.py; the health service's
    # Watch streams, one per connected client, are not counted), and the requests the handlers hold
    # at once at most this many bytes (RESOURCE_EXHAUSTED, retry after a second, beyond either).
    max_concurrent_rpcs: int = 64
    max_inflight_request_bytes: int = 256 * 1024 * 1024
    # A unary request must have arrived this long after its call began, and at most this many of
    # one client certificate may be arriving at once (service/call_limit.py): gRPC holds a request
    # that stops short of its declared length for as long as its connection stays open.
    request_receive_s: float = 30.0
    request_min_rate_bytes_s: int = 256 * 1024  # a large request gets its size at this rate more
    # A connection must finish its TLS handshake within this (gRPC's default, 120 s, let an
    # unauthenticated socket that sends nothing hold a file descriptor for two minutes), and one
    # with no call for connection_idle_s is closed (a client reconnects when it next calls).
    handshake_timeout_s: float = 20.0
    connection_idle_s: float = 600.0
    receiving_per_terminal: int = 4
    # ReconcileClaims (one 1 GiB file may take minutes): at most this many streams of one terminal
    # at once on a replica, and each closed when the caller sends nothing for this long: 64
    # half-open streams of one admin took every call slot (attack run, 2026-12-02).
    claims_streams_per_terminal: int = 4
    claims_idle_s: float = 30.0
    # The gateway's own audit checkpoints (service/checkpointer.py, [audit] in gateway.toml): at
    # start, this often and at stop, one JSON line appended to checkpoint_file (default
    # <home>/audit-checkpoints.jsonl; point it where whoever can write the database cannot).
    # 0 turns them off.
    checkpoint_interval_s: float = 3600.0
    checkpoint_file: Path | None = None
    metrics_port: int | None = None
    # The officers' web console (HTTPS with the same mTLS as the gRPC port; reviewer/admin roles).
    console_listen: str | None = None
    console: ConsoleLimits = dataclasses.field(default_factory=ConsoleLimits)  # [console]
    # Cluster mode: secrets come from the database, wrapped by this master key (or $BHYTGATE_MASTER_KEY).
    master_key_file: Path | None = None
    init_cluster: bool = False  # the first replica creates the cluster; the others join it
    # A second check of one document waits this long for the first (then UNAVAILABLE).
    document_lock_wait_s: float = 5.0
    orphan_sweep_s: float = 30.0  # how often spent challenges without a record are looked for
    # A spent challenge counts as abandoned this long after max_check_seconds (clock skew, slow I/O).
    orphan_grace_s: float = 30.0
    info_name: str = "gateway.json"  # written into home once listening (several replicas: one each)
    face: FaceConfig = dataclasses.field(default_factory=FaceConfig)
    policy: PolicyConfig = dataclasses.field(default_factory=PolicyConfig)
    chip: ChipPolicy = dataclasses.field(default_factory=ChipPolicy)
    registration: RegistrationConfig = dataclasses.field(default_factory=RegistrationConfig)
    checkin: CheckinConfig = dataclasses.field(default_factory=CheckinConfig)  # [checkin] in gateway.toml
    household: HouseholdConfig = dataclasses.field(default_factory=HouseholdConfig)
    privacy: PrivacyConfig = dataclasses.field(default_factory=PrivacyConfig)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'gateway.db'}"

    @property
    def checkpoint_path(self) -> Path:
        """Where the gateway appends its checkpoints; a relative checkpoint_file is under home."""
        path = self.checkpoint_file or Path("audit-checkpoints.jsonl")
        return path if path.is_absolute() else self.home / path

    @property
    def trust_dir(self) -> Path:
        return self.home / "trust"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def pki_dir(self) -> Path:
        return self.home / "pki"

    @property
    def terminal_keys_dir(self) -> Path:
        """Registered terminal device keys (PEM), named <key_id>.pem."""
        return self.home / "terminal_keys"


def _plain(value: Any) -> Any:
    """JSON-ready copy of a settings value (dataclasses, mappings, enums, durations)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(getattr(k, "value", k)): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        items = [_plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, frozenset | set) else items
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value


# Chip settings added after clusters existed: left out while at their defaults, so a cluster
# initialised before them still matches its upgraded replicas; set, they must agree like the rest.
_LATER_PASSIVE_DEFAULTS = {"warn_only": [], "validity_time": "verification"}


def _chip_settings(chip: ChipPolicy) -> Any:
    plain = _plain(chip)
    passive = plain.get("passive", {})
    for key, default in _LATER_PASSIVE_DEFAULTS.items():
        if passive.get(key) == default:
            passive.pop(key, None)
    return plain


def _face_settings(config: GatewayConfig) -> Any:
    # Which runtime runs the embedding is each replica's own (the embeddings are the same). The
    # landmark model changes yaw and blink measures, so it is shared; clusters initialised before it
    # was a setting ran dlib's 68 points, so that value is left out and such a cluster still matches
    # replicas configured with landmarker = "ibug68" and its old limits.
    # Where the SFace file lies is each replica's own too (its content is checked by SHA-256;
    # second_matcher is shared). The detector is shared (it decides which faces are found, hence
    # the multiple-faces rule); clusters from before it ran HOG alone, so "hog" is left out too.
    plain = {k: v for k, v in _plain(config.face).items() if k not in ("embedder", "sface_model")}
    if plain.get("landmarker") == "ibug68":
        plain.pop("landmarker")
    if plain.get("detector") == "hog":
        plain.pop("detector")
    return plain


def shared_settings(config: GatewayConfig) -> dict[str, Any]:
    """The settings every replica of a cluster must agree on (the guarantees depend on them)."""
    return {
        "gateway_id": config.gateway_id,
        "policy": _plain(config.policy),
        "chip": _chip_settings(config.chip),
        "face": _face_settings(config),
        "require_active_authentication": config.require_active_authentication,
        "challenge_ttl_s": config.challenge_ttl.total_seconds(),
        "attestation_ttl_s": config.attestation_ttl.total_seconds(),
        "review_ttl_s": config.review_ttl.total_seconds(),
        "guardian_window_s": config.guardian_window.total_seconds(),
        "guardian_max_age_years": config.guardian_max_age_years,
        "begin_rate_per_minute": config.begin_rate_per_minute,
        "max_frames": config.max_frames,
        "max_frame_bytes": config.max_frame_bytes,
        "max_check_seconds": config.max_check_seconds,
        # The orphan sweep's bound (max_check_seconds + grace) must be the same on every replica:
        # a replica with a shorter one would record other replicas' running checks as abandoned.
        "orphan_grace_s": config.orphan_grace_s,
        "document_lock_wait_s": config.document_lock_wait_s,
        "registration": _plain(config.registration),
        # Premiums and validity must not depend on the replica; nor may what is deleted when.
        "household": _plain(config.household),
        "privacy": _plain(config.privacy),
    }


def _audit_section(section: Mapping[str, Any]) -> dict[str, Any]:
    """[audit]: checkpoint_interval_s (seconds, 0 = off) and checkpoint_file (a path)."""
    unknown = set(section) - {"checkpoint_interval_s", "checkpoint_file"}
    if unknown:
        raise ValueError(f"[audit]: unknown setting(s) {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    if "checkpoint_interval_s" in section:
        every = section["checkpoint_interval_s"]
        if isinstance(every, bool) or not isinstance(every, int | float) or not 0 <= every <= 86400 * 7:
            raise ValueError("[audit] checkpoint_interval_s: seconds from 0 (off) to 604800")
        out["checkpoint_interval_s"] = float(every)
    if "checkpoint_file" in section:
        path = section["checkpoint_file"]
        if not isinstance(path, str) or not path:
            raise ValueError("[audit] checkpoint_file: a path")
        out["checkpoint_file"] = Path(path)
    return out


def load_config(home: Path, **overrides: Any) -> GatewayConfig:
    """Defaults, then home/gateway.toml ([gateway], [face], [liveness], [policy], [household],
    [retention], [consent], [console], [audit]), then overrides."""
    values: dict[str, Any] = {}
    face: dict[str, Any] = {}
    liveness: dict[str, Any] = {}
    policy: dict[str, Any] = {}
    chip: dict[str, Any] | None = None
    checkin: dict[str, Any] = {}
    sections: dict[str, Any] = {}
    path = home / "gateway.toml"
    if path.exists():
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        values.update(data.get("gateway", {}))
        face.update(data.get("face", {}))
        liveness.update(data.get("liveness", {}))
        policy.update(data.get("policy", {}))
        if "registration" in data:
            values["registration"] = registration_config(data["registration"], home)
        chip = data.get("chip")
        checkin.update(data.get("checkin", {}))
        if "console" in data:
            values["console"] = ConsoleLimits.from_toml(data["console"])
        values.update(_audit_section(data.get("audit", {})))
        sections = {k: data.get(k, {}) for k in ("household", "retention", "consent")}
    for key in ("challenge_ttl", "attestation_ttl", "review_ttl", "guardian_window"):
        if key in values:
            values[key] = dt.timedelta(seconds=float(values[key]))
    for key in ("velocity_window", "mismatch_window", "mismatch_lock_duration"):
        if key in policy:
            policy[key] = dt.timedelta(seconds=float(policy[key]))
    if checkin:  # [checkin] durations in seconds
        values["checkin"] = CheckinConfig(**{k: dt.timedelta(seconds=float(v)) for k, v in checkin.items()})
    # Plaintext (no terminal authentication) comes only from an explicit flag, never from a file.
    values.pop("plaintext", None)
    values.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("master_key_file", "checkpoint_file"):
        if values.get(key) is not None:
            values[key] = Path(values[key])
    face_config = (
        FaceConfig(**face, liveness=LivenessConfig(**liveness)) if face or liveness else FaceConfig()
    )
    if chip is not None and "chip" not in values:
        # [chip]: warn_only, validity_time, require_crl, ... (immutable; shared by a cluster)
        values["chip"] = chip_policy_from_settings(chip)
    if sections:
        values.setdefault("household", HouseholdConfig.from_toml(sections["household"]))
        values.setdefault(
            "privacy",
            PrivacyConfig(
                ConsentTerms.from_toml(sections["consent"]),
                RetentionPolicy.from_toml(sections["retention"]),
            ),
        )
    return GatewayConfig(home=home, face=face_config, policy=PolicyConfig(**policy), **values)


def load_or_create_secret(path: Path, size: int = 32) -> bytes:
    """A random key kept in a 0600 file; created on first use."""
    if path.exists():
        data = path.read_bytes()
        if len(data) != size:
            raise ValueError(f"{path} holds {len(data)} bytes, expected {size}")
        return data
    path.parent.mkdir(parents=True, exist_ok=True)
    data = secrets.token_bytes(size)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return data
