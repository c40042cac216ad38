#!/usr/bin/env bash
# tests/e2e_cli.sh BUILD_DIR SOURCE_DIR — end-to-end test of `fp4 quantize` and `fp4 inspect`.
#
# Generates a small safetensors checkpoint with python3 (struct/json only), quantizes it in both
# formats and both layouts, and checks with an independent python3 reader: output names, dtypes,
# shapes, metadata, byte-identical copies, --skip, global scales, and that dequantizing the
# packed codes (even element in the low nibble) reproduces the weights to FP4 accuracy. Then
# checks refusals (truncated input, mxfp4+modelopt, missing file, bad options, --strict): each
# must exit non-zero with a message and leave an existing OUT untouched.
# Exit 0 pass, 1 fail, 77 skip (no python3).
set -u
BUILD=${1:?usage: e2e_cli.sh BUILD_DIR SOURCE_DIR}
FP4=$BUILD/fp4
command -v python3 >/dev/null 2>&1 || { echo "SKIPPED: python3 not found"; exit 77; }
[ -x "$FP4" ] || { echo "FAIL: $FP4 not built"; exit 1; }
T=$(mktemp -d /tmp/fp4-e2e-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok:   $*"; }

# ---- the input checkpoint ------------------------------------------------------------------
python3 - "$T/in.safetensors" <<'PY' || { echo "FAIL: generator"; exit 1; }
import json, math, random, struct, sys
random.seed(7)
def f32(vals): return struct.pack("<%df" % len(vals), *vals)
def bf16(vals): return b"".join(struct.pack("<I", struct.unpack("<I", struct.pack("<f", v))[0])[2:] for v in vals)
def f16(vals): return struct.pack("<%de" % len(vals), *vals)
def rnd(n, s=1.0): return [random.gauss(0, s) for _ in range(n)]
T = [  # name, dtype, shape, bytes
    ("model.embed_tokens.weight", "F32", [48, 64], f32(rnd(48 * 64))),
    ("model.layers.0.mlp.up_proj.weight", "F32", [32, 64], f32(rnd(32 * 64, 0.02))),
    ("model.layers.0.mlp.down_proj.weight", "BF16", [64, 32], bf16(rnd(64 * 32, 3.0))),
    ("model.layers.0.self_attn.q_proj.weight", "F16", [16, 32], f16(rnd(16 * 32, 0.5))),
    ("model.norm.weight", "F32", [64], f32(rnd(64))),
    ("odd.weight", "F32", [4, 24], f32(rnd(96))),
    ("lm_head.bias", "F32", [8], f32(rnd(8))),
    ("step", "I64", [], struct.pack("<q", 1234)),
]
hdr, off, data = {"__metadata__": {"format": "pt", "source": "e2e"}}, 0, b""
for name, dt, shape, b in T:
    hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(b)]}
    off += len(b); data += b
h = json.dumps(hdr).encode()
h += b" " * ((8 - (8 + len(h)) % 8) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + data)
PY

