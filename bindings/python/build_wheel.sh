#!/usr/bin/env bash
# Builds the tether wheel with libtether.so.0 inside, from a scratch copy of
# bindings/python (the source tree stays clean), with Debian's python3-build
# and setuptools and no downloads (--no-isolation).
#
#   build_wheel.sh LIBTETHER_SO SOURCE_DIR OUT_DIR   -> OUT_DIR/dist/tether-*.whl
set -euo pipefail
lib="$1" src="$2" out="$3"
python=/usr/bin/python3
"$python" -c "import build, setuptools, wheel" 2>/dev/null ||
  { echo "build_wheel: needs python3-build python3-setuptools python3-wheel (bash .ci/install-deps.sh --packaging)" >&2; exit 77; }
rm -rf "$out/src" "$out/dist"
mkdir -p "$out/src"
cp "$src/bindings/python/pyproject.toml" "$src/bindings/python/setup.py" "$out/src/"
cp -r "$src/bindings/python/tether" "$out/src/tether"
find "$out/src" -name __pycache__ -prune -exec rm -rf {} + -o -name 'libtether.so*' -exec rm -f {} +
# The library without its debug sections and local symbols (the build's is RelWithDebInfo).
strip --strip-unneeded -o "$out/src/tether/libtether.so.0" "$lib"
(cd "$out/src" && "$python" -m build --wheel --no-isolation --outdir "$out/dist" >"$out/build.log" 2>&1) ||
  { cat "$out/build.log" >&2; exit 1; }
ls "$out"/dist/tether-*.whl
