"""`bhytgate counter`: insurance-office one-stop counter actions (enrol, link, report lost; household
renewal and the holder's data rights in counter_rights.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from bhytgate_clients.cli.checkin import (
    DEMO_OPERATOR,
    capture_for,
    chip_answerer,
    chip_photo_source,
    expand_frames,
    fail,
    read_chip_files,
)
from bhytgate_clients.cli.options import address_option
from bhytgate_clients.sdk import Frame, GatewayClient, GatewayError, Operator, VerificationResult


def _client(terminal: str, home: Path | None, address: str | None) -> GatewayClient:
    """Round robin over the replicas: a follow-up (enrolment, link) finds the verification it refers
    to on any of them (sessions live in the shared database)."""
    return GatewayClient.local(terminal, home=home, address=address)


def _verify_at_counter(
    client: GatewayClient, card: Path, frames: list[Path], operator: Operator
) -> VerificationResult:
    return client.check_in(
        read_chip_files(card),
        capture_for(frames, exclude=chip_photo_source(card)),
        answer_challenge=chip_answerer(card),
        terminal_kind="desk",
        operator=operator,
    )


def _options(f: Any) -> Any:
    f = address_option(f)
    f = click.option("--home", type=click.Path(path_type=Path))(f)
    f = click.option("--terminal", default="counter-01", show_default=True)(f)
    f = click.option("--operator-cccd", default=DEMO_OPERATOR.cccd_number, show_default=True)(f)
    f = click.option("--operator-name", default=DEMO_OPERATOR.full_name, show_default=True)(f)
    return f


@click.group()
def counter() -> None:
    """Insurance-office counter: enrol a face template, link CCCD to BHXH, report a card lost."""


@counter.command("enroll")
@click.option("--card", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--frame",
    "frames",
    required=True,
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Capture for the verification (first) and enrolment frames (all).",
)
@click.option(
    "--consent",
    "consent_version",
    default=None,
    metavar="TERMS_VERSION",
    help="The holder read the consent terms (`bhytgate counter consent-terms`) of this version and "
    "explicitly agreed. Required: no template is kept without consent.",
)
@_options
def enroll(
    card: Path,
    frames: tuple[Path, ...],
    consent_version: str | None,
    home: Path | None,
    address: str | None,
    terminal: str,
    operator_name: str,
    operator_cccd: str,
) -> None:
    """Verify the holder at the counter, then enrol a template from the frames (with consent)."""
    if consent_version is None:
        click.echo(
            "error: --consent TERMS_VERSION is required (see `bhytgate counter consent-terms`)", err=True
        )
        sys.exit(2)
    images = expand_frames(list(frames))
    operator = Operator(operator_name, operator_cccd)
    try:
        with _client(terminal, home, address) as client:
            result = _verify_at_counter(client, card, images, operator)
            if "FACE_MISMATCH" in result.reason_codes or (
                result.decision == "REJECTED" and not set(result.reason_codes) <= {"NO_ENTITLEMENT"}
            ):
                click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
                click.echo("error: the verification failed; nothing enrolled", err=True)
                sys.exit(1)
            frames_ = [Frame(p.read_bytes(), i + 1) for i, p in enumerate(images)]
            template_id = client.enroll(
                result.verification_id, frames_, operator, consent_terms_version=consent_version
            )
    except (GatewayError, FileNotFoundError, ValueError) as exc:
        fail(exc)
    click.echo(json.dumps({"verification_id": result.verification_id, "template_id": template_id}))


@counter.command("link")
@click.option("--card", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--frame", "frames", required=True, multiple=True, type=click.Path(exists=True, path_type=Path))
@click.option("--bhxh", required=True, help="10-digit social-insurance number.")
@_options
def link(
    card: Path,
    frames: tuple[Path, ...],
    bhxh: str,
    home: Path | None,
    address: str | None,
    terminal: str,
    operator_name: str,
    operator_cccd: str,
) -> None:
    """Verify the holder at the counter, then link the card's CCCD number to a BHXH number."""
    from bhytgate.chip import load_dump
    from bhytgate.chip.lds.dg13 import parse_dg13

    dg13 = load_dump(card).data_group(13)
    cccd = parse_dg13(dg13).get("id_number") if dg13 else None
    if not cccd:
        click.echo("error: the card has no DG13 with an ID number", err=True)
        sys.exit(2)
    operator = Operator(operator_name, operator_cccd)
    try:
        with _client(terminal, home, address) as client:
            result = _verify_at_counter(client, card, expand_frames(list(frames)), operator)
            ma_the = client.link(cccd, bhxh, result.verification_id, operator)
    except (GatewayError, FileNotFoundError, ValueError) as exc:
        fail(exc)
    click.echo(
        json.dumps({"verification_id": result.verification_id, "cccd": cccd, "ma_the": ma_the or None})
    )


@counter.command("report-lost")
@click.option("--cccd", required=True, help="12-digit CCCD number.")
@click.option("--reason", type=click.Choice(["lost", "stolen", "deceased"]), required=True)
@click.option("--document-number", default="", help="Only this physical card (DG1 document number).")
@click.option("--note", default="")
@_options
def report_lost(
    cccd: str,
    reason: str,
    document_number: str,
    note: str,
    home: Path | None,
    address: str | None,
    terminal: str,
    operator_name: str,
    operator_cccd: str,
) -> None:
    """Report a card lost or stolen (or its holder deceased): later presentations are rejected."""
    try:
        with _client(terminal, home, address) as client:
            report_id = client.report_lost(
                cccd,
                reason,
                Operator(operator_name, operator_cccd),
                document_number=document_number,
                note=note,
            )
    except (GatewayError, FileNotFoundError, ValueError) as exc:
        fail(exc)
    click.echo(json.dumps({"report_id": report_id}))


# The commands of issue 15 (household renewal, data-subject requests) register on this group.
from bhytgate_clients.cli import counter_rights as _counter_rights  # noqa: E402

__all__ = ["_counter_rights", "counter"]
