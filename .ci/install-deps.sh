#!/usr/bin/env bash
# Installs the Debian 12 packages tether needs, only when something is missing.
# Runs apt-get as root (or through sudo when available).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libwebsocketpp-dev libasio-dev libssl-dev openssl nlohmann-json3-dev libsqlite3-dev
  googletest libgtest-dev libgmock-dev
  python3 tmux libcli11-dev
)
# Extra groups, requested by callers: --bindings, --bench, --fuzz, --demo, --go, --cluster, --packaging, --docs.
for arg in "$@"; do
  case "$arg" in
    --bindings) packages+=(python3 python3-pytest mono-mcs mono-runtime nunit-console libnunit-cil-dev) ;;
    --bench) packages+=(libbenchmark-dev libboost-dev) ;;
    --fuzz) packages+=(clang libclang-rt-14-dev) ;;
    --demo) packages+=(python3 tmux) ;;
    # samples/gin-server, built in GOPATH mode from these (no module downloads).
    --go) packages+=(golang-go golang-github-gin-gonic-gin-dev golang-github-gorilla-websocket-dev
                     golang-github-prometheus-client-golang-dev golang-github-stretchr-testify-dev
                     golang-github-gomodule-redigo-dev) ;;
    # tests/cluster: real Redis and nginx in front of several Go server instances.
    --cluster) packages+=(redis-server nginx-light) ;;
    # The .deb (CPack + dpkg-shlibdeps, lintian), the wheel, the NuGet package.
    --packaging) packages+=(dpkg-dev file lintian python3-build python3-setuptools python3-wheel python3-venv nuget) ;;
    --docs) packages+=(doxygen) ;;
    *) echo "install-deps: unknown option $arg" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
