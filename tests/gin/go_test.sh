#!/bin/sh
# Runs one Go test package of tests/gin in GOPATH mode against Debian's Go
# packages (/usr/share/gocode; no module downloads):
#   tests/gin/go_test.sh PACKAGE [go test flags...]
# e.g. TETHER_TEST_SERVER=build/samples/chat-server/chat-server tests/gin/go_test.sh hostile -race -v
set -eu
here=$(cd "$(dirname "$0")" && pwd)
pkg=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp/src/tether.test"
ln -s "$here" "$tmp/src/tether.test/gin"
cd "$tmp/src/tether.test/gin/$pkg"
GO111MODULE=off GOPATH="$tmp:/usr/share/gocode" go vet .
GO111MODULE=off GOPATH="$tmp:/usr/share/gocode" go test "$@" .
