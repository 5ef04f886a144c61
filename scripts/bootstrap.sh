#!/usr/bin/env bash
# Create .venv and install the project on a fresh machine. Idempotent: a stamp keyed on the
# dependency files skips the install when nothing changed.
#
# Why not a plain `pip install -e .`: face-recognition 1.3.0 depends on the `dlib` sdist, a
# ~9 minute C++ build. By default we install the prebuilt `dlib-bin` wheel (same dlib 20.0 API) and
# then face-recognition with --no-deps. BHYTGATE_DLIB=openblas builds (once, cached) and installs the
# clang + OpenBLAS wheel instead: 2.1x less CPU per check, 10-20 minutes for the first build
# (scripts/build_dlib.sh, docs/dlib-build.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
DLIB=${BHYTGATE_DLIB:-bin}  # bin: prebuilt dlib-bin wheel; openblas: scripts/build_dlib.sh

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.bhytgate-installed"
want=$( (cat pyproject.toml scripts/bootstrap.sh scripts/build_dlib.sh; echo "dlib=$DLIB") | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }
pip install --upgrade "pip>=24"
pip install "setuptools>=77,<81" wheel
case "$DLIB" in
  openblas)
    whl=$(scripts/build_dlib.sh --python "$VENV/bin/python" --print-path)
    pip uninstall -y dlib-bin >/dev/null 2>&1 || true  # both wheels own dlib/ and _dlib_pybind11*.so
    pip install --no-deps --force-reinstall "$whl" ;;
  bin)
    pip uninstall -y dlib >/dev/null 2>&1 || true
    pip install "dlib-bin==20.0.1.post1" ;;
  *) echo "BHYTGATE_DLIB must be bin or openblas" >&2; exit 2 ;;
esac
pip install --no-deps "face-recognition==1.3.0"
# Everything else the normal way; face-recognition is already satisfied, and its `dlib`
# requirement is excluded by installing the project itself with --no-deps.
"$VENV/bin/python" - <<'PYEOF' > "$VENV/.requirements.txt"
import tomllib
meta = tomllib.load(open("pyproject.toml", "rb"))["project"]
deps = meta["dependencies"] + meta["optional-dependencies"]["dev"]
print("\n".join(d for d in deps if not d.startswith("face-recognition")))
PYEOF
pip install -r "$VENV/.requirements.txt"
pip install --no-deps --no-build-isolation -e .
echo "$want" > "$stamp"
