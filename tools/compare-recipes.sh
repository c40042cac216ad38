#!/usr/bin/env bash
# tools/compare-recipes.sh — train the same GPT with several recipes on the same data and seed,
# then print a markdown table (final train loss, final validation loss, relative gap to the first
# recipe) and overlay the loss curves in one PNG. Used for docs/results.md.
#
#   tools/compare-recipes.sh OUT_DIR DATA_DIR "RECIPE1 RECIPE2 ..." [fp4 train options...]
#   e.g. tools/compare-recipes.sh runs/cmp build/data/shards/byte "bf16 nvfp4 mxfp4" \
#          --layers 4 --width 256 --heads 4 --seq 256 --batch 32 --steps 1000 --device cuda
# Env: FP4 (path of the fp4 binary, default build/fp4), POLICY (default bf16-last=1).
set -euo pipefail
out=${1:?OUT_DIR}; data=${2:?DATA_DIR}; recipes=${3:?"RECIPES"}; shift 3
fp4=${FP4:-build/fp4}
policy=${POLICY-bf16-last=1}
mkdir -p "$out"
runs=()
for r in $recipes; do
  d="$out/$r"; runs+=("$d")
  echo "== $r" >&2
  "$fp4" train --recipe "$r" --policy "$policy" --data "$data" --out "$d" --quiet "$@" >"$out/$r.log" 2>&1 \
    || { echo "compare-recipes: fp4 train --recipe $r failed; see $out/$r.log" >&2; tail -5 "$out/$r.log" >&2; exit 1; }
done
bash "$(dirname "$0")/plot-loss.sh" -o "$out/loss.png" --title "recipes: $recipes" "${runs[@]}" >&2 || true
# last row with a validation loss of each run
echo "| recipe | steps | final train loss | final val loss | val gap vs ${recipes%% *} |"
echo "|---|---|---|---|---|"
base=""
for r in $recipes; do
  row=$(awk -F, 'NR > 1 && $4 != "nan" { last = $0 } END { print last }' "$out/$r/metrics.csv")
  step=$(echo "$row" | cut -d, -f1); tl=$(echo "$row" | cut -d, -f3); vl=$(echo "$row" | cut -d, -f4)
  [ -n "$base" ] || base=$vl
  gap=$(awk -v v="$vl" -v b="$base" 'BEGIN { printf "%+.2f%%", (v - b) / b * 100 }')
  printf '| %s | %s | %.4f | %.4f | %s |\n' "$r" "$step" "$tl" "$vl" "$gap"
done
