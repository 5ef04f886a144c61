"""The state replicas share through the database, on both engines: sessions, fingerprints, rate
windows, trust items, terminal keys, the cluster's wrapped secrets, exactly-once audit records."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from bhytgate.audit.chain import AuditEvent, builder, verify_chain
from bhytgate.service.cluster import ClusterError, join_cluster, open_store_with_keys, read_master_key
from bhytgate.service.config import GatewayConfig
from bhytgate.storage import AlreadyRecorded, ChallengeRecord, Store, TemplateIntegrityError
from bhytgate.storage.sql import SqlStore

from .conftest import StoreFactory

T0 = dt.datetime(2026, 3, 3, 7, 30, tzinfo=dt.UTC)
KEY = b"h" * 32


def event(vid: str) -> AuditEvent:
    return AuditEvent(vid, T0, "ACCEPTED", "01001", "desk-01")


def challenge(cid: str) -> ChallengeRecord:
    return ChallengeRecord(
        cid, "desk-01", b"n" * 32, b"a" * 32, (), T0, T0 + dt.timedelta(minutes=2), facility="01001"
    )


def test_sessions_are_sealed_and_bound_to_their_row(store: Store) -> None:
    assert isinstance(store, SqlStore)
    store.put_session("v1", "desk-01", T0, b'{"secret": "chip photo"}')
    assert store.get_session("v1") == ("desk-01", T0, b'{"secret": "chip photo"}')
    assert store.get_session("nope") is None
    assert store.purge_sessions(T0 + dt.timedelta(seconds=1)) == 1


def test_exactly_one_record_per_challenge_and_per_record_id(store: Store) -> None:
    assert isinstance(store, SqlStore)
    store.issue_challenge(challenge("c1"))
    assert store.consume_challenge("c1", "desk-01", T0, facility="01001") != "replayed"
    assert [c.challenge_id for c in store.unrecorded_challenges(T0 + dt.timedelta(seconds=1))] == ["c1"]
    store.append_audit(builder(event("v1"), KEY), record_id="v1", challenge_id="c1")
    with pytest.raises(AlreadyRecorded):
        store.append_audit(builder(event("v2"), KEY), record_id="v2", challenge_id="c1")
    with pytest.raises(AlreadyRecorded):
        store.append_audit(builder(event("v1"), KEY), record_id="v1")
    assert store.unrecorded_challenges(T0 + dt.timedelta(seconds=1)) == []
    assert store.audit_record_exists("v1") and not store.audit_record_exists("v2")
    assert verify_chain(store.iter_audit()).ok
    # a recorded spent challenge may be purged; an unrecorded one is kept for the sweep
    store.issue_challenge(challenge("c2"))
    store.consume_challenge("c2", "desk-01", T0, facility="01001")
    assert store.purge_challenges(T0 + dt.timedelta(hours=1)) == 1
    assert [c.challenge_id for c in store.unrecorded_challenges(T0 + dt.timedelta(hours=1))] == ["c2"]


def test_fingerprints_rates_trust_and_terminal_keys(store: Store) -> None:
    assert isinstance(store, SqlStore)
    ids = store.add_fingerprints([(b"s" * 32, b"p" * 32), (b"t" * 32, b"q" * 32)], T0)
    assert ids == sorted(ids) and store.fingerprint_head() == ids[-1]
    assert [f.row_id for f in store.fingerprints_after(ids[0], T0)] == ids[1:]
    assert [store.hit_rate_window("begin:x", 7) for _ in range(3)] == [1, 2, 3]
    assert store.hit_rate_window("begin:y", 7) == 1
    assert store.add_trust_items([("csca", "ab" * 32, b"der")], T0) == 1
    assert store.add_trust_items([("csca", "ab" * 32, b"der")], T0) == 0
    assert store.trust_version() == (1, store.trust_items()[-1][0])
    store.put_terminal_key("kiosk-1", "01001", "PEM", T0)
    assert store.terminal_key("kiosk-1", "01001") == "PEM" and store.terminal_key("other", "01001") is None


def test_terminal_keys_are_per_terminal_and_facility(store: Store) -> None:
    """Terminal ids repeat across facilities: one facility's key never binds another's terminal."""
    assert isinstance(store, SqlStore)
    store.put_terminal_key("desk-01", "01001", "PEM-A", T0)
    assert store.terminal_key("desk-01", "01001") == "PEM-A"
    assert store.terminal_key("desk-01", "79014") is None  # B's desk-01: no key, A's is not B's
    store.put_terminal_key("desk-01", "79014", "PEM-B", T0)
    assert store.terminal_key("desk-01", "01001") == "PEM-A"  # B's registration did not replace A's
    assert store.terminal_key("desk-01", "79014") == "PEM-B"
    store.put_terminal_key("desk-01", "01001", "PEM-A2", T0)  # a rotation at A
    store.put_terminal_key("desk-01", "01001", "stale", T0, replace=False)  # a stale file: kept
    assert (store.terminal_key("desk-01", "01001"), store.terminal_key("desk-01", "79014")) == (
        "PEM-A2",
        "PEM-B",
    )


def test_sqlite_insert_or_replace_cannot_rewrite_an_audit_record(store_factory: StoreFactory) -> None:
    if store_factory.kind != "sqlite":
        pytest.skip("SQLite's conflict resolution only")
    store = store_factory.open()
    store.append_audit(builder(event("v1"), KEY))
    store.close()
    conn = sqlite3.connect(store._path)  # type: ignore[attr-defined]
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(
                "INSERT OR REPLACE INTO audit_log (seq, prev_hash, hash, body) VALUES (0, 'x', 'y', 'z')"
            )
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("REPLACE INTO audit_log (seq, prev_hash, hash, body) VALUES (0, 'x', 'y', 'z')")
        conn.rollback()
        assert conn.execute("SELECT body FROM audit_log WHERE seq = 0").fetchone()[0] != "z"
    finally:
        conn.close()


def _config(tmp_path: Path, url: str, master: Path, **kw: object) -> GatewayConfig:
    return GatewayConfig(home=tmp_path, database_url=url, master_key_file=master, **kw)  # type: ignore[arg-type]


def test_cluster_keys_init_join_and_refusals(tmp_path: Path) -> None:
    from bhytgate.service.cluster import new_master_key_file

    master, wrong = tmp_path / "m.key", tmp_path / "w.key"
    new_master_key_file(master)
    new_master_key_file(wrong)
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with pytest.raises(ClusterError, match="no cluster yet"):
        open_store_with_keys(_config(tmp_path, url, master))
    first, keys = open_store_with_keys(_config(tmp_path, url, master, init_cluster=True))
    first.put_face_template("001090000001", b"tpl", "m", "1", T0)
    first.close()
    again, joined = open_store_with_keys(_config(tmp_path, url, master))
    assert (joined.template_key, joined.audit_key, joined.cluster_id) == (
        keys.template_key,
        keys.audit_key,
        keys.cluster_id,
    )
    assert again.get_face_template("001090000001") is not None  # the same template key
    # secrets are never in the clear in the database
    raw = Path(tmp_path / "c.db").read_bytes()
    assert keys.template_key not in raw and keys.audit_key not in raw
    with pytest.raises(ClusterError, match="master key does not match"):
        join_cluster(again, read_master_key(wrong) or b"", "{}", initialise=False)
    with pytest.raises(ClusterError, match=r"configuration differs.*begin_rate_per_minute"):
        open_store_with_keys(_config(tmp_path, url, master, begin_rate_per_minute=5))
    again.close()
    with pytest.raises(ClusterError, match="PostgreSQL database is shared"):
        open_store_with_keys(GatewayConfig(home=tmp_path, database_url="postgresql://x@127.0.0.1:1/none"))
    bad = tmp_path / "bad.key"
    bad.write_text("not hex")
    with pytest.raises(ClusterError, match="64 hexadecimal"):
        read_master_key(bad)


def test_a_template_sealed_under_another_key_fails_integrity(store_factory: StoreFactory) -> None:
    store = store_factory.open()
    store.put_face_template("001090000001", b"tpl", "m", "1", T0)
    assert isinstance(store, SqlStore)
    store.use_template_key(b"z" * 32)
    with pytest.raises(TemplateIntegrityError):
        store.get_face_template("001090000001")


def _fp(seed: int) -> tuple[bytes, bytes]:
    import hashlib

    return hashlib.sha256(b"frame%d" % seed).digest(), hashlib.sha256(b"phash%d" % seed).digest()


def test_a_concurrent_pull_never_turns_a_check_against_its_own_frames(store: Store) -> None:
    """Check X's rows are committed before X searches; a pull by check Y in between must not load
    them into the index (X would then find its own frame and call it a replay)."""
    from bhytgate.face.liveness import FrameFingerprint
    from bhytgate.service.state import SharedFrameMemory

    assert isinstance(store, SqlStore)
    memory = SharedFrameMemory(store, 1000, dt.timedelta(hours=24))
    sha, phash = _fp(1)
    real_add = store.add_fingerprints

    def add_then_other_pull(items: object, at: dt.datetime) -> list[int]:
        ids = real_add(items, at)  # type: ignore[arg-type]
        with memory._lock:
            memory._pull(at)  # check Y, on another thread, pulls right now
        return ids

    store.add_fingerprints = add_then_other_pull  # type: ignore[method-assign]
    assert memory.check_and_remember([FrameFingerprint(sha, phash)], T0, 24) is False
    store.add_fingerprints = real_add  # type: ignore[method-assign]
    # the same frame again is a replay
    assert memory.check_and_remember([FrameFingerprint(sha, phash)], T0, 24) is True


def test_a_fingerprint_committed_after_a_later_one_is_still_found(store_factory: StoreFactory) -> None:
    """PostgreSQL hands out ids at insert and shows rows at commit: a pull that passed an open
    transaction's id asks for it again."""
    if store_factory.kind != "postgres":
        pytest.skip("concurrent writers with visible gaps: PostgreSQL only")
    import psycopg
    from psycopg import sql

    from bhytgate.face.liveness import FrameFingerprint
    from bhytgate.service.state import SharedFrameMemory

    store = store_factory.open()
    assert isinstance(store, SqlStore)
    memory = SharedFrameMemory(store, 1000, dt.timedelta(hours=24))
    assert memory.check_and_remember([FrameFingerprint(*_fp(1))], T0, 24) is False
    with psycopg.connect(store._conninfo) as slow:  # type: ignore[attr-defined]
        slow.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(store_factory.schema)))
        sha, phash = _fp(2)
        slow.execute(
            "INSERT INTO frame_fingerprints (sha256, phash, seen_at) VALUES (%s, %s, %s)", (sha, phash, T0)
        )  # not committed yet: its id is taken, the row invisible
        assert memory.check_and_remember([FrameFingerprint(*_fp(3))], T0, 24) is False
        slow.commit()
    # a re-encoded copy of frame 2: another SHA-256, the same perceptual hash
    assert memory.check_and_remember([FrameFingerprint(_fp(4)[0], phash)], T0, 24) is True


def test_keys_registered_before_migration_8_keep_binding_their_terminal(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key stored by terminal id only (before facilities) still binds that id, at any facility
    (fail closed), until a facility registers a key of its own for its terminal."""
    from bhytgate.storage import schema, sql

    monkeypatch.setattr(sql, "MIGRATIONS", tuple(m for m in schema.MIGRATIONS if m[0] < 8))
    old = store_factory.open()
    assert isinstance(old, SqlStore)
    with old._tx() as c:
        c.execute(
            "INSERT INTO terminal_keys (key_id, pem, registered_at) VALUES (?, ?, ?)",
            ("kiosk-1", "OLD-PEM", old._ts(T0)),
        )
    old.close()
    monkeypatch.setattr(sql, "MIGRATIONS", schema.MIGRATIONS)
    store = store_factory.open()
    assert isinstance(store, SqlStore) and store.schema_version() >= 8
    assert store.terminal_key("kiosk-1", "01001") == store.terminal_key("kiosk-1", "79014") == "OLD-PEM"
    store.put_terminal_key("kiosk-1", "79014", "NEW-PEM", T0)
    assert store.terminal_key("kiosk-1", "79014") == "NEW-PEM"
    assert store.terminal_key("kiosk-1", "01001") == "OLD-PEM"
