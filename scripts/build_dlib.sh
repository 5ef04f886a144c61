#!/usr/bin/env bash
# Build dlib from the PyPI sdist against OpenBLAS into a wheel cache, once per machine.
#
#   scripts/build_dlib.sh [--python PY] [--print-path] [--force]
#
# Why: the prebuilt `dlib-bin` wheel has no BLAS, so the 128-d ResNet embedding runs on dlib's
# own matrix code (~100 ms). Linked against OpenBLAS it takes ~20 ms. The compiler matters for
# the HOG face detector: Debian 12's GCC 12 with dlib's default -mavx makes it 2x slower than
# dlib-bin (GCC 14); clang 16 makes it ~15% faster than dlib-bin. So the default compiler is
# clang-16 (BHYTGATE_DLIB_COMPILER=clang); BHYTGATE_DLIB_COMPILER=gcc uses g++ with -mavx2 -mfma
# when the CPU has them (HOG then on par with dlib-bin). docs/dlib-build.md has the numbers.
#
# The wheel lands in ${BHYTGATE_WHEEL_CACHE:-$HOME/.cache/bhytgate/wheels}/<key>/, where <key>
# covers the dlib version, the build flags (this file's FLAGS block), the compiler, the Python
# ABI, the architecture and the CPU features the build uses. A matching cached wheel is reused
# (seconds); otherwise the build takes 10-20 minutes on 2 shared cores. --print-path prints only
# the wheel's path on stdout (progress goes to stderr), for scripts/bootstrap.sh to pick up.
#
# Build needs (Debian): make, cmake, pkg-config, libopenblas-dev, g++ (libstdc++ headers),
# clang-16 (default compiler), and the Python headers. They are apt-installed when missing and
# we are root; otherwise the script stops and says what to install. At run time the wheel needs
# libopenblas.so.0: `apt-get install libopenblas0` on a machine that installs a cached wheel
# without building it (libopenblas-dev pulls it in where the wheel was built).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
PRINT_PATH=0
FORCE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --python) PY=$2; shift 2 ;;
    --print-path) PRINT_PATH=1; shift ;;
    --force) FORCE=1; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "build_dlib.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
say() { echo "build_dlib: $*" >&2; }

# ---- FLAGS: what is built. Changing anything here changes the cache key. ----
DLIB_VERSION=20.0.1
DLIB_SDIST_SHA256=7cb2a09467de032332c743bc967007f016598c66c9c9ebc54a5b66d3d9e46d54
# dlib's setup.py forwards every DLIB_* environment variable to CMake as -D.
BUILD_ENV=(
  DLIB_USE_BLAS=ON          # required: the build fails below if CMake did not find OpenBLAS
  DLIB_USE_LAPACK=ON        # OpenBLAS's built-in LAPACK; unused by our request path
  DLIB_USE_CUDA=OFF         # never; also skips probing /usr/local/cuda
  DLIB_NO_GUI_SUPPORT=ON    # no libX11 at run time
  DLIB_LINK_WITH_SQLITE3=OFF
  # Pillow decodes our images, but keep JPEG and PNG: the Python module calls save_jpeg
  # unconditionally (with JPEG off it fails to import: undefined symbol dlib::save_jpeg).
  # dlib uses the system libjpeg/libpng when their -dev packages are installed, else its own
  # bundled copies compiled in; BUILD-INFO lists what the wheel links.
  DLIB_JPEG_SUPPORT=ON
  DLIB_PNG_SUPPORT=ON
  DLIB_WEBP_SUPPORT=OFF     # would link libwebp/libjxl if found; not needed
  DLIB_JXL_SUPPORT=OFF
)
APT_BUILD_DEPS=(g++ make cmake pkg-config libopenblas-dev)
COMPILER=${BHYTGATE_DLIB_COMPILER:-clang}
CLANG_PKG=clang-16
# ---- end FLAGS ----

[ "$(uname -s)" = Linux ] || { say "only Linux is supported"; exit 2; }
command -v "$PY" >/dev/null || { say "no Python interpreter '$PY'"; exit 2; }
pytag=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
arch=$(uname -m)
# dlib's CMake enables -mavx when the build host can run AVX (else SSE4); the wheel then needs
# the same on the machine that runs it, so the CPU features the build uses are part of the key.
has() { grep -qw "$1" /proc/cpuinfo; }
isa=noavx
has avx && isa=avx
cxxflags=""
case "$COMPILER" in
  clang) ;;
  gcc)
    # GCC 12 compiles dlib's 256-bit HOG code badly with AVX alone; with AVX2+FMA it is as fast
    # as dlib-bin. Machines without them get dlib's default (-mavx or -msse4).
    if has avx2 && has fma; then cxxflags="-mavx2 -mfma"; isa=avx2; fi ;;
  *) say "BHYTGATE_DLIB_COMPILER must be clang or gcc, not '$COMPILER'"; exit 2 ;;
esac
flags_hash=$(printf '%s\n' "$DLIB_VERSION" "$DLIB_SDIST_SHA256" "${BUILD_ENV[@]}" "$cxxflags" \
  | sha256sum | cut -c1-12)
key="dlib-$DLIB_VERSION-openblas-$COMPILER-$isa-$pytag-$arch-$flags_hash"
cache=${BHYTGATE_WHEEL_CACHE:-$HOME/.cache/bhytgate/wheels}
dest="$cache/$key"

found() {
  local w
  w=$(ls "$dest"/dlib-"$DLIB_VERSION"-*.whl 2>/dev/null | head -n1 || true)
  [ -n "$w" ] && [ -f "$dest/BUILD-INFO" ] && echo "$w"
}
if [ "$FORCE" = 0 ] && whl=$(found); then
  say "cached: $whl"
  [ "$PRINT_PATH" = 1 ] && echo "$whl"
  exit 0
