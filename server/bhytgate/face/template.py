"""Enrolment templates: several captures averaged into one embedding, stored with the model's name.

Wire format (big-endian), version 1::

    b"BHYTFT" | u8 format version (1) | u16 len | model name (UTF-8) | u16 len | model version (UTF-8)
    | u16 number of captures | u16 dimension (128) | dimension x float64 little-endian

A template from another model (or another model file) is refused, not compared: distances between
embeddings of different models mean nothing.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bhytgate.face.embed import EMBEDDING_DIM, Embedding, ModelId, as_embedding
from bhytgate.face.errors import (
    InvalidEmbedding,
    TemplateCorrupt,
    TemplateInconsistent,
    TemplateModelMismatch,
)

_MAGIC = b"BHYTFT"
_FORMAT_VERSION = 1
_MAX_TEXT = 512


@dataclass(frozen=True, slots=True)
class Template:
    model: ModelId
    embedding: Embedding
    captures: int


def build_template(
    embeddings: Sequence[Embedding], model: ModelId, *, consistency_threshold: float
) -> Template:
    """Average the captures; refuse if any capture sits farther than the threshold from the others.

    A capture that disagrees is either a different person or a bad shot; averaging it in would
    silently widen the template.
    """
    if not embeddings:
        raise TemplateInconsistent("no captures")
    stack = np.stack([as_embedding(e) for e in embeddings])
    mean = stack.mean(axis=0)
    for i, emb in enumerate(stack):
        # leave-one-out: compare each capture with the mean of the others
        others = mean if len(stack) == 1 else (mean * len(stack) - emb) / (len(stack) - 1)
        if float(np.linalg.norm(emb - others)) > consistency_threshold:
            raise TemplateInconsistent(f"capture {i} does not agree with the others")
    return Template(model=model, embedding=mean.astype(np.float64), captures=len(stack))


def _text(value: str) -> bytes:
    raw = value.encode("utf-8")
    if len(raw) > _MAX_TEXT:
        raise ValueError("model name or version too long")
    return struct.pack(">H", len(raw)) + raw


def template_to_bytes(template: Template) -> bytes:
    emb = as_embedding(template.embedding)
    return b"".join(
        (
            _MAGIC,
            struct.pack(">B", _FORMAT_VERSION),
            _text(template.model.name),
            _text(template.model.version),
            struct.pack(">HH", template.captures, EMBEDDING_DIM),
            emb.astype("<f8").tobytes(),
        )
    )


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise TemplateCorrupt("template ends early")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def text(self) -> str:
        (length,) = struct.unpack(">H", self.take(2))
        if length > _MAX_TEXT:
            raise TemplateCorrupt("template text field too long")
        try:
            return self.take(length).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TemplateCorrupt("template text is not UTF-8") from exc


def template_from_bytes(data: bytes, expected_model: ModelId | None = None) -> Template:
    """Parse a stored template; with ``expected_model``, refuse one made by any other model."""
    reader = _Reader(bytes(data))
    if reader.take(len(_MAGIC)) != _MAGIC:
        raise TemplateCorrupt("not a face template")
    (version,) = struct.unpack(">B", reader.take(1))
    if version != _FORMAT_VERSION:
        raise TemplateCorrupt(f"unknown template format version {version}")
    model = ModelId(name=reader.text(), version=reader.text())
    captures, dim = struct.unpack(">HH", reader.take(4))
    if dim != EMBEDDING_DIM or captures < 1:
        raise TemplateCorrupt("template header is inconsistent")
    raw = reader.take(8 * dim)
    if reader.pos != len(reader.data):
        raise TemplateCorrupt("trailing bytes after template")
    try:
        embedding = as_embedding(np.frombuffer(raw, dtype="<f8").astype(np.float64))
    except InvalidEmbedding as exc:
        raise TemplateCorrupt("template embedding is not finite") from exc
    if expected_model is not None and model != expected_model:
        raise TemplateModelMismatch(f"template made by {model.name} {model.version}")
    return Template(model=model, embedding=embedding, captures=captures)
