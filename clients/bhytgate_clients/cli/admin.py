"""`bhytgate admin`: trust anchors, entitlement imports, the audit chain, certificate revocation."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from bhytgate_client.admin_calls import REVOCATION_REASONS
from bhytgate_clients.cli.options import address_option
from bhytgate_clients.sdk import GatewayClient, GatewayError

# What a refused or impossible connection raises: reported as "error: ...", exit status 2.
CLIENT_ERRORS = (GatewayError, FileNotFoundError, ValueError)
T = TypeVar("T")


def _client(
    terminal: str, home: Path | None, address: str | None, server_name: str | None = None
) -> GatewayClient:
    return GatewayClient.local(terminal, home=home, address=address, server_name=server_name)


def _ask(terminal: str, home: Path | None, address: str | None, call: Callable[[GatewayClient], T]) -> T:
    """One call to the gateway; a refused or impossible one is "error: ..." and exit status 2."""
    try:
        with _client(terminal, home, address) as client:
            return call(client)
    except CLIENT_ERRORS as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@click.group()
def admin() -> None:
    """Gateway administration (needs an admin terminal certificate)."""


@admin.command("import")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--dry-run", is_flag=True, help="Validate only.")
@click.option(
    "--terminal",
    default="bhxh-admin-01",
    show_default=True,
    help="An admin of the fund (00000) or of a provincial office (a code ending in 000).",
)
@click.option("--home", type=click.Path(path_type=Path))
@address_option
def import_(
    files: tuple[Path, ...], dry_run: bool, terminal: str, home: Path | None, address: str | None
) -> None:
    """Import entitlement records (CSV with a header row, or JSON lines). All-or-nothing per file."""
    failed = False
    try:
        with _client(terminal, home, address) as client:
            for path in files:
                fmt = "csv" if path.suffix.lower() == ".csv" else "jsonl"
                response = client.import_entitlements(path.read_bytes(), fmt, dry_run=dry_run)
                click.echo(
                    f"{path}: {response.imported_count} imported, {response.valid_count} valid, "
                    f"{len(response.errors)} errors"
                )
                for error in response.errors:
                    click.echo(f"  row {error.row} {error.field or '-'}: {error.message}")
                failed = failed or bool(response.errors)
    except CLIENT_ERRORS as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    sys.exit(1 if failed else 0)


@admin.command("trust")
@click.option("--csca", "cscas", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--master-list",
    "master_lists",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option("--crl", "crls", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--ldif",
    "ldifs",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="ICAO PKD LDIF (master lists, DSCs, CRLs); lists the gateway cannot verify are reported.",
)
@click.option(
    "--terminal",
    default="bhxh-admin-01",
    show_default=True,
    help="An admin of the fund (00000): chip trust is national.",
)
@click.option("--home", type=click.Path(path_type=Path))
@address_option
def trust(
    cscas: tuple[Path, ...],
    master_lists: tuple[Path, ...],
    crls: tuple[Path, ...],
    ldifs: tuple[Path, ...],
    terminal: str,
    home: Path | None,
    address: str | None,
) -> None:
    """Load CSCA certificates, ICAO master lists, CRLs and PKD LDIF files into the gateway: every
    replica of a cluster trusts them within a second (they are kept in the shared database)."""
    from asn1crypto import pem

    from bhytgate.chip.errors import ChipError
    from bhytgate.chip.trust.ldif import read_pkd_ldif

    def der(path: Path) -> bytes:
        data = path.read_bytes()
        return bytes(pem.unarmor(data)[2]) if pem.detect(data) else data

    loads = [der(p) for p in cscas], [der(p) for p in master_lists], [der(p) for p in crls]
    batches: list[tuple[str, list[bytes]]] = []
    for path in ldifs:
        try:
            objects = read_pkd_ldif(path.read_bytes())
        except ChipError as exc:
            click.echo(f"error: {path}: {exc.message}", err=True)
            sys.exit(2)
        # A master list per call: a PKD collection holds every country's, and one the gateway
        # cannot verify (no anchor for that country) must not refuse the others. CRLs and DSCs
        # in batches (a refused batch is retried one by one).
        batches += [("master_list", [d]) for d in objects.master_lists]
        batches += _chunks("crl", objects.crls) + _chunks("dsc", objects.document_signers)
    out: dict[str, object] = {"csca_added": 0, "crls_added": 0, "csca_total": 0}
    refused: dict[str, int] = {}
    added_dscs = 0

    def send(client: GatewayClient, kind: str, items: list[bytes]) -> None:
        nonlocal added_dscs
        try:
            response = client.load_trust(
                master_lists=items if kind == "master_list" else [],
                crls=items if kind == "crl" else [],
                document_signers=items if kind == "dsc" else [],
            )
        except GatewayError as exc:
            if exc.code != "INVALID_ARGUMENT":
                raise
            if len(items) > 1:
                for item in items:
                    send(client, kind, [item])
            else:
                refused[kind] = refused.get(kind, 0) + 1
            return
        out["csca_added"] = int(str(out["csca_added"])) + response.csca_added
        out["crls_added"] = int(str(out["crls_added"])) + response.crls_added
        out["csca_total"] = response.csca_total
        added_dscs += len(items) if kind == "dsc" else 0

    try:
        with _client(terminal, home, address) as client:
            if any(loads):
                response = client.load_trust(*loads)
                out = {
                    "csca_added": response.csca_added,
                    "crls_added": response.crls_added,
                    "csca_total": response.csca_total,
                }
            for kind, items in batches:
                send(client, kind, items)
    except CLIENT_ERRORS as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if batches:
        out["document_signers_added"] = added_dscs
    if refused:
        out["refused"] = refused
    click.echo(json.dumps(out))


def _chunks(
    kind: str, items: tuple[bytes, ...], max_bytes: int = 8 * 1024 * 1024
) -> list[tuple[str, list[bytes]]]:
    """Batches under the gateway's request limit (16 MiB for LoadTrustAnchors)."""
    out: list[tuple[str, list[bytes]]] = []
    batch: list[bytes] = []
    size = 0
    for item in items:
        if batch and (size + len(item) > max_bytes or len(batch) >= 500):
            out.append((kind, batch))
            batch, size = [], 0
        batch.append(item)
        size += len(item)
    if batch:
        out.append((kind, batch))
    return out


