"""`bhytgate counter household-quote|household-renew`, and the data-subject requests
`consent-terms|export|delete-template|withdraw-consent`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from bhytgate_client.v1 import gateway_pb2 as pb
from bhytgate_clients.cli.checkin import expand_frames, fail
from bhytgate_clients.cli.counter import _client, _options, _verify_at_counter, counter
from bhytgate_clients.sdk import GatewayError, Operator

RULES = {1: "continuous", 2: "from_payment", 3: "waiting_period"}


def _member_json(m: Any, *, detail: bool) -> dict[str, Any]:
    key = "cccd" if m.member.WhichOneof("id") == "cccd_number" else "bhxh"
    out: dict[str, Any] = {
        key: m.member.cccd_number or m.member.social_insurance_number,
        "order": m.order,
        "monthly_vnd": m.monthly_vnd,
        "amount_vnd": m.amount_vnd,
    }
    if detail:
        out.update(
            share_percent=m.share_percent,
            card_number=m.card_number or None,
            current_valid_to=m.current_valid_to or None,
            new_valid_from=m.new_valid_from or None,
            new_valid_to=m.new_valid_to or None,
            start_rule=RULES.get(m.start_rule),
        )
    return out


def _print_table(response: Any) -> None:
    for m in response.members:
        who = m.member.cccd_number or m.member.social_insurance_number
        period = (
            f"  {m.new_valid_from} → {m.new_valid_to} ({RULES.get(m.start_rule)})" if m.new_valid_from else ""
        )
        click.echo(
            f"{m.order}. {who}  {m.share_percent:>3}%  {m.monthly_vnd:>9,} VND/month"
            f"  {m.amount_vnd:>11,} VND{period}"
        )
    click.echo(
        f"total {response.total_vnd:,} VND for {response.months} months"
        f" (base salary {response.base_salary_vnd:,} VND)"
    )


def _member_option(f: Any) -> Any:
    return click.option(
        "--member",
        "members",
        required=True,
        multiple=True,
        help="A member's CCCD (12 digits) or BHXH number (10 digits), in the household's order.",
    )(f)


def _months_option(f: Any) -> Any:
    return click.option("--months", required=True, type=click.Choice(["3", "6", "12"]))(f)


@counter.command("household-quote")
@_member_option
@_months_option
@click.option(
    "--at", "at", default="", help="Payment date yyyy-mm-dd whose base salary applies (default today)."
)
@click.option("--json", "as_json", is_flag=True)
@_options
def household_quote(
    members: tuple[str, ...],
    months: str,
    at: str,
    as_json: bool,
    home: Path | None,
    address: str | None,
    terminal: str,
    operator_name: str,
    operator_cccd: str,
) -> None:
    """The premium of a household renewal (and each member's renewed validity)."""
    try:
        with _client(terminal, home, address) as client:
            response = client.household_quote(list(members), int(months), quote_date=at)
    except (GatewayError, ValueError) as exc:
        fail(exc)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "members": [_member_json(m, detail=False) for m in response.members],
                    "total_vnd": response.total_vnd,
                    "base_salary_vnd": response.base_salary_vnd,
                    "months": response.months,
                },
                ensure_ascii=False,
            )
        )
    else:
        _print_table(response)


@counter.command("household-renew")
@click.option(
    "--card",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The payer's card.",
)
@click.option("--frame", "frames", required=True, multiple=True, type=click.Path(exists=True, path_type=Path))
@_member_option
@_months_option
@click.option(
    "--payment-ref", "payment_ref", required=True, help="The cashier's or payment service's reference."
)
@click.option("--json", "as_json", is_flag=True)
@_options
def household_renew(
    card: Path,
    frames: tuple[Path, ...],
    members: tuple[str, ...],
    months: str,
    payment_ref: str,
    as_json: bool,
    home: Path | None,
    address: str | None,
    terminal: str,
    operator_name: str,
    operator_cccd: str,
) -> None:
    """Verify the payer at the counter, then renew the members' household cards (once per payment)."""
    operator = Operator(operator_name, operator_cccd)
    try:
        with _client(terminal, home, address) as client:
            result = _verify_at_counter(client, card, expand_frames(list(frames)), operator)
            response = client.renew_household(
                result.verification_id, list(members), int(months), payment_ref, operator
            )
    except (GatewayError, FileNotFoundError, ValueError) as exc:
        fail(exc)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "members": [_member_json(m, detail=True) for m in response.members],
                    "total_vnd": response.total_vnd,
                    "base_salary_vnd": response.base_salary_vnd,
                    "months": response.months,
                    "paid_on": response.paid_on,
                    "payment_ref": payment_ref,
                    "replayed": response.replayed,
                    "receipt_id": response.receipt_id,
                    "receipt": response.receipt,
                },
                ensure_ascii=False,
            )
        )
    else:
        _print_table(response)
        click.echo(
            f"receipt {response.receipt_id}{' (already renewed: same receipt)' if response.replayed else ''}"
        )


