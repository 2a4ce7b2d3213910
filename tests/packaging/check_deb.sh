#!/usr/bin/env bash
# The Debian packages the way a user gets them: builds libtether0 and
# libtether-dev with CPack, runs lintian (no errors allowed), installs both
# with apt-get, builds three consumers against the system paths (C++ through
# find_package(tether), C through pkg-config, C with plain -ltether), runs each
# against a chat-server it starts, purges the packages and checks that nothing
# is left behind. Needs root (apt-get); skipped otherwise.
#
#   check_deb.sh BUILD_DIR SOURCE_DIR CHAT_SERVER WORK_DIR
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/common.sh"
build="$1" src="$2" chat_server="$3" WORK="$4"

[ "$(id -u)" -eq 0 ] || skip "needs root to apt-get install the .deb files (run as root, or: sudo ctest -L packaging)"
for tool in cpack apt-get dpkg-shlibdeps lintian pkg-config cc; do
  command -v "$tool" >/dev/null || skip "$tool not found (bash .ci/install-deps.sh --packaging)"
done
for p in libtether0 libtether-dev; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    skip "$p is already installed on this machine; not touching it"
  fi
done

rm -rf "$WORK"
mkdir -p "$WORK"
installed=0
cleanup() {
  stop_server
  if [ "$installed" = 1 ]; then apt-get purge -y -qq -o DPkg::Lock::Timeout=120 libtether0 libtether-dev >/dev/null || true; fi
}
trap cleanup EXIT

say "cpack"
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$WORK/pkg" >"$WORK/cpack.log" 2>&1 || { cat "$WORK/cpack.log"; fail "cpack"; }
debs=("$WORK"/pkg/libtether0_*.deb "$WORK"/pkg/libtether-dev_*.deb)
for d in "${debs[@]}"; do
  [ -f "$d" ] || fail "missing package: $d"
  echo "$(basename "$d"): $(stat -c %s "$d") bytes; Depends: $(dpkg-deb -f "$d" Depends)"
done
[ -n "$(dpkg-deb -f "$WORK"/pkg/libtether0_*.deb Depends)" ] || fail "libtether0 has no Depends (dpkg-shlibdeps did not run?)"

say "lintian"
if ! lintian --fail-on error --tag-display-limit 0 "${debs[@]}"; then
  fail "lintian reported errors"
fi

say "apt-get install"
find /usr -xdev | sort >"$WORK/usr.before"
installed=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=120 --no-install-recommends \
  "${debs[@]}" >"$WORK/apt-install.log" 2>&1 || { cat "$WORK/apt-install.log"; fail "apt-get install"; }
dpkg -L libtether0 libtether-dev | sort -u >"$WORK/files"
for f in /usr/lib/libtether.so.0 /usr/include/tether/tether.h /usr/include/tether/client.hpp /usr/lib/pkgconfig/tether.pc \
         /usr/lib/cmake/tether/tetherConfig.cmake /usr/lib/libtether.a; do
  grep -qx "$f" "$WORK/files" || fail "$f is not in the packages (dpkg -L)"
done

say "start chat-server"
start_server "$chat_server" --echo

say "C++ consumer, find_package(tether)"
cmake -S "$here/consumer" -B "$WORK/cpp" -G Ninja >"$WORK/cpp.log" 2>&1 &&
  cmake --build "$WORK/cpp" >>"$WORK/cpp.log" 2>&1 || { cat "$WORK/cpp.log"; fail "C++ consumer build"; }
grep -q "/usr/lib/cmake/tether" "$WORK/cpp/CMakeCache.txt" || fail "find_package(tether) did not use /usr/lib/cmake/tether"
"$WORK/cpp/roundtrip_cpp" "$SERVER_URL" || fail "C++ consumer round trip"

say "C consumer, pkg-config tether"
flags=$(pkg-config --cflags --libs tether) || fail "pkg-config tether"
echo "pkg-config --cflags --libs tether: $flags"
# shellcheck disable=SC2086
cc -std=c99 -Wall -Werror "$here/consumer/roundtrip.c" $flags -o "$WORK/roundtrip_pc" || fail "C consumer (pkg-config) build"
"$WORK/roundtrip_pc" "$SERVER_URL" || fail "C consumer (pkg-config) round trip"

say "C consumer, -ltether"
cc -std=c99 -Wall -Werror "$here/consumer/roundtrip.c" -ltether -o "$WORK/roundtrip_l" || fail "C consumer (-ltether) build"
loaded=$(ldd "$WORK/roundtrip_l")
[[ "$loaded" =~ libtether\.so\.0\ =\>\ (/usr)?/lib/libtether\.so\.0\  ]] ||
  fail "roundtrip_l does not load the installed libtether.so.0: $loaded"
"$WORK/roundtrip_l" "$SERVER_URL" || fail "C consumer (-ltether) round trip"
stop_server

say "apt-get purge"
apt-get purge -y -qq -o DPkg::Lock::Timeout=120 libtether0 libtether-dev >"$WORK/apt-purge.log" 2>&1 || { cat "$WORK/apt-purge.log"; fail "apt-get purge"; }
installed=0
for p in libtether0 libtether-dev; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ -z "$status" ] || [ "$status" = not-installed ] || fail "$p is still known to dpkg after purge: $status"
done
while read -r f; do
  [ -d "$f" ] && continue   # shared directories such as /usr/lib stay
  [ -e "$f" ] || [ -L "$f" ] && fail "left behind after purge: $f"
done <"$WORK/files"
find /usr -xdev | sort >"$WORK/usr.after"
comm -13 "$WORK/usr.before" "$WORK/usr.after" >"$WORK/usr.added"
if grep -i tether "$WORK/usr.added"; then fail "files under /usr left behind after purge (above)"; fi
if [ -s "$WORK/usr.added" ]; then
  echo "note: other files appeared under /usr meanwhile (not from these packages):"
  head -20 "$WORK/usr.added"
fi
cache=$(ldconfig -p)
if [[ "$cache" == *libtether.so* ]]; then fail "libtether.so is still in the ldconfig cache"; fi
say "PASS: packages built, lintian clean of errors, installed, three consumers ran, purged without a trace"