@admin.command("revoke")
@click.argument("certificate", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--reason",
    required=True,
    type=click.Choice(list(REVOCATION_REASONS)),
)
@click.option("--terminal", default="admin-01", show_default=True)
@click.option("--home", type=click.Path(path_type=Path))
@address_option
def revoke(certificate: Path, reason: str, terminal: str, home: Path | None, address: str | None) -> None:
    """Revoke a terminal's (or an officer's) client certificate, PEM or DER, on every replica."""
    response = _ask(terminal, home, address, lambda c: c.revoke_certificate(certificate.read_bytes(), reason))
    out = {
        "certificate_sha256": response.certificate_sha256,
        "terminal_id": response.terminal_id,
        "revoke_time": response.revoke_time.ToJsonString(),
        "already_revoked": response.already_revoked,
    }
    click.echo(json.dumps(out))


@admin.command("jwks")
@click.option("--terminal", default="admin-01", show_default=True)
@click.option("--home", type=click.Path(path_type=Path))
@address_option
def jwks_(terminal: str, home: Path | None, address: str | None) -> None:
    """Print the gateway's public JWKS: what attestations and audit checkpoints verify against."""
    click.echo(_ask(terminal, home, address, lambda c: c.attestation_keys()))


@admin.command("checkpoint")
@click.option("--terminal", default="admin-01", show_default=True, help="An admin or auditor terminal.")
@click.option("--home", type=click.Path(path_type=Path))
@address_option
def checkpoint(terminal: str, home: Path | None, address: str | None) -> None:
    """Print a signed checkpoint of the audit log as one JSON line: append it to a file kept away
    from the gateway's database, and give that file to `admin audit --checkpoints`."""
    response = _ask(terminal, home, address, lambda c: c.audit_checkpoint())
    line = {
        "checkpoint": response.checkpoint,
        "record_count": response.record_count,
        "head_hash": response.head_hash,
        "time": response.checkpoint_time.ToJsonString(),
    }
    click.echo(json.dumps(line))


def read_checkpoints(path: Path) -> list[str]:
    """The tokens of a checkpoints file: `admin checkpoint`'s JSON lines, or one bare token a line."""
    tokens = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                token = json.loads(line)["checkpoint"]
            except (ValueError, KeyError, TypeError):
                raise click.UsageError(f"{path}:{number}: not a checkpoint line") from None
            if not isinstance(token, str):
                raise click.UsageError(f"{path}:{number}: not a checkpoint line")
            line = token
        tokens.append(line)
    return tokens


