from __future__ import annotations

import io
import re

from asn1crypto import algos, core, keys
from cardlab_helpers import outer
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from PIL import Image

from bhytgate_clients.cardlab import CardDump, asn1, lds, mrz, sod
from bhytgate_clients.cardlab.citizens import entitlement_from_json

APPLICATION, CONSTRUCTED = 1, 1


def test_every_file_has_its_icao_tag(genuine: CardDump) -> None:
    tags = {"DG1": 1, "DG2": 21, "DG13": 13, "DG14": 14, "DG15": 15, "EF.SOD": 23}
    for name, tag in tags.items():
        class_, method, number, _ = outer(genuine.files[name])
        assert (class_, method, number) == (APPLICATION, CONSTRUCTED, tag), name
    assert genuine.files["DG1"][0] == 0x61
    assert genuine.files["EF.SOD"][0] == 0x77


def test_dg1_is_a_valid_td1_matching_dg13(genuine: CardDump) -> None:
    _, _, _, contents = outer(genuine.files["DG1"])
    assert contents[:2] == b"\x5f\x1f"
    text = asn1.DG1.load(genuine.files["DG1"])["mrz"].native
    assert len(text) == 90
    l1, l2, l3 = text[:30], text[30:60], text[60:]
    cccd = genuine.meta["citizen_id"]
    assert l1.startswith("IDVNM" + cccd[3:])
    assert mrz.check_digit(l1[5:14]) == l1[14]
    assert l1[15:27] == cccd
    assert mrz.check_digit(l2[:6]) == l2[6] and mrz.check_digit(l2[8:14]) == l2[14]
    assert mrz.check_digit(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29]) == l2[29]
    data = lds.parse_dg13(genuine.files["DG13"])
    dd, mm, yyyy = data.date_of_birth.split("/")
    assert l2[:6] == yyyy[2:] + mm + dd
    assert l2[7] == ("M" if data.sex == "Nam" else "F")
    assert l3.startswith(mrz.transliterate(data.full_name.split()[0]) + "<<")
    assert re.fullmatch(r"[A-Z<]{30}", l3)


def test_dg2_is_cbeff_with_an_iso19794_5_jpeg(genuine: CardDump) -> None:
    raw = genuine.files["DG2"]
    assert raw[:1] == b"\x75"
    value = asn1.DG2.load(raw)
    group = value["group"]
    assert group["count"].native == 1
    header = group["instance"]["header"]
    assert header["biometric_type"].native == b"\x02"
    assert header["format_owner"].native == b"\x01\x01" and header["format_type"].native == b"\x00\x08"
    record = group["instance"]["data"].native
    assert record[:8] == b"FAC\x00010\x00"
    assert int.from_bytes(record[8:12], "big") == len(record)
    assert int.from_bytes(record[12:14], "big") == 1
    image_info = record[34:46]
    assert image_info[1] == 0  # JPEG
    width, height = int.from_bytes(image_info[2:4], "big"), int.from_bytes(image_info[4:6], "big")
    jpeg = record[46:]
    assert jpeg[:3] == b"\xff\xd8\xff"
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == "JPEG" and image.size == (width, height)
    assert width <= 480 and height <= 640
    assert b"\x5f\x2e" in raw[:40]
    assert raw.find(b"\x7f\x61") < raw.find(b"\x7f\x60")


def test_dg13_fields_are_vietnamese_personal_data(genuine: CardDump) -> None:
    content = asn1.DG13Content.load(asn1.unwrap_application(13, genuine.files["DG13"]))
    assert content["version"].native == 1
    assert content["encoding"].dotted == "1.0.10646.1.0.8"
    fields = lds.dg13_fields(genuine.files["DG13"])
    assert set(fields) >= set(range(1, 15)) | {16}
    assert fields[1] == [genuine.meta["citizen_id"]]
    assert fields[2] == [genuine.meta["full_name"]]
    assert re.fullmatch(r"\d\d/\d\d/\d{4}", str(fields[3][0]))
    assert fields[4][0] in ("Nam", "Nữ")
    assert fields[5] == ["Việt Nam"]
    assert len(fields[13]) == 2 and all(isinstance(p, list) and len(p) == 1 for p in fields[13])
    assert re.fullmatch(r"[0-9a-f]{16}", str(fields[16][0]))
    # names are UTF8String (tag 0x0C), not PrintableString
    raw_name = core.UTF8String(genuine.meta["full_name"]).dump()
    assert raw_name in genuine.files["DG13"]
    assert lds.dg13(lds.parse_dg13(genuine.files["DG13"])) == genuine.files["DG13"]


def test_dg14_and_dg15_describe_the_aa_key(cards: dict[str, CardDump]) -> None:
    for label, card in cards.items():
        infos = asn1.SecurityInfos.load(asn1.unwrap_application(14, card.files["DG14"]))
        protocols = {core.load(i.dump())[0].dotted for i in infos}
        spki = lds.dg15_public_key(card.files["DG15"])
        expected_spki = card.aa_key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        assert spki.dump() == keys.PublicKeyInfo.load(expected_spki).dump(), label
        assert "0.4.0.127.0.7.2.2.1.2" in protocols  # Chip Authentication public key
        if card.meta["aa"]["kind"] == "ec":
            assert spki["algorithm"]["algorithm"].native == "ec"
            aa = next(
                asn1.ActiveAuthenticationInfo.load(i.dump())
                for i in infos
                if core.load(i.dump())[0].dotted == "2.23.136.1.1.5"
            )
            assert aa["version"].native == 1
            expected = algos.SignedDigestAlgorithmId(card.meta["aa"]["hash"] + "_ecdsa").dotted
            assert aa["signature_algorithm"].dotted == expected
        else:
            assert spki["algorithm"]["algorithm"].native == "rsa"
            assert spki["public_key"].parsed["modulus"].native.bit_length() == card.meta["aa"]["rsa_bits"]
            assert "2.23.136.1.1.5" not in protocols


def test_sod_lists_exactly_the_written_data_groups(genuine: CardDump) -> None:
    _, hashes = sod.data_group_hashes(genuine.files["EF.SOD"])
    assert sorted(hashes) == [1, 2, 13, 14, 15]


def test_entitlement_record_matches_the_model(cards: dict[str, CardDump]) -> None:
    for card in cards.values():
        record = entitlement_from_json(card.entitlement)
        assert re.fullmatch(r"^[A-Z]{2}[1-5][0-9]{2}[0-9]{10}$", record.card_number)
        assert record.card_number[5:] == record.social_insurance_number
        assert record.card_number[3:5] == record.province_code
        assert record.cccd_number == card.meta["citizen_id"]
        assert record.full_name == card.meta["full_name"]
        assert re.fullmatch(r"\d{5}", record.registered_facility)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", card.entitlement["valid_from"])
        assert record.valid_to is not None and record.valid_to > record.valid_from
