"""Keys for a cluster: secrets live in the database, wrapped by a master key that each replica gets
from its environment; the database never holds them in the clear.

The first replica (`--init-cluster`) creates the cluster: a cluster id, the three secrets (template
encryption key, audit HMAC key, attestation signing key), each wrapped with AES-256-GCM under a key
derived from the master key (HKDF-SHA256) with the secret's name as associated data, a check value
that recognises the master key, and the configuration every replica must share. Later replicas join:
a wrong master key or a different configuration refuses the start with one line saying why.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bhytgate.storage.interface import ClusterRecord
from bhytgate.storage.sql import SqlStore

if TYPE_CHECKING:
    from bhytgate.service.config import GatewayConfig

MASTER_KEY_ENV = "BHYTGATE_MASTER_KEY"
SECRET_NAMES = ("template_key", "audit_key", "attestation_key")


class ClusterError(Exception):
    """Why this replica cannot serve this cluster, in one line for the operator."""


@dataclasses.dataclass(frozen=True)
class ClusterKeys:
    cluster_id: str
    template_key: bytes
    audit_key: bytes
    attestation_key: ec.EllipticCurvePrivateKey


def read_master_key(path: Path | None) -> bytes | None:
    """The master key: 64 hex characters, from the file or else $BHYTGATE_MASTER_KEY; None if neither."""
    if path is not None:
        try:
            text = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ClusterError(f"master key file {path} unreadable: {type(exc).__name__}") from None
        source = str(path)
    elif os.environ.get(MASTER_KEY_ENV):
        # Taken out of the environment: child processes (face workers) do not inherit it.
        text, source = os.environ.pop(MASTER_KEY_ENV).strip(), f"${MASTER_KEY_ENV}"
    else:
        return None
    if len(text) != 64 or any(ch not in "0123456789abcdefABCDEF" for ch in text):
        raise ClusterError(f"master key in {source} must be 64 hexadecimal characters (32 bytes)")
    return bytes.fromhex(text)


def new_master_key_file(path: Path) -> None:
    """For `make cluster` and operators: a fresh master key in a 0600 file (never overwritten)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(32) + "\n")


def _wrapping_key(master: bytes, cluster_id: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=cluster_id.encode(), info=b"bhytgate-cluster-wrap-v1"
    ).derive(master)


def _check_value(master: bytes, cluster_id: str) -> str:
    return hmac.new(master, b"bhytgate-cluster-check-v1:" + cluster_id.encode(), hashlib.sha256).hexdigest()


def _wrap(master: bytes, cluster_id: str, name: str, secret: bytes) -> tuple[str, bytes, bytes]:
    nonce = os.urandom(12)
    aad = f"{cluster_id}:{name}".encode()
    return name, nonce, AESGCM(_wrapping_key(master, cluster_id)).encrypt(nonce, secret, aad)


def _unwrap(master: bytes, cluster_id: str, name: str, nonce: bytes, blob: bytes) -> bytes:
    try:
        return AESGCM(_wrapping_key(master, cluster_id)).decrypt(nonce, blob, f"{cluster_id}:{name}".encode())
    except InvalidTag:
        raise ClusterError(f"cluster secret {name} does not unwrap with this master key") from None


def shared_config(values: dict[str, Any]) -> str:
    """Canonical JSON of the settings every replica must agree on."""
    return json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)


def _differences(mine: str, theirs: str) -> list[str]:
    a, b = json.loads(mine), json.loads(theirs)
    out: list[str] = []

    def walk(x: Any, y: Any, path: str) -> None:
        if isinstance(x, dict) and isinstance(y, dict):
            for key in sorted(set(x) | set(y)):
                walk(x.get(key), y.get(key), f"{path}.{key}" if path else key)
        elif x != y:
            out.append(f"{path} (here {x!r}, cluster {y!r})")

    walk(a, b, "")
    return out


@dataclasses.dataclass(frozen=True)
class GatewayKeys:
    template_key: bytes
    audit_key: bytes
    attestation_key: ec.EllipticCurvePrivateKey
    cluster_id: str | None  # None: a single gateway with its keys in <home>/keys


def open_store_with_keys(config: GatewayConfig) -> tuple[SqlStore, GatewayKeys]:
    """The store and the gateway's secrets, from the cluster when a master key is given.

    A PostgreSQL database is meant to be shared by replicas, so it needs a master key: a replica
    never invents secrets of its own that the others would not have."""
    from bhytgate.attestation import load_or_create_key
    from bhytgate.service.config import load_or_create_secret, shared_settings
    from bhytgate.storage import is_postgres, open_store

    master = read_master_key(config.master_key_file)
    if master is None:
        if is_postgres(config.db_url):
            raise ClusterError(
                "a PostgreSQL database is shared by replicas, so the secrets come from the cluster: give"
                f" --master-key-file FILE or ${MASTER_KEY_ENV} (and --init-cluster on the first replica)"
            )
        keys = config.keys_dir
        template = load_or_create_secret(keys / "template.key")
        local = GatewayKeys(
            template,
            load_or_create_secret(keys / "audit.key"),
            load_or_create_key(keys / "attestation.pem"),
            None,
        )
        return open_store(config.db_url, template_key=template), local
    if config.plaintext:
        raise ClusterError(
            "a cluster replica never runs --plaintext (it would serve the shared database unauthenticated)"
        )
    store = open_store(config.db_url, template_key=None)
    try:
        joined = join_cluster(
            store, master, shared_config(shared_settings(config)), initialise=config.init_cluster
        )
    except BaseException:
        store.close()
        raise
    store.use_template_key(joined.template_key)
    return store, GatewayKeys(
        joined.template_key, joined.audit_key, joined.attestation_key, joined.cluster_id
    )


def join_cluster(store: SqlStore, master: bytes, config: str, *, initialise: bool) -> ClusterKeys:
    """Initialise the cluster (first replica) or join it; raises ClusterError with the reason."""
    record = store.cluster_record()
    if record is None:
        if not initialise:
            raise ClusterError(
                "this database holds no cluster yet: start the first replica with --init-cluster"
            )
        cluster_id = uuid.uuid4().hex
        attestation = ec.generate_private_key(ec.SECP256R1())
        pem = attestation.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        wrapped = [
            _wrap(master, cluster_id, "template_key", secrets.token_bytes(32)),
            _wrap(master, cluster_id, "audit_key", secrets.token_bytes(32)),
            _wrap(master, cluster_id, "attestation_key", pem),
        ]
        record = store.init_cluster(
            ClusterRecord(cluster_id, dt.datetime.now(dt.UTC), _check_value(master, cluster_id), config),
            wrapped,
        )
    if not hmac.compare_digest(record.master_check, _check_value(master, record.cluster_id)):
        raise ClusterError(f"the master key does not match cluster {record.cluster_id[:12]}'s")
    if record.config != config:
        diff = _differences(config, record.config)
        raise ClusterError(
            f"configuration differs from cluster {record.cluster_id[:12]}'s: " + "; ".join(diff[:5])
        )
    values: dict[str, bytes] = {}
    for name in SECRET_NAMES:
        found = store.cluster_secret(name)
        if found is None:
            raise ClusterError(f"cluster {record.cluster_id[:12]} has no {name}")
        values[name] = _unwrap(master, record.cluster_id, name, *found)
    key = serialization.load_pem_private_key(values["attestation_key"], password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return ClusterKeys(record.cluster_id, values["template_key"], values["audit_key"], key)
