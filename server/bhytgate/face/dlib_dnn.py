"""A reader for dlib's serialisation of the face-recognition ResNet (``anet_type`` of dlib's
``face_recognition.cpp``), so that its weights can be run by another runtime (resnet_onnx.py).

Why our own reader: dlib's Python binding exposes no weights, and dlib's ONNX export is C++ only.
Format (dlib/serialize.h, dnn/core.h, dnn/layers.h, dnn/tensor.h), as found in
``dlib_face_recognition_resnet_model_v1.dat``:

- integers: one control byte (low nibble = number of little-endian magnitude bytes, bit 7 = negative),
  then the bytes; strings: an integer length then the bytes; bools: the characters ``'0'``/``'1'``;
  floats (scalars): mantissa and exponent as two integers (value = mantissa x 2^exponent);
- tensors: version 2, four dimensions (num_samples, k, nr, nc), then raw little-endian float32;
  alias tensors (views into a layer's ``params``): version 1 and four dimensions, no data;
- the network is written outermost first: the loss layer, then every wrapper's version number from
  the top of the network down to the input layer (2 for a layer, 3 for the one on the input, 1 for
  a tag or skip, which carry nothing else), then the input layer, then each layer's details from the
  input up, each followed by three bools and three (empty) state tensors.

The tags and skips carry no id in the file: which is tag1, tag2 or skip1 comes from the network's
definition (residual blocks ``relu(x + block(x))`` and down-sampling blocks
``relu(avgpool2(x) + block_stride2(x))``), which :func:`read_network` checks the file against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float32]


class DlibFormatError(ValueError):
    """The file is not the network we know how to read (truncated, another network, another version)."""


@dataclass(frozen=True, slots=True)
class Conv:
    """con_ with its following affine_ folded in: y = (W * x + b) * gamma + beta per channel."""

    weight: Floats  # (out, in, kh, kw)
    bias: Floats  # (out,)
    stride: int
    padding: int


@dataclass(frozen=True, slots=True)
class Block:
    """conv-relu-conv, added to the block's input (average-pooled 2x2 when ``down``), then relu."""

    conv1: Conv
    conv2: Conv
    down: bool


