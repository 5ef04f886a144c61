"""`bhytgate chip verify`: Passive and Active Authentication of a card dump, offline."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import click

from bhytgate.chip import ChipError, TrustStore, load_dump, verify_chip
from bhytgate.chip.verify import chip_policy_from_settings

EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2


def read_aa_response(path: Path) -> list[bytes]:
    """Signatures from a response file: JSON {"signatures": [hex]} (or "csigs"), or hex lines."""
    text = path.read_text(encoding="utf-8").strip()
    if text.startswith("{"):
        data = json.loads(text)
        if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), dict):
            data = next(iter(data.values()))  # the port server's file: {name: {challenge, csigs}}
        items = data.get("signatures", data.get("csigs")) if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ValueError('expected a "signatures" list of hex strings')
    else:
        items = [line.strip() for line in text.splitlines() if line.strip()]
    return [bytes.fromhex(str(item)) for item in items]


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_UNUSABLE)


@click.group()
def chip() -> None:
    """Chip data: Passive and Active Authentication."""


@chip.command("verify")
@click.argument("dump_dir", type=click.Path(path_type=Path))
@click.option(
    "--csca",
    "cscas",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Trusted CSCA certificate (PEM/DER) or a folder of them.",
)
@click.option(
    "--master-list",
    "master_lists",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="ICAO CSCA master list; its signer must chain to a --csca.",
)
@click.option(
    "--crl", "crls", multiple=True, type=click.Path(exists=True, path_type=Path), help="CRL file or folder."
)
@click.option(
    "--ldif",
    "ldifs",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="ICAO PKD LDIF: master lists (verified against --csca), DSCs, CRLs.",
)
@click.option("--at", "at_text", help="Verification date YYYY-MM-DD (default: now).")
@click.option("--challenge", help="The 32-byte Active Authentication challenge, hex.")
@click.option(
    "--aa-response", type=click.Path(exists=True, path_type=Path), help="The chip's four signatures."
)
@click.option("--require-crl", is_flag=True, help="Fail when no CRL of the CSCA is loaded.")
@click.option("--reject-stale-crl", is_flag=True, help="Fail when the newest CRL is past nextUpdate.")
@click.option("--lenient-id-data", is_flag=True, help="Accept an id-data eContentType in EF.SOD.")
@click.option(
    "--warn-only",
    "warn_only",
    multiple=True,
    help="A finding to report as a warning, not a failure (e.g. ds_expired, country_mismatch).",
)
@click.option(
    "--validity-at",
    "validity_time",
    type=click.Choice(["verification", "signing"]),
    default="verification",
    show_default=True,
    help="Judge certificate validity at --at, or at the SOD's signing time.",
)
@click.option(
    "--no-expiry-value",
    "no_expiry",
    multiple=True,
    default=("991231",),
    show_default=True,
    help="MRZ expiry values that mean 'no expiry'.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def verify(
    dump_dir: Path,
    cscas: tuple[Path, ...],
    master_lists: tuple[Path, ...],
    crls: tuple[Path, ...],
    ldifs: tuple[Path, ...],
    at_text: str | None,
    challenge: str | None,
    aa_response: Path | None,
    require_crl: bool,
    reject_stale_crl: bool,
    lenient_id_data: bool,
    warn_only: tuple[str, ...],
    validity_time: str,
    no_expiry: tuple[str, ...],
    as_json: bool,
) -> None:
    """Verify DUMP_DIR. Exit 0 if every requested check holds, 1 if one fails, 2 on unusable input."""
    at = dt.datetime.now(dt.UTC)
    if at_text:
        try:
            at = dt.datetime.combine(dt.date.fromisoformat(at_text), dt.time(12), tzinfo=dt.UTC)
        except ValueError:
            _fail(f"--at {at_text!r} is not YYYY-MM-DD")
    if (challenge is None) != (aa_response is None):
        _fail("--challenge and --aa-response go together")
    challenge_bytes: bytes | None = None
    signatures: list[bytes] = []
    if challenge is not None and aa_response is not None:
        try:
            challenge_bytes = bytes.fromhex(challenge)
        except ValueError:
            _fail("--challenge is not hex")
        if challenge_bytes is not None and len(challenge_bytes) != 32:
            _fail(f"--challenge must be 32 bytes, got {len(challenge_bytes)}")
        try:
            signatures = read_aa_response(aa_response)
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            _fail(f"--aa-response {aa_response}: {exc}")
    try:
        policy = chip_policy_from_settings(
            {
                "lenient_id_data": lenient_id_data,
                "require_crl": require_crl,
                "reject_stale_crl": reject_stale_crl,
                "warn_only": warn_only,
                "validity_time": validity_time,
                "no_expiry_values": no_expiry,
            }
        )
    except ValueError as exc:
        _fail(str(exc))
        return
    try:
        # Master lists and CRLs are verified now, as loaded; only the document is judged `--at`.
        store = TrustStore.from_paths(cscas, master_lists, crls, ldifs=ldifs)
        dump = load_dump(dump_dir)
        report = verify_chip(
            dump, store, at=at, challenge=challenge_bytes, aa_signatures=signatures, policy=policy
        )
    except ChipError as exc:
        _fail(f"{exc.message} [{exc.reason}]")
        return
    out = report.to_json()
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        _print_human(out)
    sys.exit(EXIT_OK if report.valid else EXIT_FAILED)


def _print_human(out: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    p, a = out["passive"], out["active"]
    table = Table(title="Chip verification", show_header=False)
    table.add_row("Passive authentication", "[green]valid[/]" if p["valid"] else "[red]INVALID[/]")
    table.add_row(
        "  SOD signature", "valid" if p["signature"]["valid"] else f"[red]{p['signature']['reason']}[/]"
    )
    table.add_row("  DS chain", "valid" if p["chain"]["valid"] else f"[red]{p['chain']['reason']}[/]")
    padded = p.get("trailing_bytes", {})
    table.add_row(
        "  data groups",
        ", ".join(
            f"DG{n}: {s}" + (f" ({padded[n]} bytes after its TLV)" if n in padded else "")
            for n, s in p["data_groups"].items()
        ),
    )
    if p["warnings"]:
        table.add_row("  warnings", ", ".join(p["warnings"]))
    if a["valid"] is None:
        table.add_row("Active authentication", "not requested")
    else:
        table.add_row("Active authentication", "[green]valid[/]" if a["valid"] else f"[red]{a['reason']}[/]")
    mrz = out["document"].get("mrz")
    if mrz:
        table.add_row("Document", f"{mrz['document_code']} {mrz['issuing_state']} {mrz['document_number']}")
    Console().print(table)
