"""The console's small multipart fields (the form token, the claims window) are read at most to
their limit: aiohttp's `part.read()` holds a part of any size, so a 1 GiB "csrf" field before the
file was read into memory in full (review, 2026-12-03)."""

from __future__ import annotations

import asyncio
from unittest import mock

from aiohttp import BodyPartReader, MultipartReader
from aiohttp.streams import StreamReader

from bhytgate.console.app import read_field

BOUNDARY = "b0undary"


def _reader(fields: list[tuple[str, bytes]]) -> tuple[MultipartReader, StreamReader]:
    body = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
        for name, value in fields
    )
    body += f"--{BOUNDARY}--\r\n".encode()
    stream = StreamReader(mock.Mock(_reading_paused=False), 2**16, loop=asyncio.get_running_loop())
    stream.feed_data(body)
    stream.feed_eof()
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    return MultipartReader(headers, stream), stream


def test_a_field_past_its_limit_is_not_read_in_full() -> None:
    async def run() -> None:
        reader, _ = _reader([("csrf", b"x" * (8 * 1024 * 1024)), ("file", b"data")])
        part = await reader.next()
        assert isinstance(part, BodyPartReader)
        assert await read_field(part, 128) is None
        assert not part.at_eof()  # it stopped after a few KiB, the rest never held

    asyncio.run(run())


def test_a_field_within_its_limit_is_read_whole() -> None:
    async def run() -> None:
        token = b"ab" * 32
        reader, _ = _reader([("csrf", token), ("window_minutes", b"59")])
        part = await reader.next()
        assert isinstance(part, BodyPartReader)
        assert await read_field(part, 128) == token
        window = await reader.next()
        assert isinstance(window, BodyPartReader) and window.name == "window_minutes"
        assert await read_field(window, 16) == b"59"

    asyncio.run(run())
