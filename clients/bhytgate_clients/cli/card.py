"""`bhytgate card`: the card lab's command line (test PKI, card dumps, attacks, AA answers)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from bhytgate_clients.cardlab import attacks as attack_lib
from bhytgate_clients.cardlab import card as card_lib
from bhytgate_clients.cardlab import chip as chip_lib
from bhytgate_clients.cardlab import citizens as citizen_lib
from bhytgate_clients.cardlab import pki as pki_lib

F = TypeVar("F", bound=Callable[..., Any])


class UsageError(click.ClickException):
    """Unusable input: message on stderr, exit status 2."""

    exit_code = 2


def _guard(func: F) -> F:
    """Turn the library's ValueError/OSError on bad input into a clear message and exit 2."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ValueError, OSError) as exc:
            raise UsageError(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


def _default_faces() -> Path:
    """../shared/faces next to the repository (or $BHYTGATE_SHARED/faces)."""
    env = os.environ.get("BHYTGATE_SHARED")
    if env:
        return Path(env) / "faces"
    for base in (Path.cwd(), *Path.cwd().parents, *Path(__file__).resolve().parents):
        candidate = base.parent / "shared" / "faces"
        if (base / "pyproject.toml").is_file() and candidate.is_dir():
            return candidate
    return Path("../shared/faces")


@click.group()
def card() -> None:
    """Card lab: issue test CCCD cards (genuine and attacks) without a real chip."""


@card.command("pki")
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="PKI directory"
)
@_guard
def pki_cmd(out: Path) -> None:
    """Create the test PKI: CSCAs, link certificate, Document Signers, CRLs."""
    if (out / pki_lib.MANIFEST).exists():
        raise UsageError(f"{out} already holds a PKI; choose another directory")
    pki_lib.write_pki(pki_lib.create_pki(), out)
    click.echo(f"PKI written to {out} (trust anchors in {out / 'trust'}, CRLs in {out / 'crl'})")


@card.command("issue")
@click.option(
    "--pki",
    "pki_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="PKI directory (created if missing)",
)
@click.option(
    "--photo",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="face photo for DG2",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="card dump directory",
)
@click.option(
    "--live-photo",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="another photo of the same person",
)
@click.option("--name", help="full name with diacritics, e.g. 'Nguyễn Văn An'")
@click.option("--cccd", help="12-digit CCCD number")
@click.option("--sex", type=click.Choice(["M", "F"]))
@click.option("--seed", default="1", show_default=True, help="names the fake citizen deterministically")
@click.option(
    "--aa",
    type=click.Choice(["rsa", "ec"]),
    default="rsa",
    show_default=True,
    help="Active Authentication key",
)
@click.option("--aa-bits", type=click.Choice(["1024", "2048"]), default="1024", show_default=True)
@click.option(
    "--aa-hash",
    type=click.Choice(["sha1", "sha224", "sha256", "sha384", "sha512"]),
    help="default: sha1 (RSA), sha256 (EC)",
)
@click.option("--aa-plain-s", is_flag=True, help="RSA AA: send s as is instead of min(s, n-s)")
@click.option(
    "--ds", type=click.Choice(["rsa", "ec"]), default="rsa", show_default=True, help="Document Signer key"
)
@click.option(
    "--hash",
    "hash_name",
    type=click.Choice(["sha1", "sha224", "sha256", "sha384", "sha512"]),
    default="sha256",
    show_default=True,
)
@click.option("--pss", is_flag=True, help="RSA DS: RSASSA-PSS instead of PKCS#1 v1.5")
@click.option(
    "--attack", type=click.Choice(sorted(attack_lib.ATTACKS)), help="issue this attack variant instead"
)
@click.option(
    "--other-photo",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="impostor photo for dg2_swapped",
)
@_guard
def issue_cmd(
    pki_dir: Path,
    photo: Path,
    out: Path,
    live_photo: Path | None,
    name: str | None,
    cccd: str | None,
    sex: str | None,
    seed: str,
    aa: str,
    aa_bits: str,
    aa_hash: str | None,
    aa_plain_s: bool,
    ds: str,
    hash_name: str,
    pss: bool,
    attack: str | None,
    other_photo: Path | None,
) -> None:
    """Issue one card dump (and its entitlement.json)."""
    if attack == "dg2_swapped" and other_photo is None:
        raise UsageError("--attack dg2_swapped needs --other-photo")
    citizen = citizen_lib.make_citizen(seed, sex=sex, full_name=name, cccd=cccd)  # validate before keygen
    pki = pki_lib.ensure_pki(pki_dir)
    options = card_lib.IssueOptions(
        ds="ec" if ds == "ec" else "rsa",
        hash=hash_name,
        rsa_scheme="pss" if pss else "pkcs1",
        aa="ec" if aa == "ec" else "rsa",
        aa_rsa_bits=int(aa_bits),
        aa_hash=aa_hash,
        aa_rsa_min_s=not aa_plain_s,
    )
    dump = card_lib.issue_card(pki, citizen, photo, options, live_photo=live_photo, seed=seed)
    if attack:
        context = attack_lib.AttackContext(pki, other_photo=other_photo)
        dump = attack_lib.apply_attack(attack, dump, context)
    dump.write(out)
    label = f" (attack: {attack})" if attack else ""
    click.echo(f"{citizen.full_name} {citizen.cccd} -> {out}{label}")


@card.command("demo")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--faces", type=click.Path(exists=True, file_okay=False, path_type=Path), help="default: ../shared/faces"
)
@_guard
def demo_cmd(out: Path, faces: Path | None) -> None:
    """A PKI, one genuine card per demo identity, one card per attack, and entitlements.jsonl."""
    from bhytgate_clients.cardlab.demo import build_demo

    summary = build_demo(out, faces or _default_faces())
    click.echo(
        f"{summary.genuine} genuine cards, {summary.attacks} attack cards, PKI and entitlements in {out}"
    )


@card.command("answer")
@click.argument("dump_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--challenge", required=True, help="hex, a multiple of 8 bytes (the gateway sends 32)")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@_guard
def answer_cmd(dump_dir: Path, challenge: str, out: Path) -> None:
    """Answer an Active Authentication challenge as the dump's simulated chip."""
    try:
        raw = bytes.fromhex(challenge)
    except ValueError:
        raise UsageError(f"--challenge is not hex: {challenge!r}") from None
    chip = chip_lib.SimulatedChip.from_dump(dump_dir)
    chip_lib.write_aa_response(out, raw, chip.answer_challenge(raw))
    click.echo(f"{len(raw) // chip_lib.CHUNK} signatures written to {out}")


@card.command("attacks")
@click.option("--json", "as_json", is_flag=True, help="machine-readable")
def attacks_cmd(as_json: bool) -> None:
    """List the attack variants."""
    if as_json:
        rows = [
            {"name": a.name, "description": a.description, "expect": a.expect}
            for a in attack_lib.ATTACKS.values()
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(name) for name in attack_lib.ATTACKS)
    for attack in attack_lib.ATTACKS.values():
        click.echo(f"{attack.name:<{width}}  {attack.description}")
