"""Issue 13: the alternative LDS OID, per-deployment warnings, validity at the SOD's signing time."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner

from bhytgate.chip import TrustStore, load_dump, verify_chip
from bhytgate.chip.passive import PassivePolicy
from bhytgate.chip.verify import ChipPolicy, ChipReport, chip_policy_from_settings
from bhytgate_clients.cardlab import (
    ATTACKS,
    AttackContext,
    Pki,
    SimulatedChip,
    create_pki,
    issue_card,
    make_citizen,
    write_pki,
)
from bhytgate_clients.cardlab import variants as v
from bhytgate_clients.cardlab.card import CardDump


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pki, Path, TrustStore]:
    root = tmp_path_factory.mktemp("pki")
    pki = write_pki(create_pki(), root)
    return pki, root, TrustStore.from_paths([root / "trust"], crls=[root / "crl"])


@pytest.fixture(scope="module")
def photo(faces_dir: Path) -> Path:
    return faces_dir / "face_recognition" / "examples" / "obama.jpg"


def _verify(card: CardDump, where: Path, store: TrustStore, **kw: object) -> ChipReport:
    card_dir = card.write(where)
    challenge = secrets.token_bytes(32)
    signatures = SimulatedChip.from_dump(card_dir).answer_challenge(challenge)
    return verify_chip(load_dump(card_dir), store, challenge=challenge, aa_signatures=signatures, **kw)  # type: ignore[arg-type]


def test_alternative_lds_security_object_oid(
    lab: tuple[Pki, Path, TrustStore], photo: Path, tmp_path: Path
) -> None:
    pki, _, store = lab
    card = v.alternative_lds_oid(issue_card(pki, make_citizen(3), photo), pki)
    report = _verify(card, tmp_path / "card", store)
    assert report.passive.valid, report.to_json()["passive"]
    assert report.to_json()["passive"]["content_type"] == "1.3.27.1.1.1"


def test_expired_ds_is_a_failure_unless_the_deployment_lists_it(
    lab: tuple[Pki, Path, TrustStore], photo: Path, tmp_path: Path
) -> None:
    pki, _, store = lab
    card = ATTACKS["ds_expired"](issue_card(pki, make_citizen(3), photo), AttackContext(pki))
    strict = _verify(card, tmp_path / "a", store)
    assert strict.passive.chain.reason == "ds_expired"
    lenient = ChipPolicy(passive=PassivePolicy(warn_only=frozenset({"ds_expired"})))
    report = _verify(card, tmp_path / "b", store, policy=lenient)
    assert report.passive.valid, report.to_json()["passive"]
    assert "ds_expired_tolerated" in report.passive.warnings
    assert "ds_expired_tolerated" in report.to_json()["passive"]["warnings"]


def test_signature_hash_anchor_and_revocation_can_never_be_warnings() -> None:
    for finding in ("ds_revoked", "csca_not_found", "ds_signature_invalid", "dg2_hash_mismatch"):
        with pytest.raises(ValueError, match="cannot be a warning"):
            PassivePolicy(warn_only=frozenset({finding}))
    with pytest.raises(ValueError, match="unknown settings"):
        chip_policy_from_settings({"warn_onyl": ["ds_expired"]})
    with pytest.raises(ValueError):
        chip_policy_from_settings({"validity_time": "sometimes"})
    policy = chip_policy_from_settings({"warn_only": ["country_mismatch"], "validity_time": "signing"})
    assert policy.passive.warn_only == frozenset({"country_mismatch"})
    assert policy.passive.validity_time == "signing"


def test_validity_at_signing_time_is_stated(
    lab: tuple[Pki, Path, TrustStore], photo: Path, tmp_path: Path
) -> None:
    """A SOD signed in 2023 by a DS that expired in 2024: valid at signing time, if the policy says so."""
    pki, _, store = lab
    card = ATTACKS["ds_expired"](issue_card(pki, make_citizen(3), photo), AttackContext(pki))
    now = dt.datetime.now(dt.UTC)
    at_verification = _verify(card, tmp_path / "a", store, at=now)
    assert at_verification.passive.chain.reason == "ds_expired"
    assert at_verification.to_json()["passive"]["validity"]["basis"] == "verification_time"
    policy = ChipPolicy(passive=PassivePolicy(validity_time="signing"))
    report = _verify(card, tmp_path / "b", store, at=now, policy=policy)
    assert report.passive.valid, report.to_json()["passive"]
    validity = report.to_json()["passive"]["validity"]
    signed = dt.datetime.fromisoformat(card.meta["sod"]["signing_time"])
    assert validity == {"basis": "signing_time", "at": signed.isoformat()}
    # a revoked DS stays revoked (CRLs judged now), whatever the validity basis
    revoked = ATTACKS["ds_revoked"](issue_card(pki, make_citizen(3), photo), AttackContext(pki))
    assert _verify(revoked, tmp_path / "c", store, policy=policy).passive.chain.reason == "ds_revoked"


def test_cli_warn_only_and_validity_at(
    lab: tuple[Pki, Path, TrustStore], photo: Path, tmp_path: Path
) -> None:
    from bhytgate_clients.cli import main

    pki, root, _ = lab
    card = ATTACKS["ds_expired"](issue_card(pki, make_citizen(3), photo), AttackContext(pki))
    card_dir = card.write(tmp_path / "card")
    base = [
        "chip",
        "verify",
        str(card_dir),
        "--csca",
        str(root / "trust"),
        "--crl",
        str(root / "crl"),
        "--json",
    ]
    runner = CliRunner()
    assert runner.invoke(main, base).exit_code == 1
    ok = runner.invoke(main, [*base, "--warn-only", "ds_expired"])
    assert ok.exit_code == 0, ok.output
    assert "ds_expired_tolerated" in json.loads(ok.output)["passive"]["warnings"]
    signing = runner.invoke(main, [*base, "--validity-at", "signing"])
    assert (
        signing.exit_code == 0
        and json.loads(signing.output)["passive"]["validity"]["basis"] == "signing_time"
    )
    refused = runner.invoke(main, [*base, "--warn-only", "ds_revoked"])
    assert refused.exit_code == 2 and "cannot be a warning" in refused.output


def test_gateway_toml_chip_table_and_cluster_settings(tmp_path: Path) -> None:
    from bhytgate.service.config import load_config, shared_settings

    plain = shared_settings(load_config(tmp_path))["chip"]["passive"]
    # at their defaults the new settings are left out: clusters made before them still match
    assert "warn_only" not in plain and "validity_time" not in plain
    (tmp_path / "gateway.toml").write_text(
        '[chip]\nwarn_only = ["ds_expired"]\nvalidity_time = "signing"\n', encoding="utf-8"
    )
    config = load_config(tmp_path)
    assert config.chip.passive.warn_only == frozenset({"ds_expired"})
    assert config.chip.passive.validity_time == "signing"
    plain = shared_settings(config)["chip"]["passive"]
    assert plain["warn_only"] == ["ds_expired"] and plain["validity_time"] == "signing"
    (tmp_path / "gateway.toml").write_text('[chip]\nwarn_only = ["ds_revoked"]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="cannot be a warning"):
        load_config(tmp_path)
