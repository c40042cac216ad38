#!/usr/bin/env bash
# tools/plot-loss.sh — plot the loss curves of one or more `fp4 train` runs into one PNG (gnuplot).
#
#   tools/plot-loss.sh [-o OUT.png] [--title TEXT] RUN_DIR|metrics.csv ...
#
# Each run contributes its training loss (thin line) and validation loss (points + line) against
# the step, labelled by the run directory's name; the default output is <first run>/loss.png.
# Reads metrics.csv (step,tokens,loss,val_loss,lr,grad_norm,tokens_per_s,elapsed_s; val_loss is
# "nan" on steps without evaluation). Needs gnuplot: installed from Debian (gnuplot-nox) when
# missing and apt-get is usable, else a clear message and exit 1.
set -euo pipefail

out="" title="fp4 train: loss"
runs=()
while [ $# -gt 0 ]; do
  case "$1" in
    -o|--out) out="$2"; shift 2 ;;
    --title) title="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) runs+=("$1"); shift ;;
  esac
done
[ ${#runs[@]} -gt 0 ] || { echo "plot-loss: give at least one run directory or metrics.csv (see --help)" >&2; exit 2; }

files=()
for r in "${runs[@]}"; do
  f="$r"; [ -d "$r" ] && f="$r/metrics.csv"
  [ -s "$f" ] || { echo "plot-loss: $f: no metrics (is this an fp4 train --out directory?)" >&2; exit 1; }
  files+=("$f")
done
[ -n "$out" ] || out="$(dirname "${files[0]}")/loss.png"

if ! command -v gnuplot >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "plot-loss: installing gnuplot-nox (Debian)" >&2
    (apt-get install -y -q gnuplot-nox >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q gnuplot-nox >/dev/null 2>&1; }) || true
  fi
  command -v gnuplot >/dev/null 2>&1 || {
    echo "plot-loss: gnuplot not found; install it (Debian/Ubuntu: sudo apt-get install gnuplot-nox) and rerun" >&2
    exit 1
  }
fi

term="pngcairo size 1100,650 noenhanced"
gnuplot -e "set terminal $term" >/dev/null 2>&1 || term="png size 1100,650 noenhanced"
plots=""
i=0
for f in "${files[@]}"; do
  name="$(basename "$(dirname "$(readlink -f "$f")")")"
  i=$((i + 1))
  plots+="'$f' every ::1 using 1:3 with lines lw 1 lc $i title '$name train', "
  plots+="'$f' every ::1 using 1:(\$4 == \$4 ? \$4 : 1/0) with linespoints pt 7 ps 0.8 lw 2 lc $i dt 2 title '$name val', "
done
gnuplot <<GP
set terminal $term
set output '$out'
set datafile separator ','
set datafile missing 'nan'
set title '$title'
set xlabel 'step'
set ylabel 'loss (nats/token)'
set grid
set key top right
set autoscale
plot ${plots%, }
GP
echo "plot-loss: wrote $out"
