#!/usr/bin/env bash
# Builds tether and runs its tests. With no option: every default-labelled
# suite (core, integration, bindings). Options:
#   --fast       only the `core` label (no sockets; seconds)
#   --build DIR  build directory (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
labels=""
while [ $# -gt 0 ]; do
  case "$1" in
    --fast) labels="core" ;;
    --build) build="$2"; shift ;;
    *) echo "test.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

bash .ci/install-deps.sh

jobs=$(nproc)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTETHER_WERROR=ON >/dev/null
cmake --build "$build" -j "$jobs"

ctest_args=(--test-dir "$build" --output-on-failure -j "$jobs" --timeout 300 -LE soak)
[ -n "$labels" ] && ctest_args+=(-L "$labels")
ctest "${ctest_args[@]}"
