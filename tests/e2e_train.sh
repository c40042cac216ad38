#!/usr/bin/env bash
# tests/e2e_train.sh BUILD_DIR SOURCE_DIR — end-to-end test of `fp4 train`, `fp4 eval`, `fp4 sample`
# and tools/plot-loss.sh on the CPU.
#
# Builds a tiny byte-level corpus with `fp4 data build` (text written by the test itself), trains a
# tiny GPT with the nvfp4 recipe (fake-quant on the CPU) and a tiny MLP LM with bf16, then checks:
# checkpoint and metrics files exist, the loss went down, --stop-after + --resume gives the same
# checkpoint bytes as an uninterrupted run, eval prints a finite loss, sample prints the prompt and a
# continuation (same seed = same text), the plot is a PNG when gnuplot is available, and bad
# options / a corrupt checkpoint are refused with a message and the right exit status.
# Exit 0 pass, 1 fail.
set -u
BUILD=${1:?usage: e2e_train.sh BUILD_DIR SOURCE_DIR}
SRC=${2:-$(dirname "$0")/..}
FP4=$BUILD/fp4
[ -x "$FP4" ] || { echo "FAIL: $FP4 not built"; exit 1; }
T=$(mktemp -d /tmp/fp4-e2e-train.XXXXXX)
trap 'rm -rf "$T"' EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok:   $*"; }

# ---- a tiny corpus: 40 documents of simple repetitive English ---------------------------------
mkdir -p "$T/corpus/tiny"
for i in $(seq 1 40); do
  for j in $(seq 1 30); do
    echo "the cat number $i sat on the mat $j times and the dog ran to the park."
  done > "$T/corpus/tiny/doc$i.txt"
done
mkdir -p "$T/data"
"$FP4" data build --out "$T/data/pretrain" "$T/corpus/tiny" > "$T/build.log" 2>&1 \
  && pass "data build" || { fail "data build: $(cat "$T/build.log")"; exit 1; }

common=(--data "$T/data" --seq 32 --batch 4 --width 32 --layers 2 --mlp-ratio 2 --device cpu --quiet)

# ---- GPT, nvfp4 ------------------------------------------------------------------------------------
if "$FP4" train --model gpt --heads 2 --recipe nvfp4 --policy bf16-last=1 --out "$T/gpt" --steps 60 --warmup 5 --lr 1e-2 \
     --eval-every 20 --eval-batches 4 --ckpt-every 20 "${common[@]}" 2> "$T/gpt.log"; then
  pass "train gpt nvfp4"
else
  fail "train gpt nvfp4: $(tail -3 "$T/gpt.log")"
fi
grep -q "step .*60/60 | loss" "$T/gpt.log" && grep -q "tok/s" "$T/gpt.log" && grep -q "ETA" "$T/gpt.log" \
  && pass "progress line" || fail "progress line missing: $(tail -2 "$T/gpt.log")"
for f in ckpt.safetensors metrics.csv metrics.jsonl; do
  [ -s "$T/gpt/$f" ] && pass "gpt/$f exists" || fail "gpt/$f missing"
done
first=$(awk -F, 'NR==2{print $3}' "$T/gpt/metrics.csv")
last=$(awk -F, 'NR>1{l=$3} END{print l}' "$T/gpt/metrics.csv")
awk -v a="$first" -v b="$last" 'BEGIN{exit !(b < a - 1.0)}' && pass "gpt loss decreased ($first -> $last)" \
  || fail "gpt loss did not decrease enough ($first -> $last)"
[ "$(grep -c '"val_loss":[0-9]' "$T/gpt/metrics.jsonl")" = 3 ] && pass "3 evaluations in metrics.jsonl" \
  || fail "expected 3 evaluations in metrics.jsonl"

# ---- resume: 30 + 30 steps == 60 steps ----------------------------------------------------------------
args=(--model gpt --heads 2 --recipe nvfp4 --policy bf16-last=1 --steps 60 --warmup 5 --lr 1e-2 --eval-every 20 --eval-batches 4 --ckpt-every 20)
"$FP4" train "${args[@]}" "${common[@]}" --out "$T/res" --stop-after 30 2> "$T/res1.log" || fail "train --stop-after"
"$FP4" train --out "$T/res" --resume --data "$T/data" --batch 4 --device cpu --quiet --recipe nvfp4 --policy bf16-last=1 \
  --steps 60 --warmup 5 --lr 1e-2 --eval-every 20 --eval-batches 4 --ckpt-every 20 2> "$T/res2.log" || fail "train --resume: $(tail -2 "$T/res2.log")"
