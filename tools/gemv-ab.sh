#!/usr/bin/env bash
# tools/gemv-ab.sh — after tools/gpu-run.sh in the same device call: A/B timings of the M <= 16
# W4A16 kernel (kernels/gemm_w4a16_gemv.cu) under its env switches, each a separate bench_gemm
# process (benchmarks/notes/gemm.md run 8), then a SASS summary of the kernel. Logs: $OUT/ab.log,
# $OUT/sass.txt. usage: bash tools/gemv-ab.sh "ENV... ARGS" ...  (each argument one bench run:
# leading VAR=value words are the env, the rest bench_gemm's arguments)
set -uo pipefail
b=${BUILD_DIR:-/tmp/fp4kit-gpu-build}; out=${OUT:-out}; mkdir -p "$out"
for spec in "$@"; do
  echo "== $spec" | tee -a "$out/ab.log"
  envs=(); args=()
  for w in $spec; do if [[ $w == *=* && ${#args[@]} -eq 0 ]]; then envs+=("$w"); else args+=("$w"); fi; done
  timeout "${AB_TIMEOUT:-90}" env "${envs[@]}" "$b/benchmarks/bench_gemm" "${args[@]}" >"$out/ab.tmp" 2>&1; echo "   rc=$?" >>"$out/ab.log"
  grep -E "^RESULT\|gemm\|(w4a16|rd_|empty|lt_)|validation|FAIL" "$out/ab.tmp" | grep -v "PASS$" >>"$out/ab.log"
  grep -A12 "^N=K .*floors" "$out/ab.tmp" >>"$out/ab.log"
done
rm -f "$out/ab.tmp"
o=$(find "$b" -name 'gemm_w4a16_gemv.cu.o' | head -1)
if [ -n "$o" ] && command -v cuobjdump >/dev/null; then
  cuobjdump -sass "$o" >"$out/sass.full" 2>&1
  awk '/Function :/{f=$3} /^ +\/\*[0-9a-f]+\*\//{l=$0; sub(/^ +\/\*[0-9a-f]+\*\/ +/,"",l); split(l,b," "); op=b[1]; if(op ~ /^@/) op=b[2]; sub(/;$/,"",op); split(op,c,"."); n[f]++; h[f" "c[1]]++}
       END{for(k in n) print "TOTAL", k, n[k]; for(k in h) print k, h[k]}' "$out/sass.full" | sort >"$out/sass.txt"
  grep -nE "Function|ACQBULK|PREEXIT|griddep|CCTL|DEPBAR" "$out/sass.full" | head -60 >>"$out/sass.txt"
  rm -f "$out/sass.full"
fi
tail -80 "$out/ab.log"
