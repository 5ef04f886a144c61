"""Streaming reader of a GIAMDINHHS claims file: bytes in, one item per HOSO out, memory bounded.

The parser is defusedxml's `DefusedXMLParser` (expat underneath) with a target of our own: no
element tree is built, only the current dossier's XML1 text (or inline fields) is kept, and only
up to `max_xml1_bytes`; the other tables (XML2..XML15) are skipped as they stream past. A DTD is
refused outright (so entity expansion, billion laughs and external entities cannot happen), as is
a root other than GIAMDINHHS. A well-formedness error ends the file with its line and column.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import defusedxml
from defusedxml.ElementTree import DefusedXMLParser, ParseError

from bhytgate.claims.xml1 import strip_ns

ROOT = "GIAMDINHHS"
MAX_XML1_BYTES = 4 * 1024 * 1024
# The parser (expat) holds a tag, attribute, comment or processing instruction whole until it
# ends, so one long token would cost its length in memory whatever the dossier limits say. Between
# two '>' bytes a well-formed claims file holds at most one XML1 payload as text (base64 of at most
# MAX_XML1_BYTES): anything longer is refused before it reaches the parser.
MAX_RUN_BYTES = 8 * 1024 * 1024
# A whole file, over any interface (the console caps uploads the same way).
MAX_FILE_BYTES = 1024 * 1024 * 1024
_SLICE = 1024 * 1024
MAX_INLINE_FIELDS = 500
MAX_DEPTH = 64
MAX_HEADER_CHARS = 1024


class ClaimsFileError(Exception):
    """The file as a whole cannot be read: one clear message (no personal data)."""


class ClaimsScopeError(ClaimsFileError):
    """The file is another facility's (or names none) and the caller sees one facility only."""


@dataclasses.dataclass(frozen=True, slots=True)
class RawDossier:
    """One HOSO: its 1-based index, and its XML1 payload (NOIDUNGFILE text or inline fields) or why not."""

    index: int
    payload: str | Mapping[str, str] | None
    problem: str | None = None


class _Target:
    """Expat callbacks → dossiers. Keeps only what the current dossier needs."""

    def __init__(self, max_xml1_bytes: int) -> None:
        self.max = max_xml1_bytes
        self.path: list[str] = []
        self.ready: list[RawDossier] = []
        self.facility = ""
        self.declared = 0
        self.index = 0
        self._text: list[str] | None = None  # text of a small header field being read
        self._reset_file()
        self._xml1: str | Mapping[str, str] | None = None
        self._problem: str | None = None

    def _reset_file(self) -> None:
        self._kind: str | None = None
        self._content: list[str] = []
        self._size = 0
        self._inline: dict[str, str] = {}
        self._leaf: list[str] | None = None
        self._oversize = False

    # -- expat target protocol --------------------------------------------------------------

    def start(self, tag: str, attrib: Mapping[str, str]) -> None:
        name = strip_ns(tag)
        if not self.path and name != ROOT:
            raise ClaimsFileError(f"not a claims file: root element is {name[:40]}, expected {ROOT}")
        self.path.append(name)
        depth = len(self.path)
        if depth > MAX_DEPTH:
            raise ClaimsFileError(f"elements nested deeper than {MAX_DEPTH} levels")
        if name == "HOSO" and self.path[-2:-1] == ["DANHSACHHOSO"]:
            self.index += 1
            self._xml1, self._problem = None, None
        elif name == "FILEHOSO" and "HOSO" in self.path[:-1]:
            self._reset_file()
        elif self._in_content(depth - 1):
            if self._kind not in (None, "XML1"):
                return  # another table written inline: skipped
            self._leaf = []  # an element inside NOIDUNGFILE: the table written inline
        elif name in ("MACSKCB", "SOLUONGHOSO", "LOAIHOSO"):
            self._text = []

    def _in_content(self, parent_depth: int) -> bool:
        return "NOIDUNGFILE" in self.path[:parent_depth] and "FILEHOSO" in self.path

    def data(self, text: str) -> None:
        if self._leaf is not None:
            if self._size + len(text) > self.max:
                self._oversize = True
            else:
                self._leaf.append(text)
                self._size += len(text)
        elif self._text is not None:
            if sum(map(len, self._text)) + len(text) <= MAX_HEADER_CHARS:
                self._text.append(text)
        elif self.path and self.path[-1] == "NOIDUNGFILE" and self._kind in (None, "XML1"):
            if self._size + len(text) > self.max:
                self._oversize = True
                self._content = []
                return
            if not self._oversize:
                self._content.append(text)
                self._size += len(text)

    def end(self, tag: str) -> None:
        name = self.path.pop()
        if self._leaf is not None and self._in_content(len(self.path) + 1):
            if len(self._inline) < MAX_INLINE_FIELDS:
                self._inline[name] = "".join(self._leaf).strip()
            self._leaf = None
            return
        if self._text is not None:
            value = "".join(self._text).strip()
            self._text = None
            if name == "MACSKCB" and self.path[-1:] == ["THONGTINDONVI"]:
                self.facility = value[:5]
            elif name == "SOLUONGHOSO":
                self.declared = int(value) if value.isascii() and value.isdigit() and len(value) < 10 else 0
            elif name == "LOAIHOSO":
                self._kind = value.upper()
            return
        if name == "FILEHOSO" and "HOSO" in self.path:
            self._end_file()
        elif name == "HOSO" and self.path[-1:] == ["DANHSACHHOSO"]:
            payload, problem = self._xml1, self._problem
            if payload is None and problem is None:
                problem = "dossier has no FILEHOSO of LOAIHOSO XML1"
            self.ready.append(RawDossier(self.index, None if problem else payload, problem))
            self._xml1, self._problem = None, None

    def _end_file(self) -> None:
        if self._kind != "XML1":
            self._reset_file()
            return
        if self._xml1 is not None or self._problem is not None:
            self._problem = "dossier has more than one XML1"
        elif self._oversize:
            self._problem = f"XML1 NOIDUNGFILE larger than {self.max // (1024 * 1024)} MiB"
        elif self._inline:
            self._xml1 = dict(self._inline)
        else:
            self._xml1 = "".join(self._content)
        self._reset_file()

    def close(self) -> None:
        return None


