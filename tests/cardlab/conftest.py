"""Card-lab fixtures: one PKI and a handful of cards per session (RSA key generation is not free)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from bhytgate_clients.cardlab import (
    CardDump,
    IssueOptions,
    Pki,
    create_pki,
    issue_card,
    make_citizen,
    write_pki,
)


def _synthetic_photo(path: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> Path:
    image = Image.new("RGB", size, (200, 190, 180))
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.ellipse((w // 4, h // 6, 3 * w // 4, 5 * h // 6), fill=colour)
    image.save(path)
    return path


@pytest.fixture(scope="session")
def lab_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cardlab")


@pytest.fixture(scope="session")
def pki(lab_dir: Path) -> Pki:
    return write_pki(create_pki(), lab_dir / "pki")


@pytest.fixture(scope="session")
def photo(lab_dir: Path) -> Path:
    """A large PNG: DG2 must come out as a chip-sized JPEG."""
    return _synthetic_photo(lab_dir / "face.png", (1200, 1600), (150, 110, 90))


@pytest.fixture(scope="session")
def other_photo(lab_dir: Path) -> Path:
    return _synthetic_photo(lab_dir / "other.png", (300, 400), (90, 60, 40))


# (ds, aa, hash, rsa_scheme, aa_hash)
CARD_VARIANTS: dict[str, IssueOptions] = {
    "rsa-rsa": IssueOptions(),
    "ec-ec": IssueOptions(ds="ec", aa="ec"),
    "rsa-pss-sha512": IssueOptions(ds="rsa", hash="sha512", rsa_scheme="pss", aa="ec", aa_hash="sha384"),
    "ec-sha1-rsa2048": IssueOptions(ds="ec", hash="sha1", aa="rsa", aa_rsa_bits=2048, aa_hash="sha256"),
    "rsa-sha384-plain": IssueOptions(ds="rsa", hash="sha384", aa="rsa", aa_rsa_min_s=False),
}


@pytest.fixture(scope="session")
def cards(pki: Pki, photo: Path, lab_dir: Path) -> dict[str, CardDump]:
    result = {}
    for index, (label, options) in enumerate(CARD_VARIANTS.items()):
        card = issue_card(pki, make_citizen(index), photo, options, seed=index)
        card.write(lab_dir / "cards" / label)
        result[label] = card
    return result


@pytest.fixture(scope="session")
def genuine(cards: dict[str, CardDump]) -> CardDump:
    return cards["rsa-rsa"]
