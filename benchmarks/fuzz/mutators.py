"""Structure-aware mutators: change one part of a structure and keep the rest of it well formed.

Byte-level mutation of a DER file almost always breaks an outer length, so the parser stops at the
first TLV and the inner parsers are never reached. These mutators parse the input into its
structure (BER TLV tree, protobuf wire fields, PNG chunks / JPEG segments / JP2 boxes, delimited
text), change one node (its bytes via `byte_mutate`, its tag, its length encoding, delete,
duplicate, swap, splice a node from another seed, extreme integers, known OIDs), then re-encode
with lengths and CRCs fixed up. Half of the time a worker uses libFuzzer's own mutation instead.

`byte_mutate(data, max_size)` is `atheris.Mutate` under atheris (libFuzzer's mutations, including
its dictionary), or `simple_byte_mutate` without it.
"""

from __future__ import annotations

import dataclasses
import random
import struct
import zlib
from collections.abc import Callable, Sequence

ByteMutate = Callable[[bytes, int], bytes]
Mutator = Callable[[bytes, int, int], bytes]

MAX_DEPTH = 40
INTERESTING_INTS = (
    b"",
    b"\x00",
    b"\x01",
    b"\x7f",
    b"\x80",
    b"\xff",
    b"\x00\x80",
    b"\x7f\xff\xff\xff",
    b"\x80\x00\x00\x00",
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff",
    b"\x01" + b"\x00" * 40,
    b"\x7f" + b"\xff" * 600,
)
UNIVERSAL_TAGS = (0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0A, 0x0C, 0x13, 0x16, 0x17, 0x18, 0x1E, 0x30, 0x31)
CONTEXT_TAGS = (0x80, 0x81, 0x82, 0xA0, 0xA1, 0xA2, 0xA3)


