#!/usr/bin/env bash
# tools/fuzz-ci.sh — build the libFuzzer target for the safetensors reader with clang
# (-fsanitize=fuzzer,address,undefined), seed a corpus with valid files written here, and fuzz
# for a bounded time. Exit status: 0 no crash; non-zero on a crash, leak, timeout or build error.
#
#   tools/fuzz-ci.sh                 # 30 s
#   FUZZ_SECONDS=600 tools/fuzz-ci.sh
#   FUZZ_BUILD_DIR=/tmp/fz tools/fuzz-ci.sh
# Needs clang and its fuzzer runtime; when missing, installs clang, libclang-rt-14-dev (and the
# build dependencies) with apt-get (CI runs as root on Debian 12). Without apt it prints SKIPPED.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
SECONDS_TO_RUN=${FUZZ_SECONDS:-30}
CC_FUZZ=${FUZZ_CC:-clang}

have_fuzzer() {
    command -v "$CC_FUZZ" >/dev/null 2>&1 || return 1
    local d
    d=$(mktemp -d)
    printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' >"$d/t.c"
    "$CC_FUZZ" -fsanitize=fuzzer,address,undefined "$d/t.c" -o "$d/t" >/dev/null 2>&1
    local rc=$?
    rm -rf "$d"
    return $rc
}

if ! have_fuzzer; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "fuzz-ci: SKIPPED: no working '$CC_FUZZ -fsanitize=fuzzer' and no apt-get to install clang" >&2
        echo "fuzz-ci: ******************** SKIPPED ********************" >&2
        exit 0
    fi
    SUDO=
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    echo "fuzz-ci: installing clang and the libFuzzer runtime with apt-get" >&2
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-rt-14-dev libomp-14-dev \
        cmake pkg-config libcjson-dev >/dev/null
    CC_FUZZ=clang
    if ! have_fuzzer; then
        echo "fuzz-ci: clang -fsanitize=fuzzer still does not link after installing; giving up" >&2
        exit 1
    fi
fi

echo "fuzz-ci: building fuzz_safetensors in $BUILD with $CC_FUZZ" >&2
CC=$CC_FUZZ cmake -S "$ROOT" -B "$BUILD" -DFP4KIT_CUDA=OFF -DFP4KIT_TESTS=OFF -DFP4KIT_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$BUILD.configure.log" 2>&1 || { cat "$BUILD.configure.log" >&2; exit 1; }
cmake --build "$BUILD" --target fuzz_safetensors -j"$(nproc)"

# ---- seed corpus: valid files (8-byte little-endian header length, JSON, data) -------------
CORPUS=$BUILD/fuzz-corpus
ART=$BUILD/fuzz-artifacts
rm -rf "$CORPUS" && mkdir -p "$CORPUS" "$ART"
# st_file NAME HEADER DATA_BYTES: write a file whose data is DATA_BYTES bytes of 0x3c
st_file() {
    local out=$CORPUS/$1 hdr=$2 n=$3 len i
    len=${#hdr}
    {
        for i in 0 1 2 3 4 5 6 7; do printf "\\x$(printf %02x $(((len >> (8 * i)) & 255)))"; done
        printf '%s' "$hdr"
        head -c "$n" /dev/zero | tr '\0' '\074'
    } >"$out"
}
st_file empty.st '{}' 0
st_file meta.st '{"__metadata__":{"format":"pt","fp4kit.format":"nvfp4"}}' 0
st_file one.st '{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}' 24
st_file scalar.st '{"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}' 8
st_file nvfp4.st '{"__metadata__":{"layout":"compressed-tensors"},"l.weight_packed":{"dtype":"U8","shape":[2,8],"data_offsets":[0,16]},"l.weight_scale":{"dtype":"F8_E4M3","shape":[2,1],"data_offsets":[16,18]},"l.weight_global_scale":{"dtype":"F32","shape":[1],"data_offsets":[18,22]},"e":{"dtype":"BF16","shape":[0,4],"data_offsets":[22,22]}}' 22
st_file mixed.st '{"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},"b":{"dtype":"F8_E8M0","shape":[3],"data_offsets":[2,5]},"c":{"dtype":"BOOL","shape":[1,1,1],"data_offsets":[5,6]},"d":{"dtype":"U64","shape":[1],"data_offsets":[6,14]}}' 14
DICT=$BUILD/fuzz.dict
cat >"$DICT" <<'DICT'
"\"dtype\""
"\"shape\""
"\"data_offsets\""
"\"__metadata__\""
"\"F32\""
"\"BF16\""
"\"F16\""
"\"U8\""
"\"I64\""
"\"F8_E4M3\""
"\"F8_E8M0\""
"9007199254740992"
"18446744073709551615"
"1e300"
"-1"
"\\u0000"
DICT

echo "fuzz-ci: fuzzing for ${SECONDS_TO_RUN}s (corpus $CORPUS, crashes go to $ART/)" >&2
set +e
"$BUILD/tests/fuzz/fuzz_safetensors" -max_total_time="$SECONDS_TO_RUN" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -dict="$DICT" -artifact_prefix="$ART/" -print_final_stats=1 "$CORPUS" 2>"$BUILD/fuzz.log"
rc=$?
set -e
tail -n 25 "$BUILD/fuzz.log" >&2
if [ $rc -ne 0 ]; then
    echo "fuzz-ci: FAILED (libFuzzer exit $rc); reproducer(s): $(ls "$ART" 2>/dev/null | tr '\n' ' ')" >&2
    exit $rc
fi
echo "fuzz-ci: OK, no crash in ${SECONDS_TO_RUN}s" >&2
