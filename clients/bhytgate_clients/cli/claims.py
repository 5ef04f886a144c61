"""`bhytgate claims`: reconcile hospital claim files against verified check-ins, and fetch the
QĐ 4750 check-in record of an accepted check-in.

`reconcile` streams each file to AdminService.ReconcileClaims in 1 MiB chunks and writes every
dossier out as its result comes back (JSON and CSV are written incrementally too), so a file of
100,000 dossiers needs no more memory than one of ten. Exit status: 0 every dossier verified,
1 some were not, 2 a file could not be read or the gateway refused.
"""

from __future__ import annotations

import csv
import decimal
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click
import grpc

from bhytgate_client.v1 import gateway_pb2 as pb
from bhytgate_clients.cli.options import address_option
from bhytgate_clients.sdk import GatewayClient, GatewayError

CHUNK = 1024 * 1024
CLASSES = ("verified", "unverified", "mismatch", "duplicate", "unparseable")
CSV_FIELDS = (
    "file",
    "index",
    "ma_lk",
    "status",
    "verification_id",
    "attestation_id",
    "assurance_level",
    "amount",
    "facility",
    "reason",
)


def _status(value: int) -> str:
    return str(pb.DossierStatus.Name(value)).removeprefix("DOSSIER_STATUS_").lower()  # type: ignore[arg-type]


def _level(value: int) -> str | None:
    name = str(pb.AssuranceLevel.Name(value)).removeprefix("ASSURANCE_LEVEL_")  # type: ignore[arg-type]
    return None if name == "UNSPECIFIED" else name.lower()


def _chunks(path: Path, window: int, progress: Any) -> Iterator[pb.ReconcileClaimsRequest]:
    with path.open("rb") as fh:
        first = True
        while True:
            data = fh.read(CHUNK)
            if not data and not first:
                return
            if first:
                yield pb.ReconcileClaimsRequest(file_name=path.name[:255], window_minutes=window, chunk=data)
                first = False
            else:
                yield pb.ReconcileClaimsRequest(chunk=data)
            if progress is not None:
                progress(len(data))
            if not data:
                return


class Totals:
    def __init__(self) -> None:
        self.counts = dict.fromkeys(CLASSES, 0)
        self.amounts = {c: decimal.Decimal(0) for c in CLASSES}

    def add_summary(self, summary: pb.ReconcileSummary) -> dict[str, Any]:
        classes = {}
        for item in summary.classes:
            name = _status(item.status)
            self.counts[name] += item.count
            self.amounts[name] += decimal.Decimal(item.amount)
            classes[name] = {"count": item.count, "amount": item.amount}
        return classes

    def as_dict(self) -> dict[str, Any]:
        return {
            "dossiers": sum(self.counts.values()),
            "classes": {c: {"count": self.counts[c], "amount": str(self.amounts[c])} for c in CLASSES},
            "amount_total": str(sum(self.amounts.values(), decimal.Decimal(0))),
        }


