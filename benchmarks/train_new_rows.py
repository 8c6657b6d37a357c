"""Training step time of `--train-new-rows-only` on an extended USE model: the new rows as their own parameter
(what mineshaft does) against the obvious alternative, one table with the old rows' gradient masked (AdamW then
updates all 138k rows every step). Same batches, loss (soft + TCM, batch 128) and threads, one after the other.

    mineshaft extend-vocab use --pairs ../shared/data/train -o use-50
    python benchmarks/train_new_rows.py use-50 [--pairs ../shared/data/train/en-hi.tsv] [--steps 6]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from mineshaft.encoders import load_encoder
from mineshaft.training.extension import first_new_id
from mineshaft.training.losses import build_loss
from mineshaft.training.students import Student
from mineshaft.training.trainer import _optimizer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a model directory written by mineshaft extend-vocab (USE port)")
    ap.add_argument("--pairs", default=str(Path(__file__).resolve().parents[2] / "shared/data/train/en-hi.tsv"))
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=128)
    a = ap.parse_args()
    first = first_new_id(a.model)
    rows = [line.split("\t") for line in Path(a.pairs).read_text(encoding="utf-8").splitlines()]
    loss_fn = build_loss("soft", 0.1, "priority", True, 1.0)
    gen = torch.Generator().manual_seed(0)
    teacher = torch.nn.functional.normalize(torch.randn(a.steps, a.batch_size, 384, generator=gen), dim=-1)
    for mode in ("own parameter", "masked table"):
        enc = load_encoder(a.model, device="cpu", precision="fp32")
        if mode == "masked table":  # the same weights as one table: the gradient-mask route
            m = enc.model
            m.embedding, m.embedding_extra = torch.nn.Parameter(m.token_table().clone()), None
        student = Student(enc, None, 64, first)
        opt = _optimizer(student.parameters(), 2e-4, 0.01, student.token_rows)
        times = []
        for i in range(a.steps):
            batch = [rows[(i * a.batch_size + j) % len(rows)] for j in range(a.batch_size)]
            t0 = time.perf_counter()
            loss = loss_fn(student.embed([r[0] for r in batch]), student.embed([r[1] for r in batch]), teacher[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - t0)
        n = sum(p.numel() for p in student.parameters())
        print(f"{mode:<14} trainable values {n:>11,}   {np.mean(times[1:]):.3f} s/step (mean of steps 2-{a.steps})  "
              f"threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
