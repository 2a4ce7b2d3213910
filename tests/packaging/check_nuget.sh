#!/usr/bin/env bash
# The NuGet package the way a Mono user gets it: packs Tether.nupkg
# (bindings/csharp/build_nupkg.sh) into a local folder feed, restores it into a consumer from
# that feed only (nuget restore packages.config -Source FOLDER: offline), builds
# the consumer with mcs against the restored lib/net45/Tether.dll, copies the
# package's runtimes/linux-x64/native/libtether.so.0 beside the program (Mono
# probes the program's directory for [DllImport]) and runs a send/ack/echo
# round trip against a chat-server it starts.
#
#   check_nuget.sh TETHER_DLL LIBTETHER_SO SOURCE_DIR VERSION CHAT_SERVER WORK_DIR
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/common.sh"
dll="$1" lib="$2" src="$3" version="$4" chat_server="$5" WORK="$6"
for tool in nuget mcs mono; do
  command -v "$tool" >/dev/null || skip "$tool not found (bash .ci/install-deps.sh --bindings --packaging)"
done
rm -rf "$WORK"
mkdir -p "$WORK/app"
trap stop_server EXIT
unset LD_LIBRARY_PATH
export HOME="$WORK/home" # nuget's settings and caches stay in the scratch directory

say "nuget pack"
rc=0
pkg=$(bash "$src/bindings/csharp/build_nupkg.sh" "$dll" "$lib" "$src" "$version" "$WORK/feed") || rc=$?
[ "$rc" = 77 ] && skip "nuget missing"
[ "$rc" = 0 ] || fail "nuget pack"
echo "$(basename "$pkg"): $(stat -c %s "$pkg") bytes"

say "nuget restore from the folder feed"
cp "$here/nuget_consumer/Program.cs" "$WORK/app/"
sed "s/@VERSION@/$version/" "$here/nuget_consumer/packages.config.in" >"$WORK/app/packages.config"
(cd "$WORK/app" && nuget restore packages.config -PackagesDirectory packages -Source "$WORK/feed" -NonInteractive) ||
  fail "nuget restore"
restored="$WORK/app/packages/Tether.$version"
[ -f "$restored/lib/net45/Tether.dll" ] && [ -f "$restored/runtimes/linux-x64/native/libtether.so.0" ] ||
  fail "the restored package lacks lib/net45/Tether.dll or runtimes/linux-x64/native/libtether.so.0"

say "mcs + round trip"
mkdir -p "$WORK/app/bin"
cp "$restored/lib/net45/Tether.dll" "$restored/runtimes/linux-x64/native/libtether.so.0" "$WORK/app/bin/"
mcs -nologo -warnaserror -r:"$WORK/app/bin/Tether.dll" -out:"$WORK/app/bin/roundtrip.exe" "$WORK/app/Program.cs" ||
  fail "mcs roundtrip.exe"
start_server "$chat_server" --echo
mono "$WORK/app/bin/roundtrip.exe" "$SERVER_URL" || fail "C# consumer round trip"
say "PASS: nupkg packed, restored from a folder feed, built, round trip done"