def simple_byte_mutate(data: bytes, max_size: int, rng: random.Random | None = None) -> bytes:
    """A small libFuzzer-like byte mutator for the coverage-less engine."""
    rng = rng or random.Random()
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        if op == 0 and out:
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
        elif op == 1 and out:
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif op == 2:
            i = rng.randint(0, len(out))
            out[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 3 and out:
            i = rng.randrange(len(out))
            del out[i : i + rng.randint(1, 16)]
        elif op == 4 and out:
            i, j = sorted(rng.randrange(len(out)) for _ in range(2))
            out[rng.randint(0, len(out)) : 0] = out[i : j + 1]
        elif op == 5 and out:
            i = rng.randrange(len(out))
            out[i : i + 4] = rng.choice((b"\x00", b"\xff", b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00"))
        elif op == 6 and out:
            del out[rng.randrange(len(out)) :]
    return bytes(out[:max_size])


# --- BER TLV -------------------------------------------------------------------------------------


@dataclasses.dataclass
class Node:
    ident: bytes
    children: list[Node] | None  # None: primitive (or not parsed)
    value: bytes
    form: str = "min"  # "min" | "long" | "indef" | "lie"
    lie: int = 0


def _parse_length(data: bytes, i: int) -> tuple[int | None, int]:
    """(length or None for indefinite, index after the length octets)."""
    first = data[i]
    i += 1
    if first < 0x80:
        return first, i
    if first == 0x80:
        return None, i
    n = first & 0x7F
    if n > 4 or i + n > len(data):
        raise ValueError("length")
    return int.from_bytes(data[i : i + n], "big"), i + n


def parse_tlvs(data: bytes, depth: int = 0) -> list[Node]:
    """Every TLV in `data` as a tree (constructed values parsed); ValueError if anything is off."""
    if depth > MAX_DEPTH:
        raise ValueError("depth")
    nodes: list[Node] = []
    i = 0
    while i < len(data):
        if data[i] == 0 and depth > 0 and data[i : i + 2] == b"\x00\x00":
            raise ValueError("end of contents outside indefinite")
        start = i
        constructed = bool(data[i] & 0x20)
        if data[i] & 0x1F == 0x1F:
            i += 1
            while i < len(data) and data[i] & 0x80:
                i += 1
        i += 1
        if i >= len(data):
            raise ValueError("truncated")
        ident = data[start:i]
        length, i = _parse_length(data, i)
        if length is None:
            if not constructed:
                raise ValueError("indefinite primitive")
            children, i = _parse_indefinite(data, i, depth + 1)
            nodes.append(Node(ident, children, b"", "indef"))
            continue
        if i + length > len(data):
            raise ValueError("truncated")
        value = data[i : i + length]
        i += length
        nodes.append(Node(ident, parse_tlvs(value, depth + 1) if constructed else None, value))
    return nodes


def _parse_indefinite(data: bytes, i: int, depth: int) -> tuple[list[Node], int]:
    end = _find_eoc(data, i, depth)
    return parse_tlvs(data[i:end], depth), end + 2


def _find_eoc(data: bytes, i: int, depth: int) -> int:
    """Index of the end-of-contents octets closing the indefinite value starting at `i`."""
    if depth > MAX_DEPTH:
        raise ValueError("depth")
    while i < len(data):
        if data[i : i + 2] == b"\x00\x00":
            return i
        constructed = bool(data[i] & 0x20)
        if data[i] & 0x1F == 0x1F:
            i += 1
            while i < len(data) and data[i] & 0x80:
                i += 1
        i += 1
        if i >= len(data):
            break
        length, i = _parse_length(data, i)
        if length is None:
            if not constructed:
                raise ValueError("indefinite primitive")
            i = _find_eoc(data, i, depth + 1) + 2
        else:
            i += length
    raise ValueError("no end of contents")


def _length(n: int, form: str) -> bytes:
    if form == "long":
        return b"\x84" + n.to_bytes(4, "big")
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def encode(node: Node) -> bytes:
    body = b"".join(encode(c) for c in node.children) if node.children is not None else node.value
    if node.form == "indef":
        return bytes([node.ident[0] | 0x20]) + node.ident[1:] + b"\x80" + body + b"\x00\x00"
    if node.form == "lie":
        return node.ident + _length(max(0, len(body) + node.lie), "min") + body
    return node.ident + _length(len(body), node.form) + body


def encode_all(nodes: Sequence[Node]) -> bytes:
    return b"".join(encode(n) for n in nodes)


def _walk(nodes: list[Node], out: list[tuple[list[Node], int]]) -> None:
    for index, node in enumerate(nodes):
        out.append((nodes, index))
        if node.children is not None:
            _walk(node.children, out)


def harvest(samples: Sequence[bytes], limit: int = 3000) -> list[bytes]:
    """Encoded subtrees of the seeds, for splicing (e.g. a certificate from another file)."""
    pool: list[bytes] = []
    for data in samples:
        try:
            roots = parse_tlvs(data)
        except (ValueError, IndexError):
            continue
        spots: list[tuple[list[Node], int]] = []
        _walk(roots, spots)
        for siblings, index in spots:
            encoded = encode(siblings[index])
            if len(encoded) <= 8192:
                pool.append(encoded)
    random.Random(0).shuffle(pool)
    return pool[:limit]


class DerMutator:
    """Mutates one node of a BER tree and re-encodes; falls back to bytes when the input does not parse."""

    def __init__(self, byte_mutate: ByteMutate, pool: Sequence[bytes], oids: Sequence[bytes]) -> None:
        self.byte_mutate = byte_mutate
        self.pool = list(pool)
        self.oids = list(oids)

    def __call__(self, data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.5:
            return self.byte_mutate(data, max_size)
        try:
            roots = parse_tlvs(data)
        except (ValueError, IndexError):
            return self.byte_mutate(data, max_size)
        if not roots:
            return self.byte_mutate(data, max_size)
        for _ in range(rng.randint(1, 3)):
            self._one(roots, rng, max_size)
        out = encode_all(roots)
        return out[:max_size] if out else self.byte_mutate(data, max_size)

    def _one(self, roots: list[Node], rng: random.Random, max_size: int, depth: int = 0) -> None:
        spots: list[tuple[list[Node], int]] = []
        _walk(roots, spots)
        if not spots:
            return
        # Prefer deeper nodes a little: the outer ones are few and their parsers already covered.
        siblings, index = spots[min(len(spots) - 1, int(len(spots) * rng.random() ** 0.7))]
        node = siblings[index]
        op = rng.randrange(13)
        if op == 0:  # bytes of a primitive value (or of the contents of a constructed one)
            value = node.value if node.children is None else encode_all(node.children)
            node.value = self.byte_mutate(value, max(64, 2 * len(value)))
            node.children = None
            node.form = "min" if node.form == "indef" else node.form
        elif op == 1 and len(siblings) > 1:
            del siblings[index]
        elif op == 2:
            siblings.insert(index, _copy(node))
        elif op == 3 and len(siblings) > 1:
            other = rng.randrange(len(siblings))
            siblings[index], siblings[other] = siblings[other], siblings[index]
        elif op == 4 and self.pool:  # splice a subtree from another seed
            try:
                graft = parse_tlvs(rng.choice(self.pool))
            except (ValueError, IndexError):
                return
            if rng.random() < 0.5:
                siblings[index : index + 1] = graft
            else:
                siblings[index:index] = graft
        elif op == 5:  # another tag
            choice = rng.randrange(4)
            if choice == 0:
                node.ident = bytes([node.ident[0] ^ 0x20]) + node.ident[1:]
            elif choice == 1:
                tag = rng.choice(UNIVERSAL_TAGS + CONTEXT_TAGS)
                node.ident = bytes([tag | (node.ident[0] & 0x20 if tag < 0x30 else 0)])
            elif choice == 2:
                node.ident = bytes([rng.randrange(256) & ~0x1F | rng.randrange(0x1F)])
            else:
                node.ident = bytes(
                    [(node.ident[0] & 0xE0) | 0x1F, 0x80 | rng.randrange(128), rng.randrange(128)]
                )
            if node.ident[0] & 0x20 == 0 and node.children is not None:
                node.value, node.children = encode_all(node.children), None
            if node.form == "indef" and node.ident[0] & 0x20 == 0:
                node.form = "min"
        elif op == 6:  # length encoding: long form, indefinite, or wrong
            choice = rng.randrange(3)
            if choice == 0:
                node.form = "long"
            elif choice == 1 and node.children is not None:
                node.form = "indef"
            else:
                node.form = "lie"
                node.lie = rng.choice((-1, 1, -2, 2, 127, -127, 1 << 20))
        elif op == 7 and node.ident[:1] == b"\x02":
            node.value = rng.choice(INTERESTING_INTS)
        elif op == 8 and node.ident[:1] == b"\x06" and self.oids:
            oid = parse_tlvs(rng.choice(self.oids))[0]
            node.value = oid.value if rng.random() < 0.8 else oid.value + bytes([rng.randrange(256)])
        elif op == 9 and node.children is None and node.ident[:1] in (b"\x04", b"\x03"):
            # An OCTET/BIT STRING that wraps DER (eContent, SPKI, extension values): mutate inside.
            skip = 1 if node.ident[:1] == b"\x03" else 0
            inner = node.value[skip:]
            try:
                inner_roots = parse_tlvs(inner)
            except (ValueError, IndexError):
                inner_roots = []
            if inner_roots and depth < 4:
                self._one(inner_roots, rng, max_size, depth + 1)
                node.value = node.value[:skip] + encode_all(inner_roots)
        elif op == 10:  # truncate or empty
            if node.children is not None:
                node.children = node.children[: rng.randrange(len(node.children) + 1)]
            else:
                node.value = node.value[: rng.randrange(len(node.value) + 1)]
        elif op == 11:  # a very long value or many children (size handling)
            if node.children is not None and node.children:
                node.children = node.children + [
                    _copy(rng.choice(node.children)) for _ in range(rng.randint(2, 64))
                ]
            else:
                node.value = node.value * rng.randint(2, 16)
        elif op == 12 and node.children is None:
            node.value = bytes(rng.randrange(256) for _ in range(rng.randint(0, 24)))


def _copy(node: Node) -> Node:
    return Node(
        node.ident,
        None if node.children is None else [_copy(c) for c in node.children],
        node.value,
        node.form,
        node.lie,
    )


# --- protobuf wire format ------------------------------------------------------------------------


@dataclasses.dataclass
class Field:
    number: int
    wire: int
    value: int | bytes
    sub: list[Field] | None = None


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(data) or shift > 63:
            raise ValueError("varint")
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _put_varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def parse_fields(data: bytes, depth: int = 0) -> list[Field]:
    fields: list[Field] = []
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field 0")
        if wire == 0:
            value, i = _varint(data, i)
            fields.append(Field(number, wire, value))
        elif wire == 1:
            fields.append(Field(number, wire, data[i : i + 8]))
            i += 8
        elif wire == 5:
            fields.append(Field(number, wire, data[i : i + 4]))
            i += 4
        elif wire == 2:
            n, i = _varint(data, i)
            if i + n > len(data):
                raise ValueError("truncated")
            payload = data[i : i + n]
            i += n
            sub = None
            if depth < 4 and payload:
                try:
                    sub = parse_fields(payload, depth + 1)
                except ValueError:
                    sub = None
            fields.append(Field(number, wire, payload, sub))
        else:
            raise ValueError("wire type")
    if i != len(data):
        raise ValueError("truncated")
    return fields


def encode_fields(fields: Sequence[Field]) -> bytes:
    out = bytearray()
    for f in fields:
        out += _put_varint((f.number << 3) | f.wire)
        if f.wire == 0:
            out += _put_varint(int(f.value))
        elif f.wire == 2:
            payload = encode_fields(f.sub) if f.sub is not None else bytes(f.value)
            out += _put_varint(len(payload)) + payload
        else:
            out += bytes(f.value)
    return bytes(out)


class ProtobufMutator:
    """Mutates one field of a serialized message; `prefix` leading bytes (the method selector) kept."""

    def __init__(self, byte_mutate: ByteMutate, der: DerMutator, prefix: int = 1) -> None:
        self.byte_mutate = byte_mutate
        self.der = der
        self.prefix = prefix

    def __call__(self, data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        head, body = data[: self.prefix], data[self.prefix :]
        if rng.random() < 0.05 and head:
            head = bytes([rng.randrange(256)])
        if rng.random() < 0.4:
            return (head + self.byte_mutate(body, max(1, max_size - len(head))))[:max_size]
        try:
            fields = parse_fields(body)
        except ValueError:
            return (head + self.byte_mutate(body, max(1, max_size - len(head))))[:max_size]
        for _ in range(rng.randint(1, 3)):
            self._one(fields, rng, max_size)
        return (head + encode_fields(fields))[:max_size]

    def _one(self, fields: list[Field], rng: random.Random, max_size: int) -> None:
        spots: list[tuple[list[Field], int]] = []

        def walk(items: list[Field]) -> None:
            for index, f in enumerate(items):
                spots.append((items, index))
                if f.sub is not None:
                    walk(f.sub)

        walk(fields)
        if not spots:
            fields.append(Field(rng.randint(1, 9), 2, b"x"))
            return
        siblings, index = rng.choice(spots)
        f = siblings[index]
        op = rng.randrange(8)
        if op == 0 and f.wire == 2:
            payload = encode_fields(f.sub) if f.sub is not None else bytes(f.value)
            f.sub = None
            if payload[:1] in (b"\x77", b"\x61", b"\x75", b"\x6d", b"\x6e", b"\x6f", b"\x30"):
                f.value = self.der(payload, max_size, rng.randrange(1 << 30))
            else:
                f.value = self.byte_mutate(payload, max(16, 2 * len(payload)))
        elif op == 1 and f.wire == 0:
            f.value = rng.choice((0, 1, 2, 3, 4, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 63, (1 << 64) - 1))
        elif op == 2:
            del siblings[index]
        elif op == 3:
            siblings.insert(index, dataclasses.replace(f))
            if rng.random() < 0.3:  # a repeated field many times
                siblings[index:index] = [dataclasses.replace(f) for _ in range(rng.randint(2, 40))]
        elif op == 4:
            f.number = rng.choice((1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 2047, 536870911))
        elif op == 5:  # another wire type for the same field
            f.wire = rng.choice((0, 1, 2, 5))
            f.sub = None
            if f.wire == 0:
                f.value = rng.randrange(1 << 32)
            elif f.wire == 1:
                f.value = bytes(8)
            elif f.wire == 5:
                f.value = bytes(4)
            else:
                f.value = b"" if isinstance(f.value, int) else f.value
        elif op == 6 and f.wire == 2 and f.sub is None:
            f.value = bytes(
                rng.choice((b"", b"\x00", b"\xff" * 3, "Nữ".encode(), b"\xed\xa0\x80", b"a" * 5000))
            )
        elif op == 7:
            siblings.insert(
                index,
                Field(rng.randint(1, 12), 2, bytes(rng.randrange(256) for _ in range(rng.randint(0, 12)))),
            )


# --- images --------------------------------------------------------------------------------------


class ImageMutator:
    """PNG chunks (CRC fixed, IDAT re-compressed), JPEG segments, JP2 boxes; else bytes."""

    def __init__(self, byte_mutate: ByteMutate) -> None:
        self.byte_mutate = byte_mutate

    def __call__(self, data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.4:
            return self.byte_mutate(data, max_size)
        try:
            if data.startswith(b"\x89PNG\r\n\x1a\n"):
                out = self._png(data, rng)
            elif data.startswith(b"\xff\xd8"):
                out = self._jpeg(data, rng)
            elif data[4:8] == b"jP  ":
                out = self._jp2(data, rng)
            else:
                out = self.byte_mutate(data, max_size)
        except (ValueError, IndexError, struct.error, zlib.error):
            out = self.byte_mutate(data, max_size)
        return out[:max_size]

    def _png(self, data: bytes, rng: random.Random) -> bytes:
        chunks: list[tuple[bytes, bytes]] = []
        i = 8
        while i + 8 <= len(data):
            (n,) = struct.unpack(">I", data[i : i + 4])
            kind = data[i + 4 : i + 8]
            chunks.append((kind, data[i + 8 : i + 8 + n]))
            i += 12 + n
        if not chunks:
            raise ValueError("no chunks")
        k = rng.randrange(len(chunks))
        kind, body = chunks[k]
        op = rng.randrange(6)
        if op == 0 and kind == b"IHDR" and len(body) == 13:
            w, h, depth, color, comp, filt, inter = struct.unpack(">IIBBBBB", body)
            field = rng.randrange(5)
            if field == 0:
                w = rng.choice((0, 1, 65535, 1 << 31, 6000, 100000))
            elif field == 1:
                h = rng.choice((0, 1, 65535, 1 << 31, 4000, 100000))
            elif field == 2:
                depth = rng.choice((1, 2, 4, 8, 16, 0, 255))
            elif field == 3:
                color = rng.choice((0, 2, 3, 4, 6, 1, 7))
            else:
                inter = rng.choice((0, 1, 2))
            chunks[k] = (kind, struct.pack(">IIBBBBB", w, h, depth, color, comp, filt, inter))
        elif op == 1 and kind == b"IDAT":
            raw = zlib.decompress(b"".join(b for t, b in chunks if t == b"IDAT"))
            raw = self.byte_mutate(raw, 2 * len(raw) + 64)
            chunks = [(t, b) for t, b in chunks if t != b"IDAT"]
            chunks.insert(min(k, len(chunks) - 1), (b"IDAT", zlib.compress(raw)))
            return _png_join(chunks)
        elif op == 2:
            del chunks[k]
        elif op == 3:
            chunks.insert(k, (kind, body))
        elif op == 4:
            extra = rng.choice(
                (b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"iCCP", b"PLTE", b"tRNS", b"pHYs", b"acTL", b"fcTL")
            )
            chunks.insert(
                rng.randint(1, len(chunks)),
                (extra, self.byte_mutate(b"Exif\x00\x00MM\x00*" if extra == b"eXIf" else b"k\x00v", 256)),
            )
        else:
            chunks[k] = (kind, self.byte_mutate(body, 2 * len(body) + 32))
        return _png_join(chunks)

    def _jpeg(self, data: bytes, rng: random.Random) -> bytes:
        segments: list[tuple[bytes, bytes]] = []
        i = 2
        while i + 4 <= len(data) and data[i] == 0xFF:
            marker = data[i : i + 2]
            if marker == b"\xff\xda":  # start of scan: the rest is entropy-coded data
                segments.append((marker, data[i + 2 :]))
                break
            (n,) = struct.unpack(">H", data[i + 2 : i + 4])
            segments.append((marker, data[i + 4 : i + 2 + n]))
            i += 2 + n
        if not segments:
            raise ValueError("no segments")
        k = rng.randrange(len(segments))
        marker, body = segments[k]
        op = rng.randrange(4)
        if op == 0 and marker in (b"\xff\xc0", b"\xff\xc2") and len(body) >= 5:
            h = rng.choice((0, 1, 65535, 4000, 8192))
            w = rng.choice((0, 1, 65535, 6000, 8192))
            segments[k] = (marker, body[:1] + struct.pack(">HH", h, w) + body[5:])
        elif op == 1:
            del segments[k]
        elif op == 2:
            segments.insert(k, (marker, body))
        else:
            segments[k] = (marker, self.byte_mutate(body, 2 * len(body) + 32))
        out = bytearray(b"\xff\xd8")
        for marker, body in segments:
            if marker == b"\xff\xda":
                out += marker + body
            else:
                out += marker + struct.pack(">H", min(0xFFFF, len(body) + 2)) + body[:0xFFFD]
        return bytes(out)

    def _jp2(self, data: bytes, rng: random.Random) -> bytes:
        boxes: list[tuple[bytes, bytes]] = []
        i = 0
        while i + 8 <= len(data):
            (n,) = struct.unpack(">I", data[i : i + 4])
            kind = data[i + 4 : i + 8]
            if n == 0:
                n = len(data) - i
            if n < 8:
                raise ValueError("box")
            boxes.append((kind, data[i + 8 : i + n]))
            i += n
        if not boxes:
            raise ValueError("no boxes")
        k = rng.randrange(len(boxes))
        kind, body = boxes[k]
        op = rng.randrange(3)
        if op == 0:
            del boxes[k]
        elif op == 1:
            boxes.insert(k, (kind, body))
        else:
            boxes[k] = (kind, self.byte_mutate(body, 2 * len(body) + 32))
        return b"".join(struct.pack(">I", len(b) + 8) + t + b for t, b in boxes)


def _png_join(chunks: Sequence[tuple[bytes, bytes]]) -> bytes:
    out = bytearray(b"\x89PNG\r\n\x1a\n")
    for kind, body in chunks:
        out += (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )
    return bytes(out)


# --- delimited text ------------------------------------------------------------------------------

ODD_TEXT = (
    "",
    "-",
    " ",
    "\t",
    "\r\n",
    "\ufeff",
    "\u202e",
    "\u0000",
    "Nu\u031b\u0303",
    "１２３",
    "٠١٢",
    "𝟘𝟙",
    "31/02/2025",
    "00/00/0000",
    "29/02/2024",
    "99999999",
    "1" * 5000,
    "9" * 30,
    "-0",
    "1e999",
    "NaN",
    "null",
    '"',
    '""',
    "'",
    "\\",
    "\\ud800",
    "ﬀ",
    "İ",
)


class TextMutator:
    """Field-level edits of '|', ',' , newline or JSON-delimited text; else bytes."""

    def __init__(self, byte_mutate: ByteMutate, separators: str, tokens: Sequence[str] = ()) -> None:
        self.byte_mutate = byte_mutate
        self.separators = separators
        self.tokens = list(ODD_TEXT) + list(tokens)

    def __call__(self, data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.5:
            return self.byte_mutate(data, max_size)
        text = data.decode("utf-8", "surrogateescape")
        sep = rng.choice(self.separators)
        parts = text.split(sep)
        for _ in range(rng.randint(1, 3)):
            k = rng.randrange(len(parts))
            op = rng.randrange(6)
            if op == 0:
                parts[k] = rng.choice(self.tokens)
            elif op == 1 and len(parts) > 1:
                del parts[k]
            elif op == 2:
                parts.insert(k, parts[k])
            elif op == 3:
                j = rng.randrange(len(parts))
                parts[k], parts[j] = parts[j], parts[k]
            elif op == 4:
                pos = rng.randint(0, len(parts[k]))
                parts[k] = parts[k][:pos] + rng.choice(self.tokens) + parts[k][pos:]
            else:
                raw = parts[k].encode("utf-8", "surrogateescape")
                parts[k] = self.byte_mutate(raw, 2 * len(raw) + 16).decode("utf-8", "surrogateescape")
        return sep.join(parts).encode("utf-8", "surrogateescape")[:max_size]


class Prefixed:
    """Keeps the first `size` bytes (a selector) and mutates the rest; now and then the selector."""

    def __init__(self, inner: Mutator, size: int) -> None:
        self.inner = inner
        self.size = size

    def __call__(self, data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        head = bytearray(data[: self.size].ljust(self.size, b"\x00"))
        if rng.random() < 0.05:
            head[rng.randrange(self.size)] = rng.randrange(256)
        body = self.inner(data[self.size :], max(1, max_size - self.size), rng.randrange(1 << 30))
        return (bytes(head) + body)[:max_size]