@counter.command("consent-terms")
@_options
def consent_terms(
    home: Path | None, address: str | None, terminal: str, operator_name: str, operator_cccd: str
) -> None:
    """The consent terms to show the holder before enrolment (JSON)."""
    try:
        with _client(terminal, home, address) as client:
            t = client.consent_terms()
    except GatewayError as exc:
        fail(exc)
    click.echo(
        json.dumps(
            {
                "terms_version": t.terms_version,
                "purpose": t.purpose,
                "data_kept": list(t.data_kept),
                "retention_days": t.retention_days,
            },
            ensure_ascii=False,
        )
    )


def _subject(
    action: str,
    card: Path,
    frames: tuple[Path, ...],
    cccd: str,
    home: Path | None,
    address: str | None,
    terminal: str,
    operator: Operator,
) -> Any:
    try:
        with _client(terminal, home, address) as client:
            result = _verify_at_counter(client, card, expand_frames(list(frames)), operator)
            call = {
                "export": client.export_subject_data,
                "delete": client.delete_face_template,
                "withdraw": client.withdraw_consent,
            }[action]
            return call(cccd, result.verification_id, operator)
    except (GatewayError, FileNotFoundError, ValueError) as exc:
        fail(exc)


def _subject_options(f: Any) -> Any:
    f = click.option(
        "--frame", "frames", required=True, multiple=True, type=click.Path(exists=True, path_type=Path)
    )(f)
    f = click.option("--card", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))(
        f
    )
    f = click.option("--cccd", required=True, help="The holder's 12-digit CCCD number (the card's).")(f)
    return _options(f)


@counter.command("export")
@_subject_options
def export(
    cccd: str,
    card: Path,
    frames: tuple[Path, ...],
    home: Path | None,
    address: str | None,
    terminal: str,
    operator_name: str,
    operator_cccd: str,
) -> None:
    """Data-subject request: everything the gateway holds about the verified holder (JSON)."""
    response: pb.ExportSubjectDataResponse = _subject(
        "export", card, frames, cccd, home, address, terminal, Operator(operator_name, operator_cccd)
    )
    click.echo(response.export_json)


@counter.command("delete-template")
@_subject_options
def delete_template(
    cccd: str,
    card: Path,
    frames: tuple[Path, ...],
    home: Path | None,
    address: str | None,
    terminal: str,
    operator_name: str,
    operator_cccd: str,
) -> None:
    """Data-subject request: delete the verified holder's face template."""
    response = _subject(
        "delete", card, frames, cccd, home, address, terminal, Operator(operator_name, operator_cccd)
    )
    click.echo(json.dumps({"deleted": response.deleted, "request_id": response.request_id}))
    sys.exit(0)


@counter.command("withdraw-consent")
@_subject_options
def withdraw_consent(
    cccd: str,
    card: Path,
    frames: tuple[Path, ...],
    home: Path | None,
    address: str | None,
    terminal: str,
    operator_name: str,
    operator_cccd: str,
) -> None:
    """Data-subject request: withdraw consent (the template kept under it is deleted)."""
    response = _subject(
        "withdraw", card, frames, cccd, home, address, terminal, Operator(operator_name, operator_cccd)
    )
    click.echo(
        json.dumps(
            {
                "consents_withdrawn": response.consents_withdrawn,
                "template_deleted": response.template_deleted,
                "request_id": response.request_id,
            }
        )
    )
