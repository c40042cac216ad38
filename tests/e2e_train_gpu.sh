#!/usr/bin/env bash
# tests/e2e_train_gpu.sh BUILD_DIR SOURCE_DIR — `fp4 train --device cuda` end to end on a tiny corpus
# the test writes (exits 77, "skipped", without a CUDA build or device):
#   GPT nvfp4 (auto = true-quant on CUDA) and MLP bf16 train on the GPU, the loss goes down, the
#   progress line says cuda; a run stopped on the GPU resumes on the CPU and one stopped on the CPU
#   resumes on the GPU (same config and checkpoint on both); eval of a GPU checkpoint on the GPU and
#   the CPU agree; sample runs on the GPU. Exit 0 pass, 1 fail.
set -u
BUILD=${1:?usage: e2e_train_gpu.sh BUILD_DIR SOURCE_DIR}
FP4=$BUILD/fp4
[ -x "$FP4" ] || { echo "FAIL: $FP4 not built"; exit 1; }
T=$(mktemp -d /tmp/fp4-e2e-train-gpu.XXXXXX)
trap 'rm -rf "$T"' EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok:   $*"; }

mkdir -p "$T/corpus/tiny"
for i in $(seq 1 40); do
  for j in $(seq 1 30); do echo "the cat number $i sat on the mat $j times and the dog ran to the park."; done > "$T/corpus/tiny/doc$i.txt"
done
mkdir -p "$T/data"
"$FP4" data build --out "$T/data/pretrain" "$T/corpus/tiny" > "$T/build.log" 2>&1 \
  && pass "data build" || { fail "data build: $(cat "$T/build.log")"; exit 1; }

common=(--data "$T/data" --seq 32 --batch 4 --width 32 --layers 2 --mlp-ratio 2 --quiet)
gargs=(--model gpt --heads 2 --recipe nvfp4 --policy bf16-last=1 --steps 60 --warmup 5 --lr 1e-2 --eval-every 20 --eval-batches 4 --ckpt-every 20)

if ! "$FP4" train "${gargs[@]}" "${common[@]}" --device cuda --out "$T/gpt" 2> "$T/gpt.log"; then
  if grep -Eq "no CUDA device|built without CUDA" "$T/gpt.log"; then echo "SKIPPED: no CUDA ($(tail -1 "$T/gpt.log"))"; exit 77; fi
  fail "train gpt nvfp4 --device cuda: $(tail -3 "$T/gpt.log")"
else
  pass "train gpt nvfp4 --device cuda"
fi
grep -q "60/60 | loss.*| cuda |" "$T/gpt.log" && pass "progress line says cuda" || fail "progress line: $(tail -2 "$T/gpt.log")"
first=$(awk -F, 'NR==2{print $3}' "$T/gpt/metrics.csv")
last=$(awk -F, 'NR>1{l=$3} END{print l}' "$T/gpt/metrics.csv")
awk -v a="$first" -v b="$last" 'BEGIN{exit !(b < a - 1.0)}' && pass "gpu gpt loss decreased ($first -> $last)" \
  || fail "gpu gpt loss did not decrease enough ($first -> $last)"

if "$FP4" train --model mlp --recipe bf16 --window 4 --out "$T/mlp" --steps 40 --warmup 4 --lr 1e-2 --eval-every 0 \
     --eval-batches 4 "${common[@]}" --device cuda 2> "$T/mlp.log"; then
  f=$(awk -F, 'NR==2{print $3}' "$T/mlp/metrics.csv"); l=$(awk -F, 'NR>1{l=$3} END{print l}' "$T/mlp/metrics.csv")
  awk -v a="$f" -v b="$l" 'BEGIN{exit !(b < a - 0.5)}' && pass "gpu mlp bf16 loss decreased ($f -> $l)" || fail "gpu mlp loss ($f -> $l)"
else
  fail "train mlp bf16 --device cuda: $(tail -3 "$T/mlp.log")"
fi

# ---- cross-device resume --------------------------------------------------------------------------------
for pair in "cuda cpu" "cpu cuda"; do
  set -- $pair
  d="$T/x_$1_$2"
  "$FP4" train "${gargs[@]}" "${common[@]}" --device "$1" --out "$d" --stop-after 30 2> "$d.1.log" \
    || fail "train on $1 --stop-after 30: $(tail -2 "$d.1.log")"
  if "$FP4" train --out "$d" --resume --data "$T/data" --batch 4 --quiet --recipe nvfp4 --policy bf16-last=1 --steps 60 \
       --warmup 5 --lr 1e-2 --eval-every 20 --eval-batches 4 --ckpt-every 20 --device "$2" 2> "$d.2.log"; then
    # trajectories of different back ends diverge (SR, summation order), so no equality: the resumed
    # run must finish all 60 steps (metrics cut back and appended) and learn like a normal run
    l=$(awk -F, 'NR>1{l=$3} END{print l}' "$d/metrics.csv"); f=$(awk -F, 'NR==2{print $3}' "$d/metrics.csv")
    rows=$(awk -F, 'NR>1' "$d/metrics.csv" | wc -l)
    [ "$rows" = 60 ] && awk -v a="$f" -v b="$l" 'BEGIN{exit !(b < a - 1.0)}' \
      && pass "stopped on $1, resumed on $2: 60 steps, loss $f -> $l (all-GPU run ended at $last)" \
      || fail "resume $1 -> $2: $rows metric rows, loss $f -> $l"
  else
    fail "resume on $2 of a $1 checkpoint: $(tail -2 "$d.2.log")"
  fi
done

# ---- eval and sample -----------------------------------------------------------------------------------------
eg=$("$FP4" eval "$T/gpt/ckpt.safetensors" --data "$T/data" --batches 4 --device cuda 2>&1)
ec=$("$FP4" eval "$T/gpt/ckpt.safetensors" --data "$T/data" --batches 4 --device cpu 2>&1)
vg=$(echo "$eg" | awk '/^val_loss/{print $2}'); vc=$(echo "$ec" | awk '/^val_loss/{print $2}')
[ -n "$vg" ] && [ -n "$vc" ] && awk -v a="$vg" -v b="$vc" 'BEGIN{d=a-b; if(d<0)d=-d; exit !(d < 1e-2 * b)}' \
  && pass "eval gpu $vg == cpu $vc" || fail "eval gpu '$eg' vs cpu '$ec'"
s1=$("$FP4" sample "$T/gpt/ckpt.safetensors" --prompt "the cat " --tokens 40 --seed 5 --device cuda 2>&1)
case "$s1" in "the cat "?*) pass "sample on cuda: $(echo "$s1" | head -1)" ;; *) fail "sample on cuda: $s1" ;; esac

[ $FAILS -eq 0 ] && { echo "e2e_train_gpu: all passed"; exit 0; }
echo "e2e_train_gpu: $FAILS failure(s)"; exit 1
