"""`bhytgate checkin`: the hospital check-in flow against a gateway, from a card dump and photos."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from bhytgate_clients.cli.options import address_option
from bhytgate_clients.sdk import Challenge, Frame, GatewayClient, GatewayError, Operator, VerificationResult

DEFAULT_TERMINALS = {"desk": "desk-01", "kiosk": "kiosk-01", "phone": "phone-01"}
DEMO_OPERATOR = Operator("Lê Thu Hà", "001185000123")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".jp2", ".j2k"}


def read_chip_files(card: Path) -> dict[str, bytes]:
    """The chip's elementary files from a dump directory (lab-only files are ignored)."""
    from bhytgate.chip import load_dump

    return dict(load_dump(card).files)


def expand_frames(paths: Sequence[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(path)
    return out


def capture_for(frames: list[Path], *, raw: bool = False, exclude: Path | None = None) -> Any:
    """The terminal's camera: one fresh frame for a desk, a burst following the actions otherwise.

    The photos stand in for a camera (the card lab's simulated camera puts each on a fresh scene,
    unless `raw`); the card's own chip photo is left out, as a real camera never films the chip."""
    from bhytgate_clients.cardlab.camera import SimulatedCamera

    usable = [p for p in frames if exclude is None or p.resolve() != exclude.resolve()] or frames
    camera = SimulatedCamera(usable, scene=not raw)

    def capture(challenge: Challenge) -> list[Frame]:
        now = int(time.time() * 1000)
        if not challenge.liveness_actions:
            return camera.single(now)
        return camera.burst(challenge.liveness_actions, start_ms=now)

    return capture


def chip_photo_source(card: Path) -> Path | None:
    """The photo the card lab put in DG2 (lab metadata), to keep it out of the live capture."""
    try:
        return Path(json.loads((card / "card.json").read_text(encoding="utf-8"))["photo_source"])
    except (OSError, KeyError, ValueError, TypeError):
        return None


def live_photos(faces: Path, card: Path) -> list[Path]:
    """The labelled photos of a lab card's holder (`faces/labels.csv`), without its chip photo:
    what the simulated camera may show as that person, live."""
    meta = json.loads((card / "card.json").read_text(encoding="utf-8"))
    identity = meta.get("identity") or card.name.split("-", 1)[1]
    rows = (faces / "labels.csv").read_text(encoding="utf-8").splitlines()[1:]
    photos = [faces / line.split(",")[0] for line in rows if line.split(",")[1] == identity]
    source = chip_photo_source(card)
    return [p for p in photos if source is None or p.resolve() != source.resolve()]


def chip_answerer(card: Path) -> Any:
    """The card lab's simulated chip answers INTERNAL AUTHENTICATE; a plain dump cannot."""
    if not (card / "chip_aa_key.pem").exists():
        return None
    from bhytgate_clients.cardlab import SimulatedChip

    return SimulatedChip.from_dump(card).answer_challenge


def print_result(result: VerificationResult) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    colour = {"ACCEPTED": "green", "REJECTED": "red", "REVIEW": "yellow", "RETRY": "cyan"}.get(
        result.decision, "red"
    )
    console.print(f"[bold {colour}]{result.decision}[/]  verification {result.verification_id}")
    if result.retry_message:
        console.print(f"try again: {result.retry_message}")
    if result.review_expire_time is not None:
        console.print(
            f"review case open until {result.review_expire_time.isoformat()} (bhytgate review list)"
        )
    if result.assurance_level:
        console.print(f"assurance level: {result.assurance_level}")
    if result.face_distance is not None:
        console.print(f"face distance {result.face_distance:.3f} (threshold {result.face_threshold:.3f})")
    for code, detail in result.reasons:
        console.print(f"  [{colour}]{code}[/]: {detail}")
    if result.entitlement:
        e = result.entitlement
        table = Table(title="BHYT entitlement", show_header=False)
        for label, key in (
            ("Mã thẻ", "ma_the"),
            ("Họ tên", "ho_ten"),
            ("Ngày sinh", "ngay_sinh"),
            ("Giới tính", "gioi_tinh"),
            ("Mức hưởng", "muc_huong"),
            ("Đối tượng", "doi_tuong"),
            ("Nơi ĐKBĐ", "ma_dkbd"),
            ("", "ten_dkbd"),
            ("Giá trị từ", "gt_the_tu"),
            ("Giá trị đến", "gt_the_den"),
            ("Đủ 5 năm", "ngay_du_5_nam"),
            ("Mã KV", "ma_kv"),
            ("maKetQua", "ma_ket_qua"),
            ("Ghi chú", "ghi_chu"),
        ):
            table.add_row(label, str(e.get(key, "")))
        console.print(table)
    timings = ", ".join(
        f"{k} {v:.0f} ms" for k, v in result.stage_timings.items() if not k.startswith("face.")
    )
    console.print(f"[dim]server stages: {timings}[/]")


@click.command("checkin")
@click.option(
    "--card",
    "card",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Card dump directory (as read from the chip).",
)
@click.option(
    "--frame",
    "frames",
    required=True,
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Face capture: image files or a folder.",
)
@click.option(
    "--terminal-kind", type=click.Choice(["desk", "kiosk", "phone"]), default="desk", show_default=True
)
@click.option("--terminal", help="Dev terminal id (default per kind: desk-01, kiosk-01, phone-01).")
@click.option(
    "--operator-name", default=DEMO_OPERATOR.full_name, show_default=True, help="Staff member (desk)."
)
@click.option("--operator-cccd", default=DEMO_OPERATOR.cccd_number, show_default=True)
@click.option("--no-aa", is_flag=True, help="Do not send the chip's Active Authentication answer.")
@click.option("--raw-frames", is_flag=True, help="Send the files' bytes as they are (no simulated camera).")
@click.option(
    "--save-request",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Record the Verify request sent (to demonstrate `bhytgate replay`).",
)
@click.option("--ma-lk", default="", help="The visit key MA_LK for the QĐ 4750 check-in record.")
@click.option("--ma-bn", default="", help="The facility's patient id MA_BN for the check-in record.")
@click.option(
    "--checkin-record",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the QĐ 4750 check-in record (XML) of an accepted check-in here.",
)
@click.option("--home", type=click.Path(path_type=Path), help="The gateway's data folder (default: found).")
@address_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def checkin(
    card: Path,
    frames: tuple[Path, ...],
    terminal_kind: str,
    terminal: str | None,
    operator_name: str,
    operator_cccd: str,
    no_aa: bool,
    raw_frames: bool,
    save_request: Path | None,
    ma_lk: str,
    ma_bn: str,
    checkin_record: Path | None,
    home: Path | None,
    address: str | None,
    as_json: bool,
) -> None:
    """Verify the holder of CARD with a live capture; print the decision and the entitlement."""
    images = expand_frames(list(frames))
    if not images:
        click.echo("error: no image files among --frame", err=True)
        sys.exit(2)
    try:
        chip_files = read_chip_files(card)
    except Exception as exc:  # a dump that cannot be read is the user's input problem
        click.echo(f"error: {card}: {exc}", err=True)
        sys.exit(2)
    operator = Operator(operator_name, operator_cccd) if terminal_kind == "desk" else None
    try:
        with GatewayClient.local(
            terminal or DEFAULT_TERMINALS[terminal_kind], home=home, address=address
        ) as client:
            result = client.check_in(
                chip_files,
                capture_for(images, raw=raw_frames, exclude=chip_photo_source(card)),
                answer_challenge=None if no_aa else chip_answerer(card),
                terminal_kind=terminal_kind,
                operator=operator,
                checkin={k: v for k, v in (("ma_lk", ma_lk), ("ma_bn", ma_bn)) if v},
            )
            if save_request is not None and client.last_request is not None:
                # The request holds the chip's personal data and face frames: owner-only file.
                fd = os.open(save_request, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(client.last_request.SerializeToString())
    except (GatewayError, FileNotFoundError, ValueError) as exc:  # CameraError is a ValueError
        fail(exc)
    if checkin_record is not None and result.checkin_record is not None:
        checkin_record.write_text(result.checkin_record + "\n", encoding="utf-8")
    finish(result, as_json)


def fail(exc: Exception) -> NoReturn:
    """Unusable input or a refused call: the message (and field violations), exit status 2."""
    click.echo(f"error: {exc}", err=True)
    for field, message in getattr(exc, "violations", []):
        click.echo(f"  {field}: {message}", err=True)
    sys.exit(2)


def finish(result: VerificationResult, as_json: bool) -> NoReturn:
    """Print a decision; exit 0 when accepted, 1 otherwise."""
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        print_result(result)
    sys.exit(0 if result.accepted else 1)


@click.command("replay")
@click.argument("request_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--terminal", default="desk-01", show_default=True)
@click.option("--home", type=click.Path(path_type=Path))
@address_option
@click.option("--json", "as_json", is_flag=True)
def replay(request_file: Path, terminal: str, home: Path | None, address: str | None, as_json: bool) -> None:
    """Send a recorded Verify request again, as an attacker replaying captured traffic would."""
    from bhytgate_client.v1 import gateway_pb2 as pb

    try:
        request = pb.VerifyRequest.FromString(request_file.read_bytes())
    except Exception as exc:  # a file that is not a recorded request is the user's input problem
        click.echo(f"error: {request_file} is not a recorded Verify request: {exc}", err=True)
        sys.exit(2)
    try:
        with GatewayClient.local(terminal, home=home, address=address) as client:
            result = client.send_verify(request)
    except (GatewayError, FileNotFoundError, ValueError) as exc:
        fail(exc)
    finish(result, as_json)