fi

# ---- build dependencies ----
[ "$COMPILER" = clang ] && APT_BUILD_DEPS+=("$CLANG_PKG")
missing=()
for p in "${APT_BUILD_DEPS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! "$PY" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
  # A Debian system Python keeps its headers in python3-dev; pyenv and python.org builds have them.
  missing+=("python3-dev")
fi
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    say "missing build dependencies (${missing[*]}) and no apt-get; install their equivalents and rerun"
    exit 3
  fi
  if [ "$(id -u)" != 0 ]; then
    say "missing build dependencies: ${missing[*]}"
    say "installing them needs root. Run:  sudo apt-get update && sudo apt-get install -y ${missing[*]}"
    say "then rerun $0 (or use the prebuilt dlib-bin wheel: unset BHYTGATE_DLIB)"
    exit 3
  fi
  say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# ---- build ----
work=$(mktemp -d "${TMPDIR:-/tmp}/build_dlib.XXXXXX")
trap 'rm -rf "$work"' EXIT
say "building $key (10-20 minutes on 2 cores); log: $work/build.log"
start=$(date +%s)
"$PY" -m venv "$work/venv"
bpip() { "$work/venv/bin/python" -m pip --disable-pip-version-check -q "$@"; }
bpip install "pip>=24" "setuptools>=77,<81" wheel >&2
# The sdist, pinned by hash. --no-binary dlib (not :all:, which would also compile the `cmake`
# build requirement from source); no build isolation: setuptools comes from the venv above and
# cmake from apt, so the build needs nothing else from PyPI.
echo "dlib==$DLIB_VERSION --hash=sha256:$DLIB_SDIST_SHA256" > "$work/req.txt"
(
  for kv in "${BUILD_ENV[@]}"; do export "${kv%%=*}=${kv#*=}"; done
  # CMake takes the compilers from CC/CXX and the initial CMAKE_CXX_FLAGS from CXXFLAGS.
  if [ "$COMPILER" = clang ]; then
    export CC=clang-${CLANG_PKG#clang-} CXX=clang++-${CLANG_PKG#clang-}
  else
    export CC=gcc CXX=g++
  fi
  export CXXFLAGS="$cxxflags" CFLAGS=
  # setup.py runs make -j<cores> (bounded by 2 GB of RAM per job); CMAKE_BUILD_PARALLEL_LEVEL overrides.
  "$work/venv/bin/python" -m pip --disable-pip-version-check wheel -v --no-deps \
    --no-build-isolation --no-binary dlib --require-hashes -r "$work/req.txt" -w "$work/wheel" \
    >"$work/build.log" 2>&1
) || { say "build failed; last lines of the log:"; tail -n 40 "$work/build.log" >&2; exit 1; }
secs=$(( $(date +%s) - start ))
whl_tmp=$(ls "$work"/wheel/dlib-"$DLIB_VERSION"-*.whl)

# ---- check what was built: refuse a wheel without BLAS ----
bpip install --no-deps "$whl_tmp" >&2
attrs=$(cd "$work" && OPENBLAS_NUM_THREADS=1 "$work/venv/bin/python" -c '
import dlib
a = {k: getattr(dlib, k) for k in sorted(dir(dlib)) if k.startswith(("DLIB_", "USE_"))}
print(" ".join(f"{k}={v}" for k, v in a.items()))
assert a["DLIB_USE_BLAS"], "CMake did not find a BLAS library: see the build log"
assert not a["DLIB_USE_CUDA"]
')
so=$(ls "$work"/venv/lib/python*/site-packages/_dlib_pybind11*.so)
libs=$(ldd "$so" | awk '$1 !~ /^(linux-vdso|\/lib64|libc\.|libm\.|libstdc|libgcc_s|libpthread)/ {print $1}' | tr '\n' ' ')
owners=$(for l in $libs; do f=$(ldd "$so" | awk -v l="$l" '$1==l {print $3}'); [ -n "$f" ] && dpkg -S "$(readlink -f "$f")" 2>/dev/null | cut -d: -f1; done | sort -u | tr '\n' ' ' || true)
cmake_line=$(grep -m1 "Invoking CMake setup" "$work/build.log" | sed 's/^ *//')
avx_line=$(grep -m1 -E "Enabling (AVX|SSE4|SSE2) instructions" "$work/build.log" | sed 's/^ *-- //' || true)

mkdir -p "$cache"
rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
cp "$whl_tmp" "$dest.tmp/"
cat >"$dest.tmp/BUILD-INFO" <<EOF
key: $key
built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname) in ${secs}s
python: $("$PY" -c 'import sys; print(sys.version.split()[0])') ($pytag, $arch)
compiler: $COMPILER ($(grep -m1 -E "The CXX compiler identification" "$work/build.log" | sed 's/^ *-- //')) CXXFLAGS='$cxxflags'
cmake: $(cmake --version | head -n1)
openblas: $(dpkg-query -W -f='${Version}' libopenblas-dev 2>/dev/null || echo unknown)
instructions: ${avx_line:-unknown}
dlib attributes: $attrs
links: $libs
runtime packages (dpkg -S of those): $owners(on another machine: libopenblas0 is the one to apt-get install)
$cmake_line
EOF
rm -rf "$dest"
mv "$dest.tmp" "$dest"
whl="$dest/$(basename "$whl_tmp")"
say "built in ${secs}s: $whl"
sed 's/^/build_dlib:   /' "$dest/BUILD-INFO" >&2
[ "$PRINT_PATH" = 1 ] && echo "$whl"
exit 0
