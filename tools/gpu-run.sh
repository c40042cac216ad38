#!/usr/bin/env bash
# tools/gpu-run.sh — one call on the GPU host: install the bundled .debs (CUnit, cJSON; pkgconf
# only if the host lacks pkg-config), build for sm_90 with all cores, run ctest with the GPU
# suites active, then the benchmarks, and leave the logs in $OUT (default ./out):
#   summary.txt  device, commit, ctest summary, every benchmark's tail
#   ctest.log    full test output;  build.log  build output;  bench.log  all benchmark output
#   results.txt  the RESULT| lines of every benchmark (machine-readable)
# usage: bash tools/gpu-run.sh [TEST_REGEX] [BENCH_REGEX]   (defaults: all tests, all benchmarks;
#        BENCH_REGEX "none" skips benchmarks; env BUILD_TARGETS limits the build to some targets).
#        Needs .offline/debs (tools/bundle-offline.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out}; mkdir -p "$out"; out=$(cd "$out" && pwd)
treg=${1:-.}; breg=${2:-.}
b=${BUILD_DIR:-/tmp/fp4kit-gpu-build}
sum="$out/summary.txt"
{ date -u; if [ -n "${FP4_COMMIT:-}" ]; then echo "commit $FP4_COMMIT (FP4_COMMIT from the caller)"; else git log -1 --format='commit %h %s' 2>/dev/null || echo "commit unknown"; fi; } >"$sum"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,utilization.gpu --format=csv,noheader >>"$sum" 2>&1
dpkg -i .offline/debs/*.deb >"$out/build.log" 2>&1 || { echo "dpkg failed" | tee -a "$sum"; tail -5 "$out/build.log"; exit 1; }
if ! command -v pkg-config >/dev/null; then
  mkdir -p /tmp/pkgconf && for f in .offline/extra/*.deb; do dpkg -x "$f" /tmp/pkgconf; done
  export PATH=/tmp/pkgconf/usr/bin:$PATH LD_LIBRARY_PATH=/tmp/pkgconf/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
  ln -sf pkgconf /tmp/pkgconf/usr/bin/pkg-config
  export PKG_CONFIG_PATH=/usr/lib/x86_64-linux-gnu/pkgconfig:/usr/share/pkgconfig
  echo "pkg-config: using bundled pkgconf" >>"$sum"
fi
if ! pkg-config --exists libpcre2-8; then   # headers + .pc only; the runtime library is the host's
  dpkg -x .offline/extra/libpcre2-dev_*.deb / && echo "pcre2: unpacked the bundled libpcre2-dev" >>"$sum"
fi
cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 >>"$out/build.log" 2>&1 \
  || { echo "configure failed" | tee -a "$sum"; tail -30 "$out/build.log"; exit 1; }
BUILD_TARGETS=$(echo "${BUILD_TARGETS:-}" | sed -E 's/(^| )fp4kit( |$)/\1fp4kit_static\2/g')   # "fp4kit" = the static library
cmake --build "$b" -j"$(nproc)" ${BUILD_TARGETS:+--target $BUILD_TARGETS} >>"$out/build.log" 2>&1 \
  || { echo "build failed" | tee -a "$sum"; grep -m30 -E "error|Error" "$out/build.log"; exit 1; }
echo "build ok" >>"$sum"
(cd "$b" && ctest -V -R "$treg" --timeout 600 >"$out/ctest.log" 2>&1); rc=$?
grep -E "tests passed|tests failed|\*\*\*Failed|Skipped|Not Run|SKIPPED|FAILED" "$out/ctest.log" | tail -25 >>"$sum"
: >"$out/bench.log"; : >"$out/results.txt"
if [ "$breg" != none ]; then
  for bin in $(find "$b/benchmarks" -maxdepth 1 -type f -perm -u+x -name 'bench_*' 2>/dev/null | grep -E "$breg" | sort); do
    n=$(basename "$bin"); echo "== $n" | tee -a "$out/bench.log" >>"$sum"
    timeout "${BENCH_TIMEOUT:-300}" "$bin" >"$out/$n.tmp" 2>&1; brc=$?
    cat "$out/$n.tmp" >>"$out/bench.log"; grep '^RESULT|' "$out/$n.tmp" >>"$out/results.txt"
    { echo "   rc=$brc"; grep -v '^RESULT|' "$out/$n.tmp" | tail -"${BENCH_TAIL:-25}"; } >>"$sum"; rm -f "$out/$n.tmp"
  done
fi
cat "$sum"
exit $rc
