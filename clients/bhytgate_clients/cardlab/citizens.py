"""Deterministic fake Vietnamese citizens, their BHYT entitlements, and the demo photo set.

Everything is drawn from `random.Random(seed)`, so a seed names a citizen: the same seed gives the
same person, numbers and card on every machine.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

from bhytgate.entitlement.model import Entitlement

NATIONALITY = "Việt Nam"


@dataclasses.dataclass(frozen=True, slots=True)
class Province:
    name: str
    code: str  # 2-digit administrative code; a CCCD number starts with "0" + code
    origins: tuple[str, ...]
    residences: tuple[str, ...]
    facilities: tuple[tuple[str, str], ...]  # (maDKBD, name)
    office: str  # cqBHXH


PROVINCES: tuple[Province, ...] = (
    Province(
        "Hà Nội",
        "01",
        ("Xã Vân Canh, Huyện Hoài Đức, Hà Nội", "Xã Đông Ngạc, Huyện Từ Liêm, Hà Nội"),
        ("Phường Dịch Vọng, Quận Cầu Giấy, Hà Nội", "Phường Kim Liên, Quận Đống Đa, Hà Nội"),
        (("01013", "Bệnh viện Đa khoa Đống Đa"), ("01029", "Trạm Y tế Phường Dịch Vọng")),
        "BHXH thành phố Hà Nội",
    ),
    Province(
        "Hồ Chí Minh",
        "79",
        (
            "Phường 7, Quận Gò Vấp, Thành phố Hồ Chí Minh",
            "Xã Tân Thông Hội, Huyện Củ Chi, Thành phố Hồ Chí Minh",
        ),
        ("Phường Bến Nghé, Quận 1, Thành phố Hồ Chí Minh", "Phường 12, Quận Tân Bình, Thành phố Hồ Chí Minh"),
        (("79024", "Bệnh viện Quận 1"), ("79071", "Bệnh viện Quận Tân Bình")),
        "BHXH Thành phố Hồ Chí Minh",
    ),
    Province(
        "Đà Nẵng",
        "48",
        ("Xã Hòa Phong, Huyện Hòa Vang, Đà Nẵng",),
        ("Phường Hải Châu I, Quận Hải Châu, Đà Nẵng", "Phường An Hải Bắc, Quận Sơn Trà, Đà Nẵng"),
        (("48004", "Trung tâm Y tế Quận Hải Châu"),),
        "BHXH thành phố Đà Nẵng",
    ),
    Province(
        "Hải Phòng",
        "31",
        ("Xã An Đồng, Huyện An Dương, Hải Phòng",),
        ("Phường Máy Tơ, Quận Ngô Quyền, Hải Phòng",),
        (("31011", "Bệnh viện Đa khoa Quận Ngô Quyền"),),
        "BHXH thành phố Hải Phòng",
    ),
    Province(
        "Nghệ An",
        "40",
        ("Xã Nghi Phong, Huyện Nghi Lộc, Nghệ An", "Xã Diễn Kỷ, Huyện Diễn Châu, Nghệ An"),
        ("Phường Hưng Bình, Thành phố Vinh, Nghệ An",),
        (("40030", "Bệnh viện Đa khoa Thành phố Vinh"),),
        "BHXH tỉnh Nghệ An",
    ),
    Province(
        "Cần Thơ",
        "92",
        ("Xã Thới Hưng, Huyện Cờ Đỏ, Cần Thơ",),
        ("Phường An Hòa, Quận Ninh Kiều, Cần Thơ",),
        (("92018", "Bệnh viện Đa khoa Quận Ninh Kiều"),),
        "BHXH thành phố Cần Thơ",
    ),
)

FAMILY_NAMES = (
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
)
MIDDLE = {"M": ("Văn", "Hữu", "Đức", "Minh", "Quang", "Công"), "F": ("Thị", "Ngọc", "Thu", "Thanh", "Bích")}
GIVEN = {
    "M": ("An", "Bình", "Dũng", "Hùng", "Khoa", "Long", "Nam", "Phúc", "Quân", "Sơn", "Tuấn", "Việt"),
    "F": ("Anh", "Chi", "Hà", "Hạnh", "Hoa", "Lan", "Linh", "Mai", "Phương", "Thảo", "Trang", "Yến"),
}
# beneficiary group -> benefit code (mức hưởng), for the working-age groups the lab draws from
GROUPS = (("DN", 4), ("HC", 4), ("GD", 4), ("CN", 3), ("HN", 2))
CARD_MILESTONES = (25, 40, 60)  # a CCCD is renewed at these ages; none after 58 at issue


@dataclasses.dataclass(frozen=True, slots=True)
class Citizen:
    """One fake person: what the chip's DG1/DG13 and the BHYT record say about them."""

    cccd: str
    family_name: str
    middle_name: str
    given_name: str
    sex: str  # "M" | "F"
    date_of_birth: dt.date
    province: Province
    place_of_origin: str
    place_of_residence: str
    ethnicity: str
    religion: str
    identifying_marks: str
    issue_date: dt.date
    expiry_date: dt.date | None
    father: str
    mother: str
    spouse: str | None
    old_id: str | None
    bhxh: str
    opaque: str

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.family_name, self.middle_name, self.given_name) if p)

    @property
    def given_names(self) -> str:
        return " ".join(p for p in (self.middle_name, self.given_name) if p)


