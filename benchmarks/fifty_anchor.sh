#!/usr/bin/env bash
# The 50-language recipe of the default, mineshaft-50 (docs/fifty-languages.md: versions 8 to 13 of
# 2026-12-07), end to end on CPU: news pairs held out for dev mining, extra/ and the Debian pairs capped at 5,000 a
# file, the extended vocabulary, runs with USE as the teacher and as an anchor for what it knows, the dev choices,
# the routed model, and the evaluation.
#
#   benchmarks/fifty_anchor.sh [--steps 3000] [--stop-after 2000] [--compare-steps 150] [--seeds "0 1"] [--out DIR]
#
# Needs ../shared/data (train/, extra/, eval/) and the Debian pairs of benchmarks/debian_pairs.py (DEBIAN=DIR,
# default OUT/debian-pairs; made here when missing, which needs Debian's package archive). On 2 CPU cores:
# 0.35-0.55 step/s at batch 128 on one thread (2,000 steps ≈ 1.5 h; rerun, it resumes where it stopped), each
# evaluation 10-30 min. The runs are planned for 3,000 steps (the learning rate's schedule) and stopped after
# 2,000, their best dev checkpoint kept; version 10 takes version 9's run on to the end of the schedule (step 3c),
# versions 11, 12 and 13 add a second, a third and a fourth stage (steps 3d to 3f).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
DATA="${DATA:-$ROOT/../shared/data}"
source "$HERE/fifty_recipe.sh"   # FIFTY_VOCAB, FIFTY_BASE, FIFTY_STEP2
STEPS=3000 STOP=2000 CMP=150 SEEDS="0 1" OUT=runs/f50
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) STEPS="$2"; shift 2 ;;
    --stop-after) STOP="$2"; shift 2 ;;
    --compare-steps) CMP="$2"; shift 2 ;;
    --seeds) SEEDS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
