from __future__ import annotations

import json
from pathlib import Path

import pytest
from cardlab_helpers import aa_ok, public_key
from click.testing import CliRunner

from bhytgate_clients.cardlab import ATTACKS, Pki, lds
from bhytgate_clients.cardlab.citizens import entitlement_from_json
from bhytgate_clients.cli import main
from bhytgate_clients.cli.card import card


def test_top_level_script_finds_the_card_group() -> None:
    result = CliRunner().invoke(main, ["card", "--help"])
    assert result.exit_code == 0 and "issue" in result.output


def test_attacks_lists_every_attack() -> None:
    result = CliRunner().invoke(card, ["attacks", "--json"])
    assert result.exit_code == 0
    assert [row["name"] for row in json.loads(result.output)] == list(ATTACKS)


def test_issue_creates_the_pki_and_a_dump_then_answers(tmp_path: Path, photo: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "card"
    args = ["issue", "--pki", str(tmp_path / "pki"), "--photo", str(photo), "--out", str(out)]
    result = runner.invoke(
        card, [*args, "--name", "Nguyễn Văn An", "--cccd", "079203001234", "--aa", "ec", "--ds", "ec"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "pki" / "pki.json").is_file()
    for name in (
        "EF.SOD",
        "DG1",
        "DG2",
        "DG13",
        "DG14",
        "DG15",
        "chip_aa_key.pem",
        "card.json",
        "entitlement.json",
    ):
        assert (out / name).is_file(), name
    data = lds.parse_dg13((out / "DG13").read_bytes())
    assert data.full_name == "Nguyễn Văn An" and data.id_number == "079203001234" and data.sex == "Nam"
    entitlement = entitlement_from_json(json.loads((out / "entitlement.json").read_text()))
    assert entitlement.cccd_number == "079203001234"
    challenge = "00112233445566778899aabbccddeeff" * 2
    answer = tmp_path / "aa.json"
    result = runner.invoke(card, ["answer", str(out), "--challenge", challenge, "--out", str(answer)])
    assert result.exit_code == 0, result.output
    response = json.loads(answer.read_text())
    key = public_key(lds.dg15_public_key((out / "DG15").read_bytes()))
    assert aa_ok(
        key, bytes.fromhex(response["challenge"]), [bytes.fromhex(s) for s in response["signatures"]]
    )


def test_issue_an_attack(tmp_path: Path, photo: Path, pki: Pki) -> None:
    root = pki.root
    assert root is not None
    out = tmp_path / "attack"
    result = CliRunner().invoke(
        card,
        [
            "issue",
            "--pki",
            str(root),
            "--photo",
            str(photo),
            "--out",
            str(out),
            "--attack",
            "ds_revoked",
            "--seed",
            "9",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "card.json").read_text())["attack"] == "ds_revoked"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["answer", ".", "--challenge", "zz", "--out", "x.json"], "not hex"),
        (["issue", "--pki", "p", "--photo", "PHOTO", "--out", "o", "--cccd", "123"], "12 digits"),
        (
            ["issue", "--pki", "p", "--photo", "PHOTO", "--out", "o", "--attack", "dg2_swapped"],
            "--other-photo",
        ),
        (["issue", "--pki", "p", "--photo", "PHOTO", "--out", "o", "--name", "Single"], "family"),
    ],
)
def test_unusable_input_exits_2(
    tmp_path: Path, photo: Path, args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = [str(photo) if a == "PHOTO" else a for a in args]
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(card, args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_answer_on_a_non_dump_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        card, ["answer", str(tmp_path), "--challenge", "00" * 32, "--out", str(tmp_path / "a.json")]
    )
    assert result.exit_code == 2


def test_pki_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(card, ["pki", "--out", str(tmp_path / "pki")]).exit_code == 0
    assert runner.invoke(card, ["pki", "--out", str(tmp_path / "pki")]).exit_code == 2


def test_demo_from_the_shared_faces(tmp_path: Path, faces_dir: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(card, ["demo", "--out", str(out), "--faces", str(faces_dir)])
    assert result.exit_code == 0, result.output
    genuine = sorted((out / "cards").iterdir())
    assert len(genuine) >= 10
    assert {p.name for p in (out / "attacks").iterdir()} >= set(ATTACKS)
    lines = (out / "entitlements.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(genuine)
    numbers = {json.loads(line)["cccd_number"] for line in lines}
    assert len(numbers) == len(lines)
    meta = json.loads((genuine[0] / "card.json").read_text())
    assert Path(meta["photo_source"]).is_file() and Path(meta["live_photo"]).is_file()
    assert meta["photo_source"] != meta["live_photo"]
    swapped = json.loads((out / "attacks" / "dg2_swapped" / "card.json").read_text())
    assert swapped["impostor_photo"] != meta["photo_source"]
