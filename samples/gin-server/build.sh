#!/usr/bin/env bash
# Builds, vets or tests the Go server in GOPATH mode against Debian's Go
# packages (/usr/share/gocode): nothing is downloaded.
#
#   build.sh build OUT     go build the command to OUT
#   build.sh vet           gofmt check + go vet ./...
#   build.sh test [ARGS]   go test -race ./... (ARGS go to go test)
#
# The tree is symlinked under its import path, tether.dev/gin-server, in a
# temporary GOPATH that is removed on exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src/tether.dev" "$tmp/cache"
ln -s "$here" "$tmp/src/tether.dev/gin-server"
export GO111MODULE=off GOPATH="$tmp:/usr/share/gocode" GOFLAGS=-mod=
export GOCACHE="${TETHER_GOCACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tether-go-build}"
cd "$tmp/src/tether.dev/gin-server"
cmd="${1:-build}"
shift || true
case "$cmd" in
  build)
    out="${1:?build.sh build OUT}"
    go build -o "$out" ./cmd/tether-gin-server ;;
  vet)
    unformatted="$(gofmt -l tether cmd)"
    if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
    go vet ./... ;;
  test)
    go test -race -count=1 "$@" ./... ;;
  *) echo "build.sh: build OUT | vet | test [ARGS]" >&2; exit 2 ;;
esac
