"""`bhytgate review`: the review queue, from a reviewer terminal (role `reviewer`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from google.protobuf.json_format import MessageToDict

from bhytgate_client.v1 import gateway_pb2 as pb
from bhytgate_clients.cli.checkin import fail
from bhytgate_clients.cli.options import address_option
from bhytgate_clients.sdk import GatewayClient, GatewayError


def case_json(case: pb.ReviewCase) -> dict[str, Any]:
    """A case as plain JSON: enum names without their prefixes, times as RFC 3339."""
    data = MessageToDict(case, preserving_proto_field_name=True)
    data["state"] = pb.ReviewState.Name(case.state).removeprefix("REVIEW_STATE_")
    data["reasons"] = [
        {"code": pb.ReasonCode.Name(r.code).removeprefix("REASON_CODE_"), "detail": r.detail}
        for r in case.reasons
    ]
    data["terminal_kind"] = pb.TerminalKind.Name(case.terminal_kind).removeprefix("TERMINAL_KIND_").lower()
    data["assurance_level"] = pb.AssuranceLevel.Name(case.assurance_level).removeprefix("ASSURANCE_LEVEL_")
    return data


def _options(f: Any) -> Any:
    f = address_option(f)
    f = click.option("--home", type=click.Path(path_type=Path))(f)
    f = click.option("--terminal", default="reviewer-01", show_default=True, help="A reviewer terminal.")(f)
    f = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(f)
    return f


@click.group()
def review() -> None:
    """Review cases: every REVIEW decision (velocity, terminal spike, army/police cards) opens one."""


@review.command("list")
@_options
def list_cases(home: Path | None, address: str | None, terminal: str, as_json: bool) -> None:
    """The open cases of this reviewer's facility (or province), oldest first."""
    try:
        with GatewayClient.local(terminal, home=home, address=address) as client:
            cases = client.list_review_cases()
    except (GatewayError, FileNotFoundError, ValueError) as exc:
        fail(exc)
    if as_json:
        click.echo(json.dumps({"cases": [case_json(c) for c in cases]}, ensure_ascii=False, indent=2))
        return
    if not cases:
        click.echo("no open review cases")
    for case in cases:
        data = case_json(case)
        reasons = ", ".join(f"{r['code']} ({r['detail']})" for r in data["reasons"])
        click.echo(
            f"{case.verification_id}  facility {case.facility_code}  terminal {case.terminal_id}  "
            f"until {data.get('expire_time', '?')}\n    {reasons}"
        )
        for fact in case.fraud_history:
            click.echo(f"    {fact.name}: {fact.count} {fact.detail}")


@review.command("resolve")
@click.argument("verification_id")
@click.option("--accept", "decision", flag_value="accept", help="Release the entitlement.")
@click.option("--reject", "decision", flag_value="reject", help="Refuse the check-in.")
@click.option("--reason", required=True, help="Why (kept with the case; audited by its hash).")
@_options
def resolve(
    verification_id: str,
    decision: str | None,
    reason: str,
    home: Path | None,
    address: str | None,
    terminal: str,
    as_json: bool,
) -> None:
    """Resolve one open case as accepted or rejected, with a written reason."""
    if decision is None:
        raise click.UsageError("one of --accept or --reject is required")
    try:
        with GatewayClient.local(terminal, home=home, address=address) as client:
            response = client.resolve_review_case(verification_id, accept=decision == "accept", reason=reason)
    except (GatewayError, FileNotFoundError, ValueError) as exc:
        fail(exc)
    data = case_json(response.review_case)
    out: dict[str, Any] = {
        "verification_id": verification_id,
        "state": data["state"],
        "reviewer": response.review_case.reviewer,
        "attestation": response.attestation or None,
        "ma_the": response.entitlement.ma_the if response.HasField("entitlement") else None,
    }
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        click.echo(f"{verification_id}: {out['state']} by {out['reviewer']}")
        if out["ma_the"]:
            click.echo(f"  entitlement released: {out['ma_the']}; attestation issued")
