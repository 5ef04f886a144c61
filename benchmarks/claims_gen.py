"""Generate a hospital claims file (GIAMDINHHS envelope, QĐ 130 / QĐ 4750) for tests and benchmarks.

    python -m benchmarks.claims_gen --dossiers 100000 --out /tmp/claims.xml [--facility 01001]

Each HOSO holds XML1 (TONG_HOP: the fields a reconciliation reads, and the usual others), XML2 (a
few drug rows) and XML3 (a few service rows), each base64-encoded in NOIDUNGFILE as the standard
says; written as it is generated (constant memory). People, cards and times come from a seeded
generator: the same arguments give the same file.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import random
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO
from xml.sax.saxutils import escape

VIETNAM = dt.timezone(dt.timedelta(hours=7))


@dataclasses.dataclass(frozen=True)
class Visit:
    ma_lk: str
    cccd: str
    card: str
    arrival: dt.datetime  # aware
    facility: str
    amount: str = "150000"
    name: str = "NGUYỄN VĂN AN"
    end: dt.datetime | None = None


def minutes(moment: dt.datetime) -> str:
    return moment.astimezone(VIETNAM).strftime("%Y%m%d%H%M")


def xml1(v: Visit) -> bytes:
    end = v.end or v.arrival + dt.timedelta(minutes=50)
    fields = [
        ("MA_LK", v.ma_lk),
        ("STT", "1"),
        ("MA_BN", "BN" + v.ma_lk[-8:]),
        ("HO_TEN", v.name),
        ("SO_CCCD", v.cccd),
        ("NGAY_SINH", "198503120000"),
        ("GIOI_TINH", "1"),
        ("MA_QUOCTICH", "000"),
        ("MA_DANTOC", "01"),
        ("MA_NGHE_NGHIEP", "00000"),
        ("DIA_CHI", "Số 1 Phố Huế, Hai Bà Trưng, Hà Nội"),
        ("MA_THE_BHYT", v.card),
        ("MA_DKBD", v.facility),
        ("GT_THE_TU", "20260101"),
        ("GT_THE_DEN", "20261231"),
        ("LY_DO_VV", "Khám bệnh"),
        ("CHAN_DOAN_VAO", "Viêm họng cấp"),
        ("CHAN_DOAN_RV", "Viêm họng cấp"),
        ("MA_BENH_CHINH", "J02.9"),
        ("MA_DOITUONG_KCB", "1.1"),
        ("NGAY_VAO", minutes(v.arrival)),
        ("NGAY_RA", minutes(end)),
        ("SO_NGAY_DTRI", "0"),
        ("KET_QUA_DTRI", "1"),
        ("MA_LOAI_RV", "1"),
        ("NGAY_TTOAN", minutes(end)),
        ("T_THUOC", "50000"),
        ("T_VTYT", "0"),
        ("T_TONGCHI_BV", v.amount),
        ("T_TONGCHI_BH", v.amount),
        ("T_BNTT", "0"),
        ("T_BNCCT", "0"),
        ("T_BHTT", v.amount),
        ("NAM_QT", str(end.year)),
        ("THANG_QT", str(end.month)),
        ("MA_LOAI_KCB", "01"),
        ("MA_KHOA", "K01"),
        ("MA_CSKCB", v.facility),
    ]
    body = "".join(f"<{k}>{escape(val)}</{k}>" for k, val in fields)
    return f'<?xml version="1.0" encoding="utf-8"?><TONG_HOP>{body}</TONG_HOP>'.encode()


def _rows(root: str, item: str, ma_lk: str, count: int, name: str) -> bytes:
    rows = "".join(
        f"<{item}><MA_LK>{ma_lk}</MA_LK><STT>{i + 1}</STT><MA>{name}{i:03d}</MA>"
        f"<TEN>{name} {i}</TEN><SO_LUONG>1</SO_LUONG><DON_GIA>25000</DON_GIA>"
        f"<THANH_TIEN_BH>25000</THANH_TIEN_BH></{item}>"
        for i in range(count)
    )
    return f'<?xml version="1.0" encoding="utf-8"?><{root}>{rows}</{root}>'.encode()


def file_hoso(kind: str, content: bytes, *, encode: bool = True) -> bytes:
    body = base64.b64encode(content) if encode else content
    return (
        b"<FILEHOSO><LOAIHOSO>"
        + kind.encode()
        + b"</LOAIHOSO><NOIDUNGFILE>"
        + body
        + b"</NOIDUNGFILE></FILEHOSO>"
    )


def hoso(v: Visit, *, extra_tables: bool = True) -> bytes:
    parts = [file_hoso("XML1", xml1(v))]
    if extra_tables:
        parts.append(file_hoso("XML2", _rows("CHITIEU_CHITIET_THUOC", "CHI_TIET_THUOC", v.ma_lk, 3, "THUOC")))
        parts.append(file_hoso("XML3", _rows("CHITIEU_CHITIET_DVKT", "CHI_TIET_DVKT", v.ma_lk, 2, "DV")))
    return b"<HOSO>" + b"".join(parts) + b"</HOSO>\n"


def write_claims(
    out: BinaryIO, facility: str, dossiers: Iterable[bytes], *, count: int, day: dt.date | None = None
) -> None:
    """The envelope around already-built HOSO elements (streamed: `dossiers` may be a generator)."""
    made = (day or dt.date(2026, 11, 30)).strftime("%Y%m%d")
    out.write(
        b'<?xml version="1.0" encoding="utf-8"?>\n<GIAMDINHHS xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        b"<THONGTINDONVI><MACSKCB>" + facility.encode() + b"</MACSKCB></THONGTINDONVI>"
        b"<THONGTINHOSO><NGAYLAP>"
        + made.encode()
        + b"</NGAYLAP><SOLUONGHOSO>"
        + str(count).encode()
        + b"</SOLUONGHOSO><DANHSACHHOSO>\n"
    )
    for item in dossiers:
        out.write(item)
    out.write(b"</DANHSACHHOSO></THONGTINHOSO><CHUKYDONVI></CHUKYDONVI></GIAMDINHHS>\n")


def claims_bytes(facility: str, visits: Iterable[Visit], *, extra_tables: bool = False) -> bytes:
    import io

    items = [hoso(v, extra_tables=extra_tables) for v in visits]
    buf = io.BytesIO()
    write_claims(buf, facility, items, count=len(items))
    return buf.getvalue()


def random_visits(count: int, facility: str, seed: int = 14) -> Iterator[Visit]:
    rng = random.Random(seed)
    start = dt.datetime(2026, 11, 1, 7, 0, tzinfo=VIETNAM)
    for i in range(count):
        bhxh = f"{rng.randrange(10**10):010d}"
        group = rng.choice(["DN", "HT", "TE", "GD", "HN"])
        yield Visit(
            ma_lk=f"{facility}{i:012d}",
            cccd=f"{rng.randrange(10**12):012d}",
            card=f"{group}{rng.randint(1, 5)}01{bhxh}",
            arrival=start + dt.timedelta(minutes=rng.randrange(30 * 24 * 60)),
            facility=facility,
            amount=str(rng.randrange(50, 5000) * 1000),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.claims_gen", description=__doc__)
    parser.add_argument("--dossiers", type=int, default=100_000)
    parser.add_argument("--facility", default="01001")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--out", type=Path, required=True)
    ns = parser.parse_args(argv)
    with ns.out.open("wb") as fh:
        visits = random_visits(ns.dossiers, ns.facility, ns.seed)
        write_claims(fh, ns.facility, (hoso(v) for v in visits), count=ns.dossiers)
    print(f"wrote {ns.out}: {ns.dossiers} dossiers, {ns.out.stat().st_size / 1e6:.1f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