cmp -s "$T/gpt/ckpt.safetensors" "$T/res/ckpt.safetensors" && pass "resume is bit-identical" \
  || fail "resumed checkpoint differs from the uninterrupted one"

# ---- eval and sample ---------------------------------------------------------------------------------
out=$("$FP4" eval "$T/gpt/ckpt.safetensors" --data "$T/data" --batches 4 2>&1)
echo "$out" | grep -Eq '^val_loss [0-9.]+ ppl [0-9.]+ tokens [0-9]+$' && pass "eval: $out" || fail "eval: $out"
s1=$("$FP4" sample "$T/gpt/ckpt.safetensors" --prompt "the cat " --tokens 40 --seed 5 2>&1)
s2=$("$FP4" sample "$T/gpt/ckpt.safetensors" --prompt "the cat " --tokens 40 --seed 5 2>&1)
case "$s1" in "the cat "?*) pass "sample: $(echo "$s1" | head -1)" ;; *) fail "sample: $s1" ;; esac
[ "$s1" = "$s2" ] && pass "sample is deterministic for a seed" || fail "sample differs between equal seeds"

# ---- MLP LM, bf16 --------------------------------------------------------------------------------------
if "$FP4" train --model mlp --recipe bf16 --window 4 --out "$T/mlp" --steps 40 --warmup 4 --lr 1e-2 --eval-every 0 \
     --eval-batches 4 "${common[@]}" 2> "$T/mlp.log"; then
  first=$(awk -F, 'NR==2{print $3}' "$T/mlp/metrics.csv"); last=$(awk -F, 'NR>1{l=$3} END{print l}' "$T/mlp/metrics.csv")
  awk -v a="$first" -v b="$last" 'BEGIN{exit !(b < a - 1.0)}' && pass "mlp loss decreased ($first -> $last)" \
    || fail "mlp loss did not decrease ($first -> $last)"
else
  fail "train mlp: $(tail -3 "$T/mlp.log")"
fi

# ---- plot (needs gnuplot) -------------------------------------------------------------------------------
if command -v gnuplot >/dev/null 2>&1; then
  bash "$SRC/tools/plot-loss.sh" -o "$T/loss.png" "$T/gpt" "$T/mlp" > "$T/plot.log" 2>&1 \
    && [ "$(head -c 4 "$T/loss.png" | od -An -c | tr -d ' ')" = "211PNG" ] && pass "plot-loss.sh wrote a PNG" \
    || fail "plot-loss.sh: $(cat "$T/plot.log")"
else
  echo "note: gnuplot not installed; plot-loss.sh not exercised"
fi

# ---- refusals -----------------------------------------------------------------------------------------------
"$FP4" train --out "$T/x" 2> "$T/e1.log"; [ $? = 2 ] && grep -q -- "--data" "$T/e1.log" && pass "missing --data: usage error" \
  || fail "missing --data: $(cat "$T/e1.log")"
"$FP4" train --data "$T/data" --out "$T/x" --width 30 --heads 4 2> "$T/e2.log"; [ $? = 2 ] && grep -q "heads" "$T/e2.log" \
  && pass "bad width/heads refused" || fail "bad width/heads: $(cat "$T/e2.log")"
"$FP4" train --data "$T/data" --out "$T/x" --recipe nvfp9 2> "$T/e3.log"; [ $? = 2 ] && grep -q "recipe" "$T/e3.log" \
  && pass "bad recipe refused" || fail "bad recipe: $(cat "$T/e3.log")"
head -c 3000 "$T/gpt/ckpt.safetensors" > "$T/trunc.safetensors"
"$FP4" eval "$T/trunc.safetensors" --data "$T/data" 2> "$T/e4.log"; [ $? = 1 ] && grep -q "trunc.safetensors" "$T/e4.log" \
  && pass "truncated checkpoint refused" || fail "truncated checkpoint: $(cat "$T/e4.log")"

echo "e2e_train: $FAILS failure(s)"
[ "$FAILS" = 0 ]