class JsonOut:
    """`{"dossiers": [...], "summary": {...}, "files": [...], "errors": [...]}`, written as it goes."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.first = True
        out.write('{"dossiers": [')

    def dossier(self, row: dict[str, Any]) -> None:
        self.out.write(("\n  " if self.first else ",\n  ") + json.dumps(row, ensure_ascii=False))
        self.first = False

    def finish(self, summary: dict[str, Any], files: list[dict[str, Any]], errors: list[str]) -> None:
        self.out.write("\n],\n")
        tail = {"summary": summary, "files": files, "errors": errors}
        self.out.write(json.dumps(tail, ensure_ascii=False, indent=1)[1:-1].strip() + "\n}\n")


@click.group()
def claims() -> None:
    """Claims reconciliation (admin terminal) and QĐ 4750 check-in records."""


@claims.command("reconcile")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--json", "as_json", is_flag=True, help="Every dossier and the summary as JSON on stdout.")
@click.option(
    "--csv", "csv_out", type=click.Path(dir_okay=False, path_type=Path), help="Every dossier as CSV."
)
@click.option(
    "--window",
    type=click.IntRange(0, 10080),
    default=0,
    help="Minutes NGAY_VAO may be from a verification (default: the gateway's, 240).",
)
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal)."
)
@click.option("--terminal", default="admin-01", show_default=True)
@click.option("--home", type=click.Path(path_type=Path))
@address_option
def reconcile(
    files: tuple[Path, ...],
    as_json: bool,
    csv_out: Path | None,
    window: int,
    progress: bool | None,
    terminal: str,
    home: Path | None,
    address: str | None,
) -> None:
    """Match every dossier's XML1 in FILE... (GIAMDINHHS envelopes, QĐ 130 / QĐ 4750) against the
    gateway's verified check-ins: verified, unverified (a ghost-visit candidate), mismatch (checked
    in at another facility or time), duplicate (its check-in already verifies an earlier dossier of
    the file) or unparseable (with the reason)."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    err = Console(stderr=True)
    show = err.is_terminal if progress is None else progress
    totals = Totals()
    per_file: list[dict[str, Any]] = []
    errors: list[str] = []
    notable: list[str] = []
    json_out = JsonOut(sys.stdout) if as_json else None
    csv_fh = csv_out.open("w", newline="", encoding="utf-8") if csv_out else None
    writer = csv.DictWriter(csv_fh, CSV_FIELDS) if csv_fh else None
    if writer:
        writer.writeheader()
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[dossiers]} dossiers"),
        TimeElapsedColumn(),
        console=err,
        disable=not show,
    )
    try:
        with bar, GatewayClient.local(terminal, home=home, address=address) as client:
            for path in files:
                task = bar.add_task(path.name, total=path.stat().st_size, dossiers=0)
                seen = 0
                try:
                    stream = client.admin.ReconcileClaims(
                        _chunks(path, window, lambda n, t=task: bar.advance(t, n)), timeout=None
                    )
                    for response in stream:
                        for d in response.dossiers:
                            seen += 1
                            row = {
                                "file": str(path),
                                "index": d.index,
                                "ma_lk": d.ma_lk,
                                "status": _status(d.status),
                                "verification_id": d.verification_id or None,
                                "attestation_id": d.attestation_id or None,
                                "assurance_level": _level(d.assurance_level),
                                "amount": d.amount,
                                "facility": d.facility,
                                "reason": d.reason or None,
                            }
                            if json_out:
                                json_out.dossier(row)
                            if writer:
                                writer.writerow({k: "" if v is None else v for k, v in row.items()})
                            # every class but verified, and a verified one re-sent (it says so)
                            if (row["status"] != "verified" or d.reason) and len(notable) < 20:
                                why = f": {d.reason}" if d.reason else ""
                                label = f"{path.name} #{d.index} {d.ma_lk or '-'}"
                                notable.append(f"  {label} {row['status']}{why}")
                        bar.update(task, dossiers=seen)
                        if response.HasField("summary"):
                            s = response.summary
                            per_file.append(
                                {
                                    "file": str(path),
                                    "facility": s.facility,
                                    "declared": s.declared_count,
                                    "dossiers": s.dossier_count,
                                    "window_minutes": s.window_minutes,
                                    "classes": totals.add_summary(s),
                                }
                            )
                except grpc.RpcError as exc:
                    failed = GatewayError.from_rpc_error(exc)
                    if failed.code in ("UNAVAILABLE", "UNAUTHENTICATED", "PERMISSION_DENIED"):
                        raise failed from None
                    errors.append(f"{path}: {failed.message}")
    except (GatewayError, FileNotFoundError, ValueError, OSError) as exc:
        errors.append(str(exc))
    finally:
        if csv_fh:
            csv_fh.close()
    summary = totals.as_dict()
    if json_out:
        json_out.finish(summary, per_file, errors)
    else:
        for item in per_file:
            click.echo(
                f"{item['file']}: {item['dossiers']} dossiers (declared {item['declared']}),"
                f" facility {item['facility'] or '-'}, window {item['window_minutes']} min"
            )
        click.echo(f"{'class':<12} {'dossiers':>9} {'T_BHTT (VND)':>20}")
        for name in CLASSES:
            c = summary["classes"][name]
            click.echo(f"{name:<12} {c['count']:>9} {c['amount']:>20}")
        click.echo(f"{'total':<12} {summary['dossiers']:>9} {summary['amount_total']:>20}")
        if notable:
            click.echo("not verified (first 20; --json or --csv for all):")
            for line in notable:
                click.echo(line)
    for message in errors:
        click.echo(f"bhytgate claims reconcile: error: {message}", err=True)
    if errors:
        sys.exit(2)
    sys.exit(0 if summary["classes"]["verified"]["count"] == summary["dossiers"] else 1)


@claims.command("record")
@click.argument("verification_id")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the XML here.")
@click.option("--terminal", default="desk-01", show_default=True)
@click.option("--home", type=click.Path(path_type=Path))
@address_option
def record(
    verification_id: str, out: Path | None, terminal: str, home: Path | None, address: str | None
) -> None:
    """The QĐ 4750 check-in record (XML) of an accepted check-in, while the gateway keeps it."""
    try:
        with GatewayClient.local(terminal, home=home, address=address) as client:
            try:
                response = client.verification.GetCheckinRecord(
                    pb.GetCheckinRecordRequest(verification_id=verification_id), timeout=client.timeout_s
                )
            except grpc.RpcError as exc:
                raise GatewayError.from_rpc_error(exc) from None
    except (GatewayError, FileNotFoundError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    rec = response.checkin_record
    if out is not None:
        out.write_bytes(rec.xml)
        click.echo(
            json.dumps(
                {
                    "verification_id": rec.verification_id,
                    "attestation_id": rec.attestation_id,
                    "expire_time": rec.expire_time.ToJsonString(),
                    "xml": str(out),
                }
            )
        )
    else:
        sys.stdout.write(rec.xml.decode("utf-8") + "\n")
