"""The streaming GIAMDINHHS reader and XML1: both encodings, every kind of bad input, hostile XML."""

from __future__ import annotations

import base64
import datetime as dt
import decimal

import pytest

from benchmarks.claims_gen import VIETNAM, Visit, claims_bytes, file_hoso, hoso, write_claims, xml1
from bhytgate.claims.envelope import ClaimsFileError, EnvelopeReader, RawDossier
from bhytgate.claims.xml1 import Problem, Xml1, parse_payload

T = dt.datetime(2026, 11, 30, 8, 15, tzinfo=VIETNAM)
VISIT = Visit("LK0001", "001085012345", "DN4010123456789", T, "01001", amount="215000.50")

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
"""
EXTERNAL = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>"""


def read_all(data: bytes, chunk: int = 7, **kw: int) -> tuple[EnvelopeReader, list[RawDossier]]:
    reader = EnvelopeReader(**kw)
    out: list[RawDossier] = []
    for i in range(0, len(data), chunk):
        out += reader.feed(data[i : i + chunk])
    out += reader.close()
    return reader, out


def envelope(*items: bytes) -> bytes:
    import io

    buf = io.BytesIO()
    write_claims(buf, "01001", items, count=len(items))
    return buf.getvalue()


def parsed(raw: RawDossier) -> Xml1 | Problem:
    if raw.payload is None:
        return Problem(raw.problem or "")
    return parse_payload(raw.payload, "01001")


def test_a_base64_dossier_is_read_field_by_field_across_tiny_chunks() -> None:
    reader, out = read_all(claims_bytes("01001", [VISIT], extra_tables=True), chunk=5)
    assert reader.facility == "01001" and reader.declared_count == 1
    assert [d.index for d in out] == [1]
    visit = parsed(out[0])
    assert isinstance(visit, Xml1)
    assert visit.ma_lk == "LK0001" and visit.facility == "01001" and visit.cccd == "001085012345"
    assert visit.cards == ("DN4010123456789",)
    assert visit.arrival == T and visit.end == T + dt.timedelta(minutes=50)
    assert visit.amount == decimal.Decimal("215000.50")


def test_plain_xml_inline_and_as_text_are_accepted_too() -> None:
    inline = file_hoso("XML1", xml1(VISIT).split(b"?>", 1)[1], encode=False)
    cdata = file_hoso("XML1", b"<![CDATA[" + xml1(VISIT) + b"]]>", encode=False)
    _, out = read_all(envelope(b"<HOSO>" + inline + b"</HOSO>", b"<HOSO>" + cdata + b"</HOSO>"))
    assert [type(parsed(d)) for d in out] == [Xml1, Xml1]
    assert all(parsed(d) == parsed(out[0]) for d in out)


def test_other_tables_are_skipped_and_kept_nowhere() -> None:
    big = file_hoso("XML2", b"<X>" + b"y" * 300_000 + b"</X>")
    _, out = read_all(envelope(b"<HOSO>" + big + file_hoso("XML1", xml1(VISIT)) + b"</HOSO>"), chunk=4096)
    assert isinstance(parsed(out[0]), Xml1)


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (file_hoso("XML1", b"not base64!!", encode=False), "neither base64 nor XML"),
        (file_hoso("XML1", b"decodes, but to no XML"), "not well-formed XML (line 1"),
        (b"<FILEHOSO><LOAIHOSO>XML1</LOAIHOSO><NOIDUNGFILE>@@@@</NOIDUNGFILE></FILEHOSO>", "neither base64"),
        (file_hoso("XML1", b"<TONG_HOP><MA_LK>x</MA_LK>"), "not well-formed XML (line 1"),
        (file_hoso("XML1", BILLION_LAUGHS + b"<TONG_HOP><MA_LK>&lol3;</MA_LK></TONG_HOP>"), "DTD"),
        (file_hoso("XML1", EXTERNAL + b"<TONG_HOP><MA_LK>&xxe;</MA_LK></TONG_HOP>"), "DTD"),
        (file_hoso("XML2", b"<A/>"), "no FILEHOSO of LOAIHOSO XML1"),
        (file_hoso("XML1", xml1(VISIT)) * 2, "more than one XML1"),
        (file_hoso("XML1", b"<TONG_HOP><STT>1</STT></TONG_HOP>"), "has no MA_LK"),
        (file_hoso("XML1", b""), "NOIDUNGFILE is empty"),
    ],
)
def test_a_bad_dossier_is_one_unparseable_with_its_reason(item: bytes, reason: str) -> None:
    _, out = read_all(envelope(hoso(VISIT, extra_tables=False), b"<HOSO>" + item + b"</HOSO>"))
    assert isinstance(parsed(out[0]), Xml1)
    problem = parsed(out[1])
    assert isinstance(problem, Problem), problem
    assert reason in problem.reason
    assert "001085012345" not in problem.reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"NGAY_VAO": "2026113"}, "NGAY_VAO"),
        ({"NGAY_VAO": "202613301200"}, "NGAY_VAO"),
        ({"NGAY_RA": "202611290000"}, "NGAY_RA is before"),
        ({"T_BHTT": "12,5"}, "T_BHTT"),
        ({"T_BHTT": "-1000000000"}, "T_BHTT"),  # a negative claim would hide others in the totals
        ({"MA_CSKCB": "1001"}, "MA_CSKCB"),
        ({"SO_CCCD": "123456789", "MA_THE_BHYT": "XX"}, "neither a 12-digit SO_CCCD"),
        ({"MA_LK": ""}, "MA_LK is empty"),
    ],
)
def test_fields_are_checked_and_named(change: dict[str, str], reason: str) -> None:
    fields = {
        "MA_LK": "LK1",
        "MA_CSKCB": "01001",
        "NGAY_VAO": "202611300815",
        "NGAY_RA": "202611300905",
        "T_BHTT": "1000",
        "SO_CCCD": "001085012345",
        "MA_THE_BHYT": "DN4010123456789",
    }
    fields.update(change)
    problem = parse_payload(fields)
    assert isinstance(problem, Problem) and reason in problem.reason


