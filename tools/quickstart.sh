#!/usr/bin/env bash
# tools/quickstart.sh — the main job: install what is missing, build, prepare the corpora, and train
# a small GPT with the NVFP4 recipe (on the GPU if there is one, else a tiny one on the CPU), then
# show where the loss curve, the metrics and the checkpoint are.
# Env: BUILD_DIR (build), DATA_DIR (build/data), RUN_DIR (runs/quickstart), DEVICE (auto|cuda|cpu),
#      STEPS (override the step count).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh nodejs npm gnuplot-nox
b=${BUILD_DIR:-build}
data=${DATA_DIR:-build/data}
run=${RUN_DIR:-runs/quickstart}
echo "== building ($b)"
mkdir -p "$b"; cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=Release >"$b/configure.log" 2>&1 || { cat "$b/configure.log"; exit 1; }
cmake --build "$b" -j"$(nproc)" --target fp4 >/dev/null
echo "== preparing the corpora ($data)"
BUILD="$b" bash tools/prepare-data.sh "$data"
dev=${DEVICE:-auto}
if [ "$dev" = auto ]; then
  if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q GPU && grep -q "FP4KIT_HAVE_CUDA:INTERNAL=ON\|fp4kit: CUDA kernels ON" "$b/configure.log" "$b/CMakeCache.txt" 2>/dev/null; then
    dev=cuda
  else
    dev=cpu
  fi
fi
shards="$data/shards/byte"
if [ "$dev" = cuda ]; then
  echo "== training a small GPT (8 layers, width 512, ≈ 25 M parameters) with the nvfp4 recipe on the GPU"
  args=(--model gpt --layers 8 --width 512 --heads 8 --seq 256 --batch 32 --steps "${STEPS:-3000}" --eval-every 250
        --ckpt-every 500 --lr 1e-3)
else
  echo "== no usable GPU: training a tiny GPT (2 layers, width 64) with the nvfp4 recipe on the CPU"
  args=(--model gpt --layers 2 --width 64 --heads 4 --seq 64 --batch 8 --steps "${STEPS:-300}" --eval-every 50
        --ckpt-every 100)
fi
mkdir -p "$run"
"$b/fp4" train "${args[@]}" --recipe nvfp4 --policy bf16-last=1 --data "$shards" --corpus pretrain \
  --out "$run" --device "$dev" --seed 1
bash tools/plot-loss.sh -o "$run/loss.png" "$run"
echo "== a sample from the trained model"
"$b/fp4" sample "$run/ckpt.safetensors" --prompt "The " --tokens 200 --device "$dev" || true
echo
echo "loss curve:  $run/loss.png"
echo "metrics:     $run/metrics.csv and $run/metrics.jsonl"
echo "checkpoint:  $run/ckpt.safetensors"
echo "evaluate:    $b/fp4 eval $run/ckpt.safetensors --data $shards"
