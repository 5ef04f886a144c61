#!/usr/bin/env bash
# Build the light Python SDK (clients/sdk-python, distribution `bhytgate-client`) as a wheel into
# OUTDIR (default dist/) and print the wheel's path. Used by scripts/bootstrap.sh and by
# tests/sdk/test_wheel.py, so that the tested wheel is built exactly as the set-up builds it.
#
# From a clean copy of the sources: setuptools builds inside the source tree, and a build/ left
# there by an earlier build would carry modules deleted since into the wheel. Needs setuptools in
# $PYTHON's environment (no build isolation, so no index is needed).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-dist}")
PY=${PYTHON:-.venv/bin/python}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bhytgate-client-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tar -C clients --exclude=build --exclude='*.egg-info' --exclude=__pycache__ -cf - sdk-python | tar -C "$tmp" -xf -
mkdir -p "$out"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' clients/sdk-python/pyproject.toml)
wheel="$out/bhytgate_client-$version-py3-none-any.whl"
rm -f "$wheel"
"$PY" -m pip --disable-pip-version-check -q wheel --no-deps --no-build-isolation -w "$out" "$tmp/sdk-python" >&2
[ -f "$wheel" ] || { echo "build_client_wheel: pip did not produce $wheel" >&2; exit 1; }
echo "$wheel"