def test_a_new_card_during_the_stay_gives_both_codes_and_an_old_cmnd_matches_by_card() -> None:
    visit = parse_payload(
        {
            "MA_LK": "LK1",
            "MA_CSKCB": "01001",
            "NGAY_VAO": "202611300815",
            "T_BHTT": "0",
            "SO_CCCD": "012345678",
            "MA_THE_BHYT": "DN4010123456789;HT3010123456789",
        }
    )
    assert isinstance(visit, Xml1) and visit.cccd is None
    assert visit.cards == ("DN4010123456789", "HT3010123456789")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<OTHER><X/></OTHER>", "root element is OTHER, expected GIAMDINHHS"),
        (BILLION_LAUGHS + b"<GIAMDINHHS>&lol3;</GIAMDINHHS>", "declares a DTD"),
        (EXTERNAL + b"<GIAMDINHHS>&xxe;</GIAMDINHHS>", "declares a DTD"),
        (b"", "empty"),
        (b"\x00\x01binary", "not well-formed XML at line 1"),
        (b"<GIAMDINHHS>" + b"<a>" * 100, "nested deeper than 64"),
    ],
)
def test_a_file_that_is_not_a_claims_file_is_one_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(ClaimsFileError, match=message):
        read_all(data)


def test_a_file_broken_mid_way_reports_the_dossiers_before_and_where_it_broke() -> None:
    good = claims_bytes("01001", [VISIT, VISIT])
    cut = good[: good.index(b"</HOSO>") + 7] + b"<HOSO><FILEHOSO></HOSO>"
    reader = EnvelopeReader()
    with pytest.raises(ClaimsFileError, match=r"line \d+, column \d+ \(after 2 dossier"):
        done = reader.feed(cut)
        assert len(done) == 1
        reader.close()
    truncated = good[: len(good) // 2]
    with pytest.raises(ClaimsFileError, match="not well-formed"):
        read_all(truncated, chunk=1 << 20)


def test_an_oversized_xml1_is_refused_without_keeping_it() -> None:
    huge = file_hoso("XML1", xml1(VISIT) + b"<!--" + b"x" * 50_000 + b"-->")
    _, out = read_all(
        envelope(b"<HOSO>" + huge + b"</HOSO>", hoso(VISIT, extra_tables=False)), max_xml1_bytes=4096
    )
    assert out[0].payload is None and "larger than" in (out[0].problem or "")
    assert isinstance(parsed(out[1]), Xml1)


def test_base64_with_line_breaks_is_accepted() -> None:
    wrapped = base64.encodebytes(xml1(VISIT))  # 76-character lines
    item = (
        b"<HOSO><FILEHOSO><LOAIHOSO>XML1</LOAIHOSO><NOIDUNGFILE>"
        + wrapped
        + b"</NOIDUNGFILE></FILEHOSO></HOSO>"
    )
    _, out = read_all(envelope(item))
    assert isinstance(parsed(out[0]), Xml1)


@pytest.mark.parametrize(
    "opening", [b"<GIAMDINHHS><X", b'<GIAMDINHHS><X a="', b"<GIAMDINHHS><!--", b"<GIAMDINHHS><?pi "]
)
def test_one_endless_token_is_refused_before_the_parser_holds_it(opening: bytes) -> None:
    """expat keeps a tag, attribute, comment or PI whole until it ends: the reader refuses any run of
    more than MAX_RUN_BYTES without a '>' (found by an attack run: 200 MB cost the server 1 GB)."""
    from bhytgate.claims.envelope import MAX_RUN_BYTES

    reader = EnvelopeReader()
    reader.feed(opening)
    chunk = b"A" * (1024 * 1024)
    with pytest.raises(ClaimsFileError, match="longer than 8 MiB"):
        for _ in range(MAX_RUN_BYTES // len(chunk) + 2):
            reader.feed(chunk)
    assert reader.bytes_read <= MAX_RUN_BYTES + 2 * len(chunk)


def test_one_huge_chunk_is_checked_slice_by_slice() -> None:
    reader = EnvelopeReader()
    with pytest.raises(ClaimsFileError, match="longer than"):
        reader.feed(b"<GIAMDINHHS><X a='" + b"A" * (9 * 1024 * 1024) + b"'/></GIAMDINHHS>")


def test_a_long_base64_text_is_no_token() -> None:
    """The bound leaves room for the largest XML1 a dossier may carry, as base64 text."""
    item = hoso(VISIT)
    _, out = read_all(envelope(item), chunk=1024 * 1024)
    assert len(out) == 1


def test_an_encoding_python_cannot_decode_is_a_clear_error_or_one_unparseable_dossier() -> None:
    with pytest.raises(ClaimsFileError, match="unsupported character encoding"):
        read_all(b'<?xml version="1.0" encoding="x-bogus"?><GIAMDINHHS/>', chunk=1024)
    for encoding in (b"utf-32", b"x-bogus", b"utf-7"):
        bad = b'<?xml version="1.0" encoding="' + encoding + b'"?><TONG_HOP><MA_LK>1</MA_LK></TONG_HOP>'
        _, out = read_all(envelope(hoso(VISIT), b"<HOSO>" + file_hoso("XML1", bad) + b"</HOSO>"), chunk=4096)
        results = [parsed(r) for r in out]
        assert isinstance(results[0], Xml1), results[0]  # the good dossier before it is kept
        assert isinstance(results[1], Problem) and "encoding" in results[1].reason, results[1]
