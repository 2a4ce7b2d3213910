#!/usr/bin/env bash
# The Python wheel the way a user gets it: builds it (bindings/python/build_wheel.sh), checks
# it is tagged for the platform, installs it into a fresh venv, where
# `import tether` and `python -m tether --version` work with no environment
# variable (the bundled libtether.so.0 is found beside the package), then runs
# the pytest suite once against the installed wheel (a second venv that sees
# Debian's pytest), from a directory where the source package is not importable.
#
#   check_wheel.sh LIBTETHER_SO SOURCE_DIR CHAT_SERVER WORK_DIR
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/common.sh"
lib="$1" src="$2" chat_server="$3" WORK="$4"
python=/usr/bin/python3
"$python" -c "import venv, ensurepip" 2>/dev/null || skip "needs python3-venv (bash .ci/install-deps.sh --packaging)"
"$python" -c "import pytest" 2>/dev/null || skip "needs python3-pytest"

rm -rf "$WORK"
mkdir -p "$WORK/run"
unset TETHER_LIBRARY PYTHONPATH LD_LIBRARY_PATH

say "build the wheel"
rc=0
wheel=$(bash "$src/bindings/python/build_wheel.sh" "$lib" "$src" "$WORK/wheel") || rc=$?
[ "$rc" = 77 ] && skip "python3-build, python3-setuptools or python3-wheel missing"
[ "$rc" = 0 ] || fail "wheel build"
echo "$(basename "$wheel"): $(stat -c %s "$wheel") bytes"
[[ "$(basename "$wheel")" == tether-*-py3-none-linux_*.whl ]] || fail "the wheel is not tagged for the platform: $wheel"
listing=$("$python" -m zipfile -l "$wheel")
[[ "$listing" == *"tether/libtether.so.0 "* ]] || fail "libtether.so.0 is not in the wheel"

say "fresh venv: pip install, import, --version"
"$python" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q --no-index --no-cache-dir "$wheel" || fail "pip install $wheel"
cd "$WORK/run"
"$WORK/venv/bin/python" -c "import tether, sys; sys.exit(0 if tether.version() == tether.__version__ else 1)" ||
  fail "import tether / tether.version() in the venv"
out=$("$WORK/venv/bin/python" -m tether --version) || fail "python -m tether --version"
echo "$out"
[[ "$out" == "tether "*" (library "*"$WORK/venv/"*"/tether/libtether.so.0)" ]] ||
  fail "python -m tether --version did not load the wheel's library: $out"

say "pytest against the installed wheel"
"$python" -m venv --system-site-packages "$WORK/venv-test"
"$WORK/venv-test/bin/pip" install -q --no-index --no-cache-dir "$wheel" || fail "pip install $wheel (test venv)"
CHAT_SERVER="$chat_server" TETHER_TEST_INSTALLED=1 PYTHONDONTWRITEBYTECODE=1 \
  "$WORK/venv-test/bin/python" -m pytest -q -p no:cacheprovider "$src/bindings/python/tests" || fail "pytest against the wheel"
say "PASS: wheel built, installed, imported without environment, suite passed"