class EnvelopeReader:
    """Feed the file's bytes in order; take the dossiers completed so far after each feed."""

    def __init__(self, *, max_xml1_bytes: int = MAX_XML1_BYTES) -> None:
        self._target = _Target(max_xml1_bytes)
        self._parser = DefusedXMLParser(
            target=self._target, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
        self.bytes_read = 0
        self._run_bytes = 0  # bytes since the last '>'
        self._closed = False

    @property
    def facility(self) -> str:
        return self._target.facility

    @property
    def declared_count(self) -> int:
        return self._target.declared

    def _run(self, step: str, data: bytes = b"") -> list[RawDossier]:
        try:
            if step == "feed":
                self._parser.feed(data)
            else:
                self._parser.close()
        except defusedxml.DTDForbidden:
            raise ClaimsFileError("the file declares a DTD: refused (entities are never expanded)") from None
        except defusedxml.DefusedXmlException:
            raise ClaimsFileError("the file declares entities: refused") from None
        except ParseError as exc:
            line, column = getattr(exc, "position", (0, 0))
            raise ClaimsFileError(
                f"not well-formed XML at line {line}, column {column} (after {self._target.index} dossier(s))"
            ) from None
        except (LookupError, ValueError):  # the XML declaration names an encoding we cannot decode
            raise ClaimsFileError("the file declares an unsupported character encoding") from None
        done, self._target.ready = self._target.ready, []
        return done

    def feed(self, data: bytes) -> list[RawDossier]:
        if len(data) > _SLICE:  # keep the run check exact: no two '>' further apart than a slice
            done: list[RawDossier] = []
            for start in range(0, len(data), _SLICE):
                done += self.feed(data[start : start + _SLICE])
            return done
        self.bytes_read += len(data)
        if self.bytes_read > MAX_FILE_BYTES:
            raise ClaimsFileError(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        first = data.find(b">")
        if first == -1:
            self._run_bytes += len(data)
        else:
            self._run_bytes += first
            if self._run_bytes <= MAX_RUN_BYTES:
                self._run_bytes = len(data) - data.rfind(b">") - 1
        # (between two '>' inside one slice there are fewer bytes than a slice, far below the bound)
        if self._run_bytes > MAX_RUN_BYTES:
            raise ClaimsFileError(
                f"a single XML token or text run longer than {MAX_RUN_BYTES // (1024 * 1024)} MiB"
                f" (after {self._target.index} dossier(s))"
            )
        return self._run("feed", data)

    def close(self) -> list[RawDossier]:
        """End of file: the last dossiers, or ClaimsFileError if the document is incomplete."""
        if self._closed:
            return []
        self._closed = True
        if self.bytes_read == 0:
            raise ClaimsFileError("the file is empty")
        return self._run("close")
