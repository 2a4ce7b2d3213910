#!/usr/bin/env bash
# Builds tether and runs its tests: the README's test command.
#
# With no option: a normal build (-Werror) and every suite but soak (core,
# integration, bindings, samples, packaging, docs), in build/. The packaging
# tests install and purge the .deb with apt-get when run as root.
# Options:
#   --matrix  also, each in its own build directory:
#               ASan+UBSan build: core + integration suites    build-asan/
#               TSan build: client + transport suites (threads) build-tsan/
#               fuzz smoke runs (30 s each) when clang is there build-fuzz/
#   --stage asan|tsan|fuzz  only that part of the matrix
#   --fast    `core` label only (no sockets; seconds once built)
#   --soak [MINUTES]  only the soak test (default 5 minutes), in build/
set -euo pipefail
cd "$(dirname "$0")/.."

mode=default
soak_minutes=5
while [ $# -gt 0 ]; do
  case "$1" in
    --matrix) mode=matrix ;;
    --quick) mode=default ;;
    --fast) mode=fast ;;
    --stage) mode=stage; only="${2:-}"; shift
             case "$only" in asan|tsan|fuzz) ;; *) echo "test.sh: --stage asan|tsan|fuzz" >&2; exit 2 ;; esac ;;
    --soak) mode=soak; if [ $# -gt 1 ] && [[ "$2" =~ ^[0-9]+$ ]]; then soak_minutes="$2"; shift; fi ;;
    *) echo "test.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

extras=(--bindings --bench --demo --go --cluster --packaging --docs)
{ [ "$mode" = matrix ] || [ "$mode" = stage ]; } && extras+=(--fuzz)
bash .ci/install-deps.sh "${extras[@]}"

jobs=$(nproc)
summary=()
stage() { # name, then the command
  local name="$1"; shift
  local t0=$SECONDS
  echo "=== $name ==="
  "$@"
  summary+=("$name: $((SECONDS - t0)) s")
}

configure() { # dir, extra cmake args...
  local dir="$1"; shift
  cmake -S . -B "$dir" -G Ninja -DTETHER_WERROR=ON "$@" >/dev/null
}

normal() {
  configure build -DCMAKE_BUILD_TYPE=RelWithDebInfo
  cmake --build build -j "$jobs"
  local labels=()
  [ "$mode" = fast ] && labels=(-L core)
  ctest --test-dir build --output-on-failure -j "$jobs" --timeout 300 -LE 'soak|fuzz' "${labels[@]}"
}

asan() {
  # -O1 keeps the sanitizer builds quick to compile and still fast to run.
  configure build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DTETHER_SANITIZE=address \
    -DTETHER_BUILD_BINDINGS=ON -DTETHER_BUILD_BENCH=OFF
  cmake --build build-asan -j "$jobs"
  # TETHER_HOSTILE_RSS_BOUND_MIB: ASan's quarantine holds the freed buffers of
  # the never-reading client's 128 MiB, so the server-memory bound of the
  # hostile table is checked in the normal stage only.
  local env=(env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
             TETHER_HOSTILE_RSS_BOUND_MIB=1024)
  "${env[@]}" ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 600 -L 'core|integration|persist' -LE 'soak|fuzz'
  # The C ABI suite too (C programs on the instrumented library; the Python
  # and C# runtimes are not instrumented, and install only repackages).
  "${env[@]}" ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 600 -L c_abi_native
}

tsan() {
  configure build-tsan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DTETHER_SANITIZE=thread \
    -DTETHER_BUILD_BINDINGS=ON -DTETHER_BUILD_BENCH=OFF
  cmake --build build-tsan -j "$jobs" --target tether_integration_tests tether_transport_tests chat-server fault-proxy \
    tether_c c_abi_test c_abi_layout_test c_abi_cpp_header_test tether_persist_integration_tests tether-cli \
    tether_persist_tests
  # Every multi-threaded test: the client suite (app threads + io thread;
  # concurrent senders, chaos, TLS, auth), the transport/reactor suite, and
  # the C ABI suite (one io thread per client, callbacks, destroy), and the
  # durable client (client.ClientPersist*: store commits under the session
  # lock from app threads and the io thread) with the store's own suite.
  local env=(env TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1)
  "${env[@]}" ctest --test-dir build-tsan --output-on-failure -j "$jobs" --timeout 600 \
    -R "^client\.|^Store|^Transport|^TlsTransport|^ProxiedEcho|^FaultProxy"
  "${env[@]}" ctest --test-dir build-tsan --output-on-failure -j "$jobs" --timeout 600 -L c_abi_native
}

fuzz() {
  if ! command -v clang++ >/dev/null; then echo "clang++ not found: fuzz smoke skipped"; return 0; fi
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTETHER_FUZZ=ON \
    -DTETHER_BUILD_TRANSPORT=OFF -DTETHER_BUILD_SAMPLES=OFF -DTETHER_BUILD_BENCH=OFF >/dev/null
  cmake --build build-fuzz -j "$jobs" --target frame_codec_fuzz session_fuzz json_encode_fuzz
  ctest --test-dir build-fuzz --output-on-failure --timeout 300 -L fuzz
}

soak() {
  configure build -DCMAKE_BUILD_TYPE=RelWithDebInfo
  cmake --build build -j "$jobs"
  TETHER_SOAK_MINUTES="$soak_minutes" ctest --test-dir build --output-on-failure --timeout 0 -L soak
}

case "$mode" in
  fast) stage "normal build + core tests" normal ;;
  default) stage "normal build + all suites" normal ;;
  soak) stage "soak ($soak_minutes min)" soak ;;
  stage) stage "$only" "$only" ;;
  matrix)
    stage "normal build + all suites" normal
    stage "ASan+UBSan: core + integration" asan
    stage "TSan: concurrency" tsan
    stage "fuzz smoke" fuzz
    ;;
esac

echo "=== timing ==="
printf '%s\n' "${summary[@]}"