def _not_a_gateway_log(url: str) -> str | None:
    """Why an SQLite file cannot be the audited log, or None. Opening a store creates and migrates
    its database, so a mistyped --database or --home would have been created empty and reported
    as a verified chain of 0 records (attack run, 2026-12-02); a file that is not a database gave
    a traceback. Checked read-only, before the store opens it; on PostgreSQL, that the gateway's
    schema holds an audit log (a database without one had the schema and its tables created)."""
    import sqlite3

    from bhytgate.storage import is_postgres

    if is_postgres(url):
        import psycopg

        try:
            with psycopg.connect(url, connect_timeout=5) as pg:
                found = pg.execute("SELECT to_regclass('bhytgate.audit_log')").fetchone()
        except psycopg.Error:
            return None  # unreachable: open_store says so in its own words
        if found is None or found[0] is None:
            return "the database has no gateway schema (bhytgate.audit_log): nothing to verify"
        return None
    if "://" in url and not url.startswith("sqlite:///"):
        return None  # open_store refuses the scheme
    path = Path(url.removeprefix("sqlite:///"))
    if not path.is_file() or path.stat().st_size == 0:
        return f"no gateway database at {path} (nothing to verify; check --home or --database)"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return f"{path} is not an SQLite database ({exc})"
    if row is None:
        return f"{path} is not a gateway database (it has no audit log)"
    return None


@admin.command("audit")
@click.option("--offline", is_flag=True, help="Read the database directly instead of asking the gateway.")
@click.option(
    "--database", help="With --offline: sqlite:///path or postgresql://... (default: under --home)."
)
@click.option(
    "--checkpoints",
    "checkpoints_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Checkpoints kept outside the database (`admin checkpoint` lines): each must still hold.",
)
@click.option(
    "--jwks",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --offline --checkpoints: the JWKS (GetAttestationKeys) that signed the checkpoints.",
)
@click.option("--terminal", default="admin-01", show_default=True)
@click.option("--home", type=click.Path(path_type=Path))
@address_option
def audit(
    offline: bool,
    database: str | None,
    checkpoints_file: Path | None,
    jwks: Path | None,
    terminal: str,
    home: Path | None,
    address: str | None,
) -> None:
    """Verify the audit log's hash chain, its index and any checkpoints; report the first broken
    record. Exit 1 if broken."""
    if offline and address is not None:
        raise click.UsageError("--offline reads the database under --home; it takes no --address")
    if offline and checkpoints_file is not None and jwks is None:
        raise click.UsageError("--offline --checkpoints needs --jwks: the key the checkpoints are signed by")
    if jwks is not None and not offline:
        raise click.UsageError("--jwks is for --offline: online, the gateway checks its own signatures")
    tokens = read_checkpoints(checkpoints_file) if checkpoints_file is not None else []
    if offline:
        import sqlite3

        from bhytgate.audit.index import verify_log
        from bhytgate.service.config import load_config
        from bhytgate.storage import StoreUnavailable, open_store
        from bhytgate_clients.sdk.home import GatewayHome

        root = GatewayHome.find(home).root
        config = load_config(root, database_url=database)
        problem = _not_a_gateway_log(config.db_url)
        if problem is not None:
            click.echo(f"error: {problem}", err=True)
            sys.exit(2)
        pinned = []
        if tokens:
            from bhytgate.audit.checkpoint import CheckpointError, check_checkpoints, verify_checkpoint

            assert jwks is not None
            keys = jwks.read_text(encoding="utf-8")
            for number, token in enumerate(tokens, 1):
                try:
                    pinned.append(verify_checkpoint(token, keys))
                except CheckpointError as exc:
                    click.echo(f"error: checkpoint {number}: {exc}", err=True)
                    sys.exit(2)
        try:
            # The chain needs no secret: nothing is created, nothing decrypted.
            store = open_store(config.db_url, template_key=None)
        except (StoreUnavailable, sqlite3.DatabaseError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        try:
            report = verify_log(store)
            if report.ok and pinned:
                report = check_checkpoints(store.iter_audit(), pinned, report.checked)
        except (StoreUnavailable, sqlite3.DatabaseError) as exc:  # a page it cannot read
            click.echo(f"error: the audit log could not be read: {exc}", err=True)
            sys.exit(2)
        finally:
            store.close()
        out = {
            "ok": report.ok,
            "record_count": report.checked,
            "first_broken_record": report.first_broken_index,
            "detail": report.reason,
        }
    else:
        response = _ask(terminal, home, address, lambda c: c.verify_audit(tokens))
        out = {
            "ok": response.ok,
            "record_count": response.record_count,
            "first_broken_record": response.first_broken_record
            if response.HasField("first_broken_record")
            else None,
            "detail": response.detail,
        }
    click.echo(json.dumps(out))
    sys.exit(0 if out["ok"] else 1)
