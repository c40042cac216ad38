#!/usr/bin/env bash
# tests/e2e_install.sh BUILD_DIR SOURCE_DIR — `cmake --install` into a temporary prefix, then build
# the tiny program in tests/consumer against it twice: through find_package(fp4kit) and through
# pkg-config; both must compile, link and run (the program quantizes a small tensor).
set -euo pipefail
build=$1; src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; exit 1; }
test -f "$tmp/prefix/include/fp4kit/fp4kit.h"
ls "$tmp/prefix"/lib*/libfp4kit.a "$tmp/prefix"/lib*/libfp4kit.so >/dev/null
# 1. CMake package
cmake -S "$src/tests/consumer" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$tmp/cm.log" 2>&1 || { cat "$tmp/cm.log"; exit 1; }
cmake --build "$tmp/cm" >>"$tmp/cm.log" 2>&1 || { cat "$tmp/cm.log"; exit 1; }
"$tmp/cm/consumer"
# 2. pkg-config (links the shared library; run it with the prefix on LD_LIBRARY_PATH)
pc=$(ls -d "$tmp/prefix"/lib*/pkgconfig)
export PKG_CONFIG_PATH="$pc"
cc -std=c11 -o "$tmp/consumer_pc" "$src/tests/consumer/consumer.c" $(pkg-config --cflags fp4kit) \
   $(pkg-config --static --libs fp4kit)
LD_LIBRARY_PATH="$(dirname "$pc")" "$tmp/consumer_pc"
echo "install: find_package and pkg-config consumers OK"