# ---- an independent checker ----------------------------------------------------------------
cat >"$T/check.py" <<'PY'
import json, math, struct, sys
def load(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop("__metadata__", {})
    base = 8 + n
    return {k: (v["dtype"], v["shape"], b[base + v["data_offsets"][0]: base + v["data_offsets"][1]]) for k, v in h.items()}, meta
def floats(dt, raw):
    if dt == "F32": return list(struct.unpack("<%df" % (len(raw) // 4), raw))
    if dt == "F16": return list(struct.unpack("<%de" % (len(raw) // 2), raw))
    if dt == "BF16": return [struct.unpack("<f", b"\0\0" + raw[i:i + 2])[0] for i in range(0, len(raw), 2)]
    raise ValueError(dt)
E2M1 = [0, .5, 1, 1.5, 2, 3, 4, 6, -0., -.5, -1, -1.5, -2, -3, -4, -6]
def e4m3(b):
    s, e, m = b >> 7, (b >> 3) & 15, b & 7
    v = m / 512 if e == 0 else 2.0 ** (e - 7) * (1 + m / 8)
    return -v if s else v
fmt, layout, inp, out = sys.argv[1:5]
skip = sys.argv[5] if len(sys.argv) > 5 else ""
I, _ = load(inp); O, M = load(out)
errors = []
def need(c, msg):
    if not c: errors.append(msg)
nv = fmt == "nvfp4"; bc = 16 if nv else 32
need(M.get("fp4kit.format") == fmt, "metadata fp4kit.format %r" % M.get("fp4kit.format"))
need(M.get("fp4kit.layout") == layout, "metadata fp4kit.layout")
need(M.get("fp4kit.nibble_order") == "even-low", "metadata nibble order")
need(M.get("format") == "pt" and M.get("source") == "e2e", "input metadata not kept")
qc = json.loads(M["quantization_config"])
if layout == "compressed-tensors":
    need(qc["format"] == ("nvfp4-pack-quantized" if nv else "mxfp4-pack-quantized"), "qc format")
    w = qc["config_groups"]["group_0"]["weights"]
    need(w["group_size"] == bc and w["num_bits"] == 4 and w["type"] == "float", "qc weights")
quantized = ["model.layers.0.mlp.up_proj", "model.layers.0.mlp.down_proj", "model.layers.0.self_attn.q_proj"]
if skip != "embed": quantized.append("model.embed_tokens")
copied = ["model.norm.weight", "odd.weight", "lm_head.bias", "step"] + (["model.embed_tokens.weight"] if skip == "embed" else [])
for name in copied:
    need(name in O and O[name] == I[name], "%s not copied byte-identical" % name)
expect_names = set(copied)
for p in quantized:
    dt, shape, raw = I[p + ".weight"]
    R, C = shape
    x = floats(dt, raw)
    if layout == "compressed-tensors":
        dn, sn, gn = p + ".weight_packed", p + ".weight_scale", p + ".weight_global_scale"
    else:
        dn, sn, gn = p + ".weight", p + ".weight_scale", p + ".weight_scale_2"
    expect_names |= {dn, sn} | ({gn} if nv else set())
    if dn not in O or sn not in O: errors.append("missing outputs of " + p); continue
    need(O[dn][0] == "U8" and O[dn][1] == [R, C // 2], "%s dtype/shape %s %s" % (dn, O[dn][0], O[dn][1]))
    need(O[sn][0] == ("F8_E4M3" if nv else "U8") and O[sn][1] == [R, C // bc], "%s dtype/shape" % sn)
    amax = max(abs(v) for v in x)
    if nv:
        need(gn in O and O[gn][0] == "F32" and O[gn][1] == [1], "%s dtype/shape" % gn)
        g = struct.unpack("<f", O[gn][2])[0]
        want = 2688.0 / amax if layout == "compressed-tensors" else amax / 2688.0
        need(abs(g - want) <= 1e-5 * want, "%s = %g, expected %g" % (gn, g, want))
        s_dec = 1.0 / g if layout == "compressed-tensors" else g
    d, s = O[dn][2], O[sn][2]
    num = den = 0.0
    for r in range(R):
        for c in range(C):
            byte = d[r * (C // 2) + c // 2]
            code = byte & 15 if c % 2 == 0 else byte >> 4
            sb = s[r * (C // bc) + c // bc]
            y = E2M1[code] * e4m3(sb) * s_dec if nv else E2M1[code] * 2.0 ** (sb - 127)
            num += (y - x[r * C + c]) ** 2; den += x[r * C + c] ** 2
    rel = math.sqrt(num / den)
    need(rel < 0.2, "%s: relative RMS error %.3f of the dequantized weight is too large" % (p, rel))
need(set(O) == expect_names, "unexpected tensor set: extra %s missing %s" % (sorted(set(O) - expect_names), sorted(expect_names - set(O))))
for e in errors: print("  check: " + e)
sys.exit(1 if errors else 0)
PY

# ---- successful runs -----------------------------------------------------------------------
run_ok() { # label fmt layout skip args...
    local label=$1 fmt=$2 layout=$3 skip=$4; shift 4
    local out=$T/out-$label.safetensors
    if ! "$FP4" quantize "$T/in.safetensors" "$out" "$@" >"$T/$label.log" 2>&1; then
        fail "$label: fp4 quantize exited non-zero"; sed 's/^/  | /' "$T/$label.log"; return
    fi
    if python3 "$T/check.py" "$fmt" "$layout" "$T/in.safetensors" "$out" $skip; then pass "$label"
    else fail "$label: output check"; fi
    if ! "$FP4" inspect "$out" >"$T/$label.inspect" 2>&1 || ! grep -q "^  model.layers.0.mlp.up_proj.weight  $fmt" "$T/$label.inspect"; then
        fail "$label: fp4 inspect did not report the quantized weights"; sed 's/^/  | /' "$T/$label.inspect"
    fi
}
run_ok nvfp4-ct nvfp4 compressed-tensors "" --format nvfp4
run_ok nvfp4-16x16-ct nvfp4 compressed-tensors "" --format nvfp4 --block 16x16
run_ok nvfp4-modelopt nvfp4 modelopt "" --format nvfp4 --layout modelopt
run_ok mxfp4-ct mxfp4 compressed-tensors "" --format mxfp4 --layout compressed-tensors
run_ok mxfp4-ocp-ct mxfp4 compressed-tensors "" --format=mxfp4 --scale-rule ocp
run_ok nvfp4-skip nvfp4 compressed-tensors embed --format nvfp4 --skip 'embed_tokens'
if [ -f "$T/nvfp4-skip.log" ] && ! grep -q "model.embed_tokens.weight .* skip" "$T/nvfp4-skip.log"; then
    fail "--skip: table does not list embed_tokens as skip"
fi

# ---- refusals: non-zero exit, a message, OUT untouched -------------------------------------
printf 'precious' >"$T/existing.safetensors"
refuse() { # label want_rc message_regex args...
    local label=$1 want=$2 re=$3; shift 3
    "$FP4" "$@" >"$T/r.out" 2>"$T/r.err"
    local rc=$?
    if [ "$rc" -ne "$want" ]; then fail "$label: exit $rc, wanted $want"; sed 's/^/  | /' "$T/r.err"
    elif ! grep -Eq "$re" "$T/r.err"; then fail "$label: message does not match /$re/"; sed 's/^/  | /' "$T/r.err"
    elif [ "$(cat "$T/existing.safetensors")" != precious ]; then fail "$label: existing OUT was modified"
    elif ls "$T" | grep -q '\.tmp\.'; then fail "$label: temp file left behind"
    else pass "$label (exit $rc)"; fi
}
head -c -7 "$T/in.safetensors" >"$T/trunc.safetensors"
refuse "truncated input" 1 "past the end|truncated" quantize "$T/trunc.safetensors" "$T/existing.safetensors" --format nvfp4
refuse "inspect truncated" 1 "past the end|truncated" inspect "$T/trunc.safetensors"
refuse "mxfp4 + modelopt" 2 "modelopt" quantize "$T/in.safetensors" "$T/existing.safetensors" --format mxfp4 --layout modelopt
refuse "missing input" 1 "cannot open.*nope" quantize "$T/nope.safetensors" "$T/existing.safetensors" --format nvfp4
refuse "missing --format" 2 "format" quantize "$T/in.safetensors" "$T/existing.safetensors"
refuse "bad --block" 2 "block" quantize "$T/in.safetensors" "$T/existing.safetensors" --format nvfp4 --block 8x8
refuse "nvfp4 with ocp" 2 "scale_rule|nv" quantize "$T/in.safetensors" "$T/existing.safetensors" --format nvfp4 --scale-rule ocp
refuse "bad regex" 2 "regex" quantize "$T/in.safetensors" "$T/existing.safetensors" --format nvfp4 --skip '('
refuse "unknown option" 2 "unknown option" quantize "$T/in.safetensors" "$T/existing.safetensors" --format nvfp4 --frobnicate
refuse "--strict and odd shape" 1 "odd.weight.*does not fit" quantize "$T/in.safetensors" "$T/existing.safetensors" --format nvfp4 --strict
refuse "unknown command" 2 "unknown command" frobnicate
mkdir -p "$T/adir"
"$FP4" quantize "$T/in.safetensors" "$T/adir" --format nvfp4 >/dev/null 2>"$T/r.err"
if [ $? -eq 1 ] && [ -d "$T/adir" ] && ! ls "$T" | grep -q '\.tmp\.'; then pass "OUT is a directory (exit 1, no temp)"
else fail "OUT is a directory"; fi
"$FP4" --help | grep -q quantize && "$FP4" quantize --help | grep -q -- "--layout" && "$FP4" help inspect | grep -q inspect \
    && pass "help texts" || fail "help texts"

echo "e2e_cli: $FAILS failure(s)"
[ "$FAILS" -eq 0 ]
