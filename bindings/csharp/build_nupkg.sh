#!/usr/bin/env bash
# Packs Tether.<version>.nupkg with Debian's nuget (under mono): Tether.dll in
# lib/net45, libtether.so.0 in runtimes/linux-x64/native.
#
#   build_nupkg.sh TETHER_DLL LIBTETHER_SO SOURCE_DIR VERSION OUT_DIR   -> OUT_DIR/Tether.VERSION.nupkg
set -euo pipefail
dll="$1" lib="$2" src="$3" version="$4" out="$5"
command -v nuget >/dev/null || { echo "build_nupkg: needs nuget (bash .ci/install-deps.sh --packaging)" >&2; exit 77; }
stage="$out/stage"
rm -rf "$stage"
mkdir -p "$stage/lib/net45" "$stage/runtimes/linux-x64/native" "$out"
cp "$dll" "$stage/lib/net45/Tether.dll"
strip --strip-unneeded -o "$stage/runtimes/linux-x64/native/libtether.so.0" "$lib"
sed "s/@VERSION@/$version/" "$src/bindings/csharp/Tether.nuspec.in" >"$stage/Tether.nuspec"
rm -f "$out/Tether.$version.nupkg"
# nuget keeps its settings under $HOME; a scratch one keeps the user's out of it.
HOME="$stage/home" nuget pack "$stage/Tether.nuspec" -BasePath "$stage" -OutputDirectory "$out" \
  -NoPackageAnalysis -NonInteractive -Verbosity quiet >"$out/pack.log" 2>&1 || { cat "$out/pack.log" >&2; exit 1; }
ls "$out/Tether.$version.nupkg"