def _birthday(born: dt.date, age: int) -> dt.date:
    try:
        return born.replace(year=born.year + age)
    except ValueError:  # 29 February
        return born.replace(year=born.year + age, day=28)


def card_expiry(born: dt.date, issued: dt.date) -> dt.date | None:
    """The next renewal birthday, skipping one that falls within two years of issue (Luật CCCD art. 21)."""
    for age in CARD_MILESTONES:
        if issued < _birthday(born, age - 2):
            return _birthday(born, age)
    return None


def _digits(rng: random.Random, count: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(count))


def _random_date(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randrange((end - start).days + 1))


def cccd_number(province: Province, sex: str, born: dt.date, serial: str) -> str:
    """Province (3 digits), century+sex digit (0/1 for 1900s male/female, 2/3 for 2000s), YY, 6 digits."""
    century = (born.year // 100 - 19) * 2 + (1 if sex == "F" else 0)
    return f"0{province.code}{century}{born.year % 100:02d}{serial}"


def split_name(full_name: str) -> tuple[str, str, str]:
    parts = full_name.split()
    if len(parts) < 2:
        raise ValueError(f"a Vietnamese full name has a family and a given name: {full_name!r}")
    return parts[0], " ".join(parts[1:-1]), parts[-1]


def make_citizen(
    seed: int | str,
    *,
    sex: str | None = None,
    full_name: str | None = None,
    cccd: str | None = None,
) -> Citizen:
    """A deterministic citizen from `seed`; name, sex and CCCD number may be imposed."""
    rng = random.Random(f"cardlab-citizen:{seed}")
    ascii_digits = cccd is not None and cccd.isascii() and cccd.isdigit()
    if cccd is not None and (len(cccd) != 12 or not ascii_digits or cccd[3] not in "0123"):
        raise ValueError(f"a CCCD number has 12 digits, the fourth 0-3 (century and sex): {cccd!r}")
    if sex is None and cccd is not None:
        sex = "M" if int(cccd[3]) % 2 == 0 else "F"
    if sex is None and full_name:
        words = full_name.split()
        sex = "F" if "Thị" in words else "M" if "Văn" in words else None
    sex = sex or rng.choice(("M", "F"))
    if sex not in ("M", "F"):
        raise ValueError("sex must be M or F")
    province = rng.choice(PROVINCES)
    born = _random_date(rng, dt.date(1970, 1, 1), dt.date(2004, 12, 31))
    issued = _random_date(rng, dt.date(2021, 1, 1), dt.date(2024, 6, 30))
    if cccd is not None:
        # keep DG1/DG13 consistent with what the number encodes: province, century+sex, birth year
        province = next((p for p in PROVINCES if cccd[1:3] == p.code), province)
        year = 1900 + 100 * (int(cccd[3]) // 2) + int(cccd[4:6])
        born = _birthday(born.replace(year=2000), year - 2000)
        issued = max(issued, _birthday(born, 14))  # a CCCD is issued from age 14
    if full_name:
        family, middle, given = split_name(full_name)
    else:
        family = rng.choice(FAMILY_NAMES)
        middle, given = rng.choice(MIDDLE[sex]), rng.choice(GIVEN[sex])
    serial = _digits(rng, 6)
    father = f"{family} {rng.choice(MIDDLE['M'])} {rng.choice(GIVEN['M'])}"
    mother = f"{rng.choice(FAMILY_NAMES)} {rng.choice(MIDDLE['F'])} {rng.choice(GIVEN['F'])}"
    other = "M" if sex == "F" else "F"
    married = born.year < 1996 and rng.random() < 0.7
    spouse = f"{rng.choice(FAMILY_NAMES)} {rng.choice(MIDDLE[other])} {rng.choice(GIVEN[other])}"
    old_id = _digits(rng, 9) if born.year < 2000 else None
    marks = rng.choice(
        (
            "Nốt ruồi C:2cm dưới sau đuôi mắt trái",
            "Sẹo chấm C:1cm trên trước đầu mày phải",
            "Nốt ruồi C:1,5cm trên mép phải",
        )
    )
    # A card that reached its renewal age was renewed: the demo holds the card in force today
    # (issued within a month after the old one expired).
    expiry = card_expiry(born, issued)
    while expiry is not None and expiry < dt.date.today():
        issued = expiry + dt.timedelta(days=rng.randrange(1, 30))
        expiry = card_expiry(born, issued)
    return Citizen(
        cccd=cccd or cccd_number(province, sex, born, serial),
        family_name=family,
        middle_name=middle,
        given_name=given,
        sex=sex,
        date_of_birth=born,
        province=province,
        place_of_origin=rng.choice(province.origins),
        place_of_residence=f"Số {rng.randrange(1, 200)}, {rng.choice(province.residences)}",
        ethnicity="Kinh" if rng.random() < 0.9 else rng.choice(("Tày", "Thái", "Mường", "Khmer")),
        religion="Không" if rng.random() < 0.8 else rng.choice(("Phật giáo", "Công giáo")),
        identifying_marks=marks,
        issue_date=issued,
        expiry_date=expiry,
        father=father,
        mother=mother,
        spouse=spouse if married else None,
        old_id=old_id,
        bhxh=province.code + _digits(rng, 8),
        opaque=f"{rng.getrandbits(64):016x}",
    )


def entitlement_for(citizen: Citizen, seed: int | str, today: dt.date | None = None) -> Entitlement:
    """A BHYT card valid from 1 January of this year to 31 December of the next."""
    rng = random.Random(f"cardlab-entitlement:{seed}")
    today = today or dt.date.today()
    group, benefit = rng.choice(GROUPS)
    facility, facility_name = rng.choice(citizen.province.facilities)
    five_years = _random_date(rng, dt.date(2015, 1, 1), dt.date(2024, 12, 31)) if rng.random() < 0.5 else None
    return Entitlement(
        card_number=f"{group}{benefit}{citizen.province.code}{citizen.bhxh}",
        social_insurance_number=citizen.bhxh,
        cccd_number=citizen.cccd,
        full_name=citizen.full_name,
        date_of_birth=citizen.date_of_birth.strftime("%d/%m/%Y"),
        sex="Nam" if citizen.sex == "M" else "Nữ",
        address=citizen.place_of_residence,
        beneficiary_group=group,
        benefit_code=benefit,
        province_code=citizen.province.code,
        registered_facility=facility,
        registered_facility_name=facility_name,
        issuing_office=citizen.province.office,
        valid_from=dt.date(today.year, 1, 1),
        valid_to=dt.date(today.year + 1, 12, 31),
        area_code=rng.choice((None, None, "K1", "K2", "K3")),
        five_year_date=five_years,
    )


def entitlement_json(entitlement: Entitlement) -> dict[str, Any]:
    """dataclasses.asdict with dates as ISO yyyy-mm-dd."""
    return {
        key: value.isoformat() if isinstance(value, dt.date) else value
        for key, value in dataclasses.asdict(entitlement).items()
    }


def entitlement_from_json(data: dict[str, Any]) -> Entitlement:
    fields = {f.name: f for f in dataclasses.fields(Entitlement)}
    values: dict[str, Any] = {
        key: dt.date.fromisoformat(value)
        if isinstance(value, str) and "date" in str(fields[key].type)
        else value
        for key, value in data.items()
    }
    return Entitlement(**values)


def write_entitlement(entitlement: Entitlement, path: Path) -> None:
    path.write_text(
        json.dumps(entitlement_json(entitlement), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )


# --- the demo photo set ---------------------------------------------------------------------------

# Sex of the people in ../shared/faces (public figures and TV characters), for DG1/DG13 consistency.
IDENTITY_SEX = {
    "obama": "M",
    "biden": "M",
    "alex_lacamoire": "M",
    "kit_harington": "M",
    "rose_leslie": "F",
    "lin_manuel_miranda": "M",
    "amy": "F",
    "bernadette": "F",
    "howard": "M",
    "leonard": "M",
    "penny": "F",
    "raj": "M",
    "sheldon": "M",
    "stuart": "M",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    name: str
    photos: tuple[Path, ...]

    @property
    def sex(self) -> str | None:
        return IDENTITY_SEX.get(self.name)


def load_identities(faces_dir: Path) -> list[Identity]:
    """labels.csv grouped by identity, in file order; photos resolved against `faces_dir`."""
    labels = faces_dir / "labels.csv"
    if not labels.is_file():
        raise FileNotFoundError(f"{labels} not found")
    grouped: dict[str, list[Path]] = {}
    with labels.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            grouped.setdefault(row["identity"], []).append(faces_dir / row["path"])
    return [Identity(name, tuple(paths)) for name, paths in grouped.items()]