MS="${MINESHAFT:-mineshaft}"
PY="${PYTHON:-python}"
DEBIAN="${DEBIAN:-$OUT/debian-pairs}"
mkdir -p "$OUT"
resume() { [ -e "$1/train_config.json" ] && echo --resume || true; }
# the languages a model made from the run knows: USE's and those of the training files
record_languages() { $PY -c "import sys; from pathlib import Path
from mineshaft.languages import pair_file_languages, write_languages
write_languages(sys.argv[1], 'use', pair_file_languages(sorted(Path(sys.argv[2]).glob('en-*.tsv'))),
                'use + trained on the en-XX pairs of train/ (its news rows held out), extra/ and Debian messages')" \
    "$1" "$OUT/data/train"; }
# 0. data: news rows of train/ held out as dev mining tasks (OUT/data/news-dev; OUT/data/train is the rest),
#    extra/ and the Debian pairs capped at 5,000 lines a file (a seeded sample), all checked against eval/
# (each written under NAME.tmp and moved into place when complete, so an interrupted step is redone)
[ -d "$OUT/data" ] || { $PY "$HERE/news_dev.py" --out "$OUT/data.tmp" --data "$DATA" \
    && mv "$OUT/data.tmp" "$OUT/data"; }
[ -d "$DEBIAN" ] || { $PY "$HERE/debian_pairs.py" --out "$DEBIAN.tmp" && mv "$DEBIAN.tmp.manifest.tsv" \
    "$DEBIAN.manifest.tsv" && mv "$DEBIAN.tmp" "$DEBIAN"; }
for src in "$DATA/extra:extra5k" "$DEBIAN:debian5k"; do
  d="$OUT/data/${src#*:}"
  [ -d "$d" ] || { $PY "$HERE/cap_pairs.py" "${src%:*}" "$d.tmp" && mv "$d.tmp" "$d"; }
done
for d in train extra5k debian5k; do "$DATA/../tools/check-leakage" "$OUT/data/$d"; done
P=$(for f in "$OUT"/data/train/en-*.tsv; do echo --pairs "$f"; done)
X=$(for f in "$OUT"/data/extra5k/en-*.tsv "$OUT"/data/debian5k/en-*.tsv; do echo --extra-pairs "$f"; done)
# 1. the extended vocabulary (as version 5: <unk> pieces and 20,000 word pieces, lexicon rows), and the same pieces
#    with rows as means of old pieces (USE itself on USE's text: WiSE-FT's start)
[ -d "$OUT/use-50" ] || $MS extend-vocab use --pairs "$OUT/data/train" $FIFTY_VOCAB -o "$OUT/use-50"
[ -d "$OUT/use-50w-pieces" ] || $MS extend-vocab use --pairs "$OUT/data/train" --init pieces --word-pieces 20000 \
    -o "$OUT/use-50w-pieces"
# 1b. version 9's vocabulary: the pieces and the lexicon also learned from the training-only pairs (extra/ and
#     Debian; the dev split, held out of train/, is the same)
[ -d "$OUT/use-50x" ] || $MS extend-vocab use --pairs "$OUT/data/train" $X $FIFTY_VOCAB -o "$OUT/use-50x"
# 2. the run: soft + TCM with USE as the teacher, and USE as an anchor (the student's vector kept near frozen USE's
#    for every sentence, weight 1); half of each batch's draws from the extra pairs; at most 12,000 pairs a file
#    (--stop-after counts from where a resumed run starts: what is left of STOP is passed)
done_step() { [ -f "$1/checkpoint/state.pt" ] && $PY -c "import sys, torch
print(torch.load(sys.argv[1], map_location='cpu', weights_only=False)['step'])" "$1/checkpoint/state.pt" || echo 0; }
# anchored_run NAME START SHARE: the run OUT/NAME from the vocabulary OUT/START, SHARE of the draws from extra pairs
anchored_run() {
  local left=$((STOP - $(done_step "$OUT/$1")))
  if [ ! -e "$OUT/$1/.done" ] && [ "$left" -gt 0 ]; then
    $MS train $P $X --student "$OUT/$2" --teacher use --anchor use --anchor-weight 1.0 $FIFTY_BASE $FIFTY_STEP2 \
        --extra-share "$3" --max-pairs 12000 --steps "$STEPS" --stop-after "$left" --eval-every 500 \
        --checkpoint-every 250 --cache-dir "$OUT/cache" --threads 1 --out "$OUT/$1" $(resume "$OUT/$1")
  fi
  touch "$OUT/$1/.done"
}
anchored_run main use-50 0.5
# 2b. version 9's run: the same from version 9's vocabulary, a fifth of each batch's draws from the extra pairs
#     (chosen on the short and the long pooled dev against version 8's run at the same step: docs/fifty-languages.md)
anchored_run vx20 use-50x 0.2
# 3. WiSE-FT towards USE: dev xx→en, STS-b dev and the held-out news mining F1 for each α (dev only)
#    (α = 0 is use-50w-pieces itself: USE with the new rows as means of old pieces, not the run's start)
[ -f "$OUT/alpha.md" ] || $PY "$HERE/interpolation_sweep.py" "$OUT/main" --init "$OUT/use-50w-pieces" \
    --alphas 0 0.5 0.75 0.9 1 --news-dev "$OUT/data" --news-baseline use --data "$DATA" > "$OUT/alpha.md.tmp" \
    && mv "$OUT/alpha.md.tmp" "$OUT/alpha.md"
cat "$OUT/alpha.md"
# the α the sweep chose (the best mean of dev xx→en and STS-b dev): 0.75; the languages it was trained on recorded
# (a run stopped by --stop-after writes no languages.json or card)
[ -d "$OUT/cand${ALPHA:=0.75}" ] || $MS interpolate "$OUT/main" --init "$OUT/use-50w-pieces" --alpha "$ALPHA" \
    --save-dtype int8rows -o "$OUT/cand$ALPHA"
record_languages "$OUT/cand$ALPHA"
# 3b. the default, mineshaft-50: a run at α = 1 (8-bit rows) as the student of a routed model whose USE languages go
#     to mineshaft-use-soft (dev: interpolation_sweep.py --pooled, docs/fifty-languages.md). Version 8 took step 2's
#     run; version 9 takes step 2b's, chosen on the short and the long pooled dev (printed first, kept in OUT/dev-v9.md)
LONG=(--long "$DATA/extra" --trained "$OUT/data/train" "$OUT/data/extra5k" "$OUT/data/debian5k")
# dev_choice OLD NEW FILE: the short and the long pooled dev of run NEW against run OLD, kept in OUT/FILE
dev_choice() {
  [ -f "$OUT/$3" ] || { for long in no yes; do
    if [ "$long" = yes ]; then more=("${LONG[@]}"); else more=(); fi
    $PY "$HERE/pooled_dev.py" "$OUT/$1" "$OUT/$2" --pairs "$OUT/data/train" --english mineshaft-use-soft "${more[@]}"
  done > "$OUT/$3.tmp" && mv "$OUT/$3.tmp" "$OUT/$3"; }
  cat "$OUT/$3"
}
# routed_version V RUN: the run OUT/RUN at α = 1 (8-bit rows) as OUT/student-vV, routed as OUT/mineshaft-50-vV
routed_version() {
  [ -d "$OUT/student-v$1" ] || { $MS interpolate "$OUT/$2" --alpha 1 --save-dtype int8rows -o "$OUT/student-v$1" \
      && record_languages "$OUT/student-v$1"; }
  [ -d "$OUT/mineshaft-50-v$1" ] || $MS route --known mineshaft-use-soft --others "$OUT/student-v$1" \
      -o "$OUT/mineshaft-50-v$1"
}
dev_choice main vx20 dev-v9.md
routed_version 9 vx20
# 3c. version 10: version 9's run taken on to the end of its schedule, in a copy (OUT/vx20-full, resumed from the
#     step-2,000 checkpoint; the trainer keeps its best dev step, 2,500), chosen on both pooled devs against version
#     9's weights (kept in OUT/dev-v10.md)
if [ ! -d "$OUT/vx20-full" ]; then
  [ -f "$OUT/vx20/checkpoint/state.pt" ] || { echo "step 3c: $OUT/vx20 has no checkpoint to go on from" \
      "(it must be stopped before the end of its schedule: --stop-after below --steps)" >&2; exit 1; }
  rm -rf "$OUT/vx20-full.tmp" && cp -a "$OUT/vx20" "$OUT/vx20-full.tmp" && rm -f "$OUT/vx20-full.tmp/.done" \
    && mv "$OUT/vx20-full.tmp" "$OUT/vx20-full"
fi
STOP="$STEPS" anchored_run vx20-full use-50x 0.2
dev_choice vx20 vx20-full dev-v10.md
routed_version 10 vx20-full
# stage NAME START TEMP [LR ROW_LR]: a further stage from the model or run OUT/START, 1,000 steps at half the rates
#     (or LR for the network and ROW_LR for the rows) with the languages drawn at sampling temperature TEMP, the best
#     dev step kept (OUT/NAME); the recipe's options, the stage's temperature and rates after them (the later wins)
stage() {
  if [ ! -e "$OUT/$1/.done" ]; then
    $MS train $P $X --student "$OUT/$2" --teacher use --anchor use --anchor-weight 1.0 $FIFTY_BASE $FIFTY_STEP2 \
        --sampling-temperature "$3" --lr "${4:-1.5e-5}" --embedding-lr "${5:-1e-3}" --extra-share 0.2 \
        --max-pairs 12000 --steps 1000 --eval-every 250 --checkpoint-every 250 --cache-dir "$OUT/cache" --threads 1 \
        --out "$OUT/$1" $(resume "$OUT/$1")
    touch "$OUT/$1/.done"
  fi
}
# 3d. version 11: a second stage from version 10's weights, sampling temperature 5 instead of 3 (more draws for the
#     small languages); chosen on both pooled devs against version 10's weights (kept in OUT/dev-v11.md)
stage v11-run vx20-full 5
dev_choice vx20-full v11-run dev-v11.md
routed_version 11 v11-run
# 3e. version 12: a third stage, the same, from version 11's student as shipped (8-bit rows), at sampling
#     temperature 5 (8 was tried and did no better: docs/fifty-languages.md); its student (8-bit rows) against
#     version 11's on both pooled devs (kept in OUT/dev-v12.md)
stage v12-run student-v11 5
routed_version 12 v12-run
dev_choice student-v11 student-v12 dev-v12.md
# 3f. version 13: a fourth stage from version 12's student at the first stage's rates (the half rates, the same
#     command without them, tied on both pooled devs: docs/fifty-languages.md); against version 12's student (kept
#     in OUT/dev-v13.md)
stage v13-run student-v12 5 3e-5 2e-3
routed_version 13 v13-run
dev_choice student-v12 student-v13 dev-v13.md
# 4. the test tables, once, of the routed model: BUCC-style (7 pairs, 2-fold F1), Tatoeba and FLORES for the 50
#    languages, STS-b (the version 8 candidate's, cand0.75, the same way: --encoder "$OUT/cand$ALPHA"); the paired
#    differences between two versions, as the card gives them: the same command with only those two, older first
B="$DATA/eval/bucc-style"
$MS eval --encoder "$OUT/mineshaft-50-v13" $(for l in de fr es ru zh ja ko; do echo --bucc "$B/$l-en"; done) \
    --json "$OUT/bucc-mineshaft-50-v13.json" --force
$PY "$HERE/compare_students.py" --data "$DATA" --fifty --per-language --cache "$OUT/eval-cache" use=use \
    default=mineshaft-use-soft "v9=$OUT/mineshaft-50-v9" "v10=$OUT/mineshaft-50-v10" "v11=$OUT/mineshaft-50-v11" \
    "v12=$OUT/mineshaft-50-v12" "fifty=$OUT/mineshaft-50-v13"
# 5. the losses on this recipe (no anchor): the same data, start, batches and steps for each, batch 64, the last step
#    kept; Tatoeba on the 36 new languages and STS-b against soft, paired bootstrap intervals. Each seed has its
#    own extended vocabulary (its lexicon is learned beside that seed's dev split; train refuses another's)
for seed in $SEEDS; do
  start="$OUT/use-50"; [ "$seed" = 0 ] || start="$OUT/use-50-s$seed"
  [ -d "$start" ] || $MS extend-vocab use --pairs "$OUT/data/train" $FIFTY_VOCAB --seed "$seed" -o "$start"
  for run in "soft:--loss soft" "soft-tcm:--loss soft --tcm" "hard:--loss hard" "mse:--loss mse"; do
    name="${run%%:*}"; args="${run#*:}"; o="$OUT/cmp-s$seed-$name"
    [ -f "$o/model.safetensors" ] || $MS train $P $X --student "$start" --teacher use $FIFTY_BASE $args \
        --lr 3e-5 --embedding-lr 2e-3 --train-old-rows 20000 --batch-size 64 --extra-share 0.5 --max-pairs 12000 \
        --steps "$CMP" --eval-every 0 --select last --checkpoint-every 50 --seed "$seed" --cache-dir "$OUT/cache" \
        --threads 1 --out "$o" $(resume "$o")
  done
  $PY "$HERE/compare_students.py" --data "$DATA" --fifty --no-flores --new-only --cache "$OUT/eval-cache-s$seed" \
      "soft=$OUT/cmp-s$seed-soft" "soft+TCM=$OUT/cmp-s$seed-soft-tcm" "hard=$OUT/cmp-s$seed-hard" \
      "mse=$OUT/cmp-s$seed-mse" "start=$start"
done
