"""The dlib models of face_recognition, loaded once per process, and the 128-d embedding.

We call dlib directly (rather than ``face_recognition.face_encodings``) to control upsampling and to
embed from a crop, but with face_recognition's own model files and its alignment (5-point predictor,
padding 0.25), so the embedding equals the library's: tests/face checks that. Importing
``face_recognition.api`` would also load the CNN detector, which must never be on the request path.

The ResNet itself runs on onnxruntime when the converted model is present (resnet_onnx.py: the same
weights, the same embeddings to ~1e-6, ~3x less CPU than dlib's OpenBLAS build); dlib's own call is
the fallback, and the path for jittered (enrolment) embeddings. ``FaceConfig.embedder`` chooses:
``auto`` (onnx when available), ``onnx`` (required: fail at start-up without it) or ``dlib``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bhytgate.face.errors import InvalidEmbedding

Embedding = npt.NDArray[np.float64]  # shape (128,)
EMBEDDING_DIM = 128
MODEL_NAME = "dlib_face_recognition_resnet_model_v1"
EMBEDDERS = ("auto", "onnx", "dlib")
CHIP_SIZE, CHIP_PADDING = 150, 0.25  # dlib's compute_face_descriptor: the aligned chip it embeds

log = logging.getLogger("bhytgate.face")


@dataclass(frozen=True, slots=True)
class ModelId:
    """Which model made an embedding. Templates carry it so that a model change is detected."""

    name: str
    version: str


def _file_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _model_paths() -> tuple[str, str, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # face_recognition_models imports the deprecated pkg_resources
        import face_recognition_models as frm

    return (
        str(frm.pose_predictor_model_location()),
        str(frm.pose_predictor_five_point_model_location()),
        str(frm.face_recognition_model_location()),
    )


def _load_onnx(embedder: str) -> Any:
    """The onnxruntime encoder, or None for dlib's. ``auto`` converts on first use when the set-up
    step (scripts/bootstrap.sh) did not, and falls back to dlib if anything is missing."""
    if embedder not in EMBEDDERS:
        raise ValueError(f"embedder must be one of {EMBEDDERS}")
    if embedder == "dlib":
        return None
    try:
        from bhytgate.face import resnet_onnx

        path = resnet_onnx.cached_model_path()
        if not path.exists():
            path = resnet_onnx.convert(dest=path)
        return resnet_onnx.OnnxEncoder(path)
    except Exception as exc:
        if embedder == "onnx":
            raise RuntimeError(f"embedder=onnx but the ONNX encoder is unavailable: {exc}") from exc
        log.warning("ONNX face encoder unavailable (%s); using dlib's", type(exc).__name__)
        return None


class DlibModels:
    """Detectors (HOG, and BlazeFace unless ``detector="hog"``), the 5-point predictor, the
    face-point model and the ResNet; heavy, build once.

    ``landmarker``: "mesh" (MediaPipe Face Mesh + Iris, licence-clean; the 68-point file is then never
    loaded) or "ibug68" (dlib's 68-point predictor, not for commercial use)."""

    def __init__(self, embedder: str = "auto", landmarker: str = "mesh", detector: str = "blazeface") -> None:
        import dlib

        sp68_path, sp5_path, encoder_path = _model_paths()
        self.detector: Any = dlib.get_frontal_face_detector()
        self.proposer: Any = None  # BlazeFace, when detector = "blazeface"
        if detector == "blazeface":
            from bhytgate.face.blazeface import BlazeFace

            self.proposer = BlazeFace()
        elif detector != "hog":
            raise ValueError("detector must be blazeface or hog")
        self.landmarker = landmarker
        self.mesh: Any = None
        self.sp68: Any = None
        if landmarker == "mesh":
            from bhytgate.face.mesh import MeshLandmarker

            self.mesh = MeshLandmarker()
        elif landmarker == "ibug68":
            self.sp68 = dlib.shape_predictor(sp68_path)
        else:
            raise ValueError("landmarker must be mesh or ibug68")
        self.sp5: Any = dlib.shape_predictor(sp5_path)
        self.encoder: Any = dlib.face_recognition_model_v1(encoder_path)
        self._rectangle: Any = dlib.rectangle
        self._get_face_chip: Any = dlib.get_face_chip
        self.onnx: Any = _load_onnx(embedder)
        self.embedder = "onnx" if self.onnx is not None else "dlib"
        # The encoder's weights and the alignment predictor decide the embedding; name both, by
        # content, so that swapping either file is a detected model change.
        self.model_id = ModelId(
            name=MODEL_NAME,
            version=(
                f"face_recognition_models-{importlib.metadata.version('face_recognition_models')}"
                f";encoder-sha256:{_file_digest(encoder_path)};align-sha256:{_file_digest(sp5_path)}"
            ),
        )

    def rect(self, left: int, top: int, right: int, bottom: int) -> Any:
        return self._rectangle(left, top, right, bottom)

    def face_chip(self, pixels: npt.NDArray[np.uint8], shape5: Any) -> npt.NDArray[np.uint8]:
        """dlib's aligned 150x150 chip, exactly as compute_face_descriptor cuts it."""
        return np.asarray(self._get_face_chip(pixels, shape5, size=CHIP_SIZE, padding=CHIP_PADDING))


def embed_face(
    models: DlibModels,
    pixels: npt.NDArray[np.uint8],
    box: tuple[int, int, int, int],
    num_jitters: int = 1,
    *,
    shape: Any = None,
) -> Embedding:
    """Embed the face in ``box`` (left, top, exclusive right, exclusive bottom), as face_recognition does.

    ``shape``: dlib's 5 points for that face and box (`shape5`), when the caller already has them."""
    return embed_faces(models, [(pixels, box)], num_jitters, shapes=None if shape is None else [shape])[0]


def embed_faces(
    models: DlibModels,
    faces: list[tuple[npt.NDArray[np.uint8], tuple[int, int, int, int]]],
    num_jitters: int = 1,
    *,
    shapes: Sequence[Any] | None = None,
) -> list[Embedding]:
    """Several faces; on onnxruntime in one batch (~15% less per face than one at a time)."""
    if shapes is None:
        shapes = [shape5(models, px, b) for px, b in faces]
    if models.onnx is not None and num_jitters <= 1 and faces:
        chips = np.stack([models.face_chip(px, s) for (px, _), s in zip(faces, shapes, strict=True)])
        return [as_embedding(row) for row in models.onnx.embed_chips(chips)]
    return [
        as_embedding(np.asarray(models.encoder.compute_face_descriptor(px, s, num_jitters), np.float64))
        for (px, _), s in zip(faces, shapes, strict=True)
    ]


def shape5(models: DlibModels, pixels: npt.NDArray[np.uint8], box: tuple[int, int, int, int]) -> Any:
    """dlib's 5 alignment points (eye corners, nose base) for the face in ``box``, as dlib's object:
    what the ResNet's chip is cut on, the mesh is placed by and the second matcher aligns on."""
    return models.sp5(pixels, models.rect(box[0], box[1], box[2] - 1, box[3] - 1))


def shape5_points(
    models: DlibModels,
    pixels: npt.NDArray[np.uint8],
    box: tuple[int, int, int, int],
    *,
    shape: Any = None,
) -> npt.NDArray[np.float64]:
    """`shape5` as a (5, 2) array (computed unless the caller has it)."""
    found = shape5(models, pixels, box) if shape is None else shape
    return np.array([(p.x, p.y) for p in found.parts()], dtype=np.float64)


def as_embedding(value: npt.ArrayLike) -> Embedding:
    """Validate an embedding from anywhere (cache, template, caller): 128 finite float64 values."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidEmbedding("embedding is not numeric") from exc
    if arr.shape != (EMBEDDING_DIM,) or not np.all(np.isfinite(arr)):
        raise InvalidEmbedding(f"embedding must be {EMBEDDING_DIM} finite values")
    return arr
