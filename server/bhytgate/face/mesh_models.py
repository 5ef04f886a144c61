"""The licence-clean MediaPipe models (Face Mesh, Iris, BlazeFace), taken from its PyPI wheel.

MediaPipe 0.10.x wheels carry the model files (`mediapipe/modules/...tflite`, Apache-2.0, trained on
Google's own annotated images: see README "Model files and their terms"); later wheels download them
at run time, which we never do. The set-up step (scripts/bootstrap.sh) runs this module once: it asks
pip for that one wheel (no dependencies, nothing installed), extracts the three files into the model
cache and checks each against the SHA-256 pinned here, so a different file is refused, not used.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bhytgate.face.resnet_onnx import cache_dir

SOURCE_WHEEL = "mediapipe==0.10.14"  # the last release line that ships the .tflite files
# The model files are the same in every platform's wheel; one wheel is named so that pip finds it
# whatever interpreter runs set-up (0.10.14 has no wheel for Python 3.13).
WHEEL_TAGS = ("--python-version", "3.11", "--platform", "manylinux_2_17_x86_64", "--implementation", "cp")
MAX_MODEL_BYTES = 16 * 1024 * 1024  # every file is under 3 MB; a larger member is not ours


@dataclass(frozen=True, slots=True)
class ModelFile:
    name: str  # file name in the cache
    member: str  # path inside the wheel
    sha256: str


FACE_MESH = ModelFile(
    "mediapipe-face_landmark.tflite",
    "mediapipe/modules/face_landmark/face_landmark.tflite",
    "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
)
IRIS = ModelFile(
    "mediapipe-iris_landmark.tflite",
    "mediapipe/modules/iris_landmark/iris_landmark.tflite",
    "d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f",
)
# Face proposals (face/blazeface.py): BlazeFace full range, the sparse variant MediaPipe ships.
BLAZEFACE = ModelFile(
    "mediapipe-face_detection_full_range_sparse.tflite",
    "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
    "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
)
FILES = (FACE_MESH, IRIS, BLAZEFACE)


class MeshModelsMissing(RuntimeError):
    """The landmark models are not in the cache (or differ from the pinned files)."""


def path_of(model: ModelFile, directory: Path | None = None) -> Path:
    return (directory or cache_dir()) / model.name


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verified_bytes(model: ModelFile, directory: Path | None = None) -> bytes:
    """The cached file's content, checked against its pinned digest (the caller loads these bytes,
    not the path again); raise MeshModelsMissing otherwise."""
    path = path_of(model, directory)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise MeshModelsMissing(
            f"{path} is missing: run scripts/bootstrap.sh (or python -m bhytgate.face.mesh_models)"
        ) from exc
    except OSError as exc:
        raise MeshModelsMissing(f"{path} cannot be read: {exc.strerror}") from exc
    if _digest(data) != model.sha256:
        raise MeshModelsMissing(f"{path} does not match its pinned SHA-256; refusing to use it")
    return data


def verified_path(model: ModelFile, directory: Path | None = None) -> Path:
    """The cached file's path, after checking its content against the pin."""
    verified_bytes(model, directory)
    return path_of(model, directory)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # read by the service's user, whoever ran set-up
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def extract(wheel: Path, directory: Path | None = None) -> list[Path]:
    """Copy the pinned files out of a MediaPipe wheel into the cache, refusing any other content."""
    contents = []
    with zipfile.ZipFile(wheel) as archive:
        for model in FILES:
            try:
                info = archive.getinfo(model.member)
            except KeyError as exc:
                raise MeshModelsMissing(f"{wheel.name} holds no {model.member}") from exc
            if info.file_size > MAX_MODEL_BYTES:
                raise MeshModelsMissing(f"{model.member} in {wheel.name} is not the pinned file")
            data = archive.read(info)
            if _digest(data) != model.sha256:
                raise MeshModelsMissing(f"{model.member} in {wheel.name} is not the pinned file")
            contents.append((model, data))
    # Written only once every file checked out.
    written = []
    for model, data in contents:
        target = path_of(model, directory)
        _write(target, data)
        written.append(target)
    return written


def provision(directory: Path | None = None, *, wheel: Path | None = None) -> list[Path]:
    """Make sure every file is cached; fetch the wheel with pip (no dependencies) only if needed."""
    try:
        return [verified_path(m, directory) for m in FILES]
    except MeshModelsMissing:
        pass
    if wheel is not None:
        return extract(wheel, directory)
    with tempfile.TemporaryDirectory(prefix="bhytgate-mediapipe-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        command += [*WHEEL_TAGS, "--disable-pip-version-check", "-q", "-d", tmp, SOURCE_WHEEL]
        subprocess.run(command, check=True)  # noqa: S603 -- a fixed command: this interpreter's pip
        wheels = sorted(Path(tmp).glob("mediapipe-*.whl"))
        if not wheels:
            raise MeshModelsMissing(f"pip did not fetch {SOURCE_WHEEL}")
        return extract(wheels[0], directory)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheel", type=Path, help="a MediaPipe 0.10.x wheel already on disk")
    args = parser.parse_args(argv)
    for path in provision(wheel=args.wheel):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