@dataclass(slots=True)
class ResNet:
    input_mean: tuple[float, float, float]  # R, G, B; the input is (pixel - mean) / 256
    input_size: int  # 150: the aligned chip's side
    stem: Conv  # 7x7 stride 2, then relu and a 3x3 stride-2 max pool
    pool_size: int
    pool_stride: int
    blocks: list[Block] = field(default_factory=list)
    fc: Floats = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (256, 128), no bias


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise DlibFormatError(f"truncated at byte {self.pos}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def integer(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if size > 8 or control & 0x70:
            raise DlibFormatError(f"bad integer control byte {control:#x} at {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def string(self, limit: int = 64) -> str:
        n = self.integer()
        if not 0 <= n <= limit:
            raise DlibFormatError(f"string of {n} bytes at {self.pos}")
        return self._take(n).decode("ascii", errors="replace")

    def flag(self) -> bool:
        c = self._take(1)
        if c not in (b"0", b"1"):
            raise DlibFormatError(f"bad bool {c!r} at {self.pos - 1}")
        return c == b"1"

    def real(self) -> float:
        mantissa, exponent = self.integer(), self.integer()
        return float(mantissa) * 2.0**exponent

    def tensor(self) -> Floats:
        if (version := self.integer()) != 2:
            raise DlibFormatError(f"tensor version {version}")
        dims = [self.integer() for _ in range(4)]
        count = int(np.prod(dims))
        if any(d < 0 for d in dims) or count > len(self.data):
            raise DlibFormatError(f"tensor dims {dims}")
        raw = self._take(4 * count)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(dims)

    def alias(self) -> tuple[int, int, int, int]:
        if (version := self.integer()) != 1:
            raise DlibFormatError(f"alias_tensor version {version}")
        n, k, r, c = (self.integer() for _ in range(4))
        return n, k, r, c


@dataclass(slots=True)
class _Layer:
    kind: str
    params: Floats | None = None
    shape: tuple[int, ...] = ()  # con: (filters, nr, nc, stride, padding); pools: (nr, stride)
    gamma_beta: tuple[int, int] = (0, 0)


def _layer(r: _Reader) -> _Layer:
    name = r.string()
    if name == "con_4":
        params = r.tensor().reshape(-1)
        nf, nr, nc, sy, sx, py, px = (r.integer() for _ in range(7))
        filters, biases = r.alias(), r.alias()
        for _ in range(4):  # learning-rate and weight-decay multipliers
            r.real()
        if sy != sx or py != px or nr != nc or filters[0] != nf or biases[1] != nf:
            raise DlibFormatError(f"unsupported con_ {nf}x{nr}x{nc} s{sy},{sx} p{py},{px}")
        k = filters[1]
        if params.size != nf * k * nr * nc + nf:
            raise DlibFormatError("con_ params size")
        return _Layer("con", params, (nf, k, nr, sy, py))
    if name == "affine_":
        params = r.tensor().reshape(-1)
        gamma, beta = r.alias(), r.alias()
        if (mode := r.integer()) != 0:  # 0: CONV_MODE, one gamma/beta per channel
            raise DlibFormatError(f"affine_ mode {mode}")
        return _Layer("affine", params, (), (gamma[1], beta[1]))
    if name in ("max_pool_2", "avg_pool_2"):
        nr, nc, sy, sx, py, px = (r.integer() for _ in range(6))
        if nr != nc or sy != sx or py != 0 or px != 0:
            raise DlibFormatError(f"unsupported {name} {nr}x{nc} s{sy},{sx} p{py},{px}")
        return _Layer(name[:8], None, (nr, sy))
    if name == "fc_2":
        outputs, inputs = r.integer(), r.integer()
        params = r.tensor().reshape(-1)
        r.alias(), r.alias()
        if (mode := r.integer()) != 1 or params.size != outputs * inputs:  # 1: FC_NO_BIAS
            raise DlibFormatError(f"unsupported fc_ mode {mode}")
        for _ in range(4):
            r.real()
        return _Layer("fc", params, (inputs, outputs))
    if name in ("relu_", "add_prev_"):
        return _Layer(name.rstrip("_"))
    raise DlibFormatError(f"unexpected layer {name!r}")


def _fold(con: _Layer, affine: _Layer) -> Conv:
    assert con.params is not None and affine.params is not None
    nf, k, n, stride, padding = con.shape
    weight = con.params[: nf * k * n * n].reshape(nf, k, n, n)
    bias = con.params[nf * k * n * n :]
    if affine.gamma_beta != (nf, nf) or affine.params.size != 2 * nf:
        raise DlibFormatError("affine_ does not match its convolution")
    gamma, beta = affine.params[:nf], affine.params[nf:]
    return Conv(
        weight=(weight * gamma[:, None, None, None]).astype(np.float32),
        bias=(bias * gamma + beta).astype(np.float32),
        stride=stride,
        padding=padding,
    )


def read_network(path: str | Path) -> ResNet:
    """Parse the .dat file into the ResNet's folded weights; DlibFormatError if it is anything else."""
    r = _Reader(Path(path).read_bytes())
    if r.integer() != 1 or r.string() != "loss_metric_2":
        raise DlibFormatError("not a loss_metric network")
    r.real(), r.real()  # margin, distance threshold: training only
    wrappers: list[int] = []  # outermost first: 1 tag/skip, 2 layer, 3 the layer on the input
    while (version := r.integer()) != 3:
        if version not in (1, 2) or len(wrappers) > 1000:
            raise DlibFormatError(f"unexpected wrapper version {version}")
        wrappers.append(version)
    if r.string() != "input_rgb_image_sized":
        raise DlibFormatError("input layer is not input_rgb_image_sized")
    mean = (r.real(), r.real(), r.real())
    size, size_c = r.integer(), r.integer()
    if size != size_c:
        raise DlibFormatError("input is not square")
    # Innermost first: "T" for a tag/skip, a layer for each add_layer (the first is the one on input).
    tokens: list[_Layer | str] = []
    for version in [3, *reversed(wrappers)]:
        if version == 1:
            tokens.append("T")
            continue
        layer = _layer(r)
        for _ in range(3):
            r.flag()
        for _ in range(3):
            r.tensor()
        if version == 3:
            r.integer()  # sample expansion factor
        tokens.append(layer)
    if r.pos != len(r.data):
        raise DlibFormatError(f"{len(r.data) - r.pos} trailing bytes")
    return _assemble(tokens, mean, size)


def _kinds(tokens: list[_Layer | str]) -> str:
    return " ".join(t if isinstance(t, str) else t.kind for t in tokens)


_STEM = "con affine relu max_pool"
_RESIDUAL = "T con affine relu con affine add_prev relu"  # tag1 ... add_prev1
_DOWN = "T con affine relu con affine T T avg_pool add_prev relu"  # tag1 ... tag2 skip1 pool add_prev2
_HEAD = "avg_pool fc"


def _assemble(tokens: list[_Layer | str], mean: tuple[float, float, float], size: int) -> ResNet:
    if _kinds(tokens[:4]) != _STEM:
        raise DlibFormatError(f"unexpected stem: {_kinds(tokens[:4])}")
    layers = [t for t in tokens[:4] if isinstance(t, _Layer)]
    stem_pool = layers[3]
    net = ResNet(mean, size, _fold(layers[0], layers[1]), stem_pool.shape[0], stem_pool.shape[1])
    i = len(_STEM.split())
    while i < len(tokens):
        rest = _kinds(tokens[i:])
        if rest == _HEAD:
            pool, fc = tokens[i], tokens[i + 1]
            assert isinstance(pool, _Layer) and isinstance(fc, _Layer) and fc.params is not None
            if pool.shape[0] != 0:  # avg_pool_everything: a zero-sized window
                raise DlibFormatError("head pool is not global")
            net.fc = fc.params.reshape(fc.shape)
            return net
        for pattern, down in ((_DOWN, True), (_RESIDUAL, False)):
            n = len(pattern.split())
            if _kinds(tokens[i : i + n]) == pattern:
                c1 = [t for t in tokens[i : i + n] if isinstance(t, _Layer) and t.kind in ("con", "affine")]
                if down and isinstance(p := tokens[i + 8], _Layer) and p.shape != (2, 2):
                    raise DlibFormatError("down block pool is not 2x2 stride 2")
                net.blocks.append(Block(_fold(c1[0], c1[1]), _fold(c1[2], c1[3]), down))
                i += n
                break
        else:
            raise DlibFormatError(f"unexpected layers: {rest[:80]}")
    raise DlibFormatError("no fc head")
