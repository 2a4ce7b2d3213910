#!/usr/bin/env bash
# The command line of a sample program or QA tool (CLI11, samples/common/cli.hpp):
# --help (exit 0) lists the flag given; --version prints "NAME VERSION";
# an unknown flag and a bad value each exit 2 with a message naming the flag.
#
#   check_cli.sh PROGRAM NAME VERSION FLAG BAD_VALUE
set -uo pipefail
prog="$1" name="$2" version="$3" flag="$4" bad="$5"
fail() { echo "FAIL ($name): $*" >&2; exit 1; }

out=$("$prog" --help 2>&1); rc=$?
[ "$rc" = 0 ] || fail "--help exited $rc"
[[ "$out" == *"$flag"* && "$out" == *"--version"* ]] || fail "--help does not list $flag and --version: $out"

out=$("$prog" --version 2>&1); rc=$?
[ "$rc" = 0 ] && [ "$out" = "$name $version" ] || fail "--version: exit $rc, '$out' (want '$name $version')"

err=$("$prog" --no-such-flag 2>&1 >/dev/null); rc=$?
[ "$rc" = 2 ] || fail "an unknown flag exited $rc, not 2"
[[ "$err" == *"--no-such-flag"* ]] || fail "the message does not name the unknown flag: $err"

err=$("$prog" "$flag" "$bad" 2>&1 >/dev/null); rc=$?
[ "$rc" = 2 ] || fail "$flag $bad exited $rc, not 2"
[[ "$err" == *"$flag"*"$bad"* ]] || fail "the message does not name $flag and '$bad': $err"
echo "ok: $name --help, --version, unknown flag, bad value"
