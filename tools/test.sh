#!/usr/bin/env bash
# tools/test.sh — install what is missing, build everything, run every test (ctest), then the
# bounded safetensors fuzz run. GPU suites run when a CUDA device is present and are reported
# as SKIPPED otherwise. Usage: bash tools/test.sh   (env: BUILD_DIR, JOBS, FUZZ_SECONDS)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
b=${BUILD_DIR:-build-test}
jobs=${JOBS:-$(nproc)}
mkdir -p "$b"; cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=Release >"$b/configure.log" 2>&1 || { cat "$b/configure.log"; exit 1; }
cmake --build "$b" -j"$jobs"
ctest --test-dir "$b" --output-on-failure -j"$jobs"
if [ -f tools/fuzz-ci.sh ]; then
  bash tools/fuzz-ci.sh
fi
