"""Distill a frozen (English) teacher into a multilingual student from translation pairs.

``train(TrainConfig(...))`` reads ``english<TAB>other`` pair files, holds out a seeded dev slice
of each (by English sentence: no dev sentence occurs in training), draws each step's batch (uniform
over pairs, or languages sampled ∝ n^(1/T), mixed or one language a batch), caches the teacher's embeddings of the English side once, and trains the student with
one of :mod:`mineshaft.training.losses` (AdamW, linear warmup and decay, gradient clipping, autocast on
GPU). Every ``checkpoint_every`` steps it writes ``OUT/checkpoint/`` (weights, optimizer,
scheduler, RNG states: one :class:`TrainState`); ``resume=True`` continues from there and
reproduces the uninterrupted run. The model with the best dev accuracy (mean over languages of xx→en
retrieval on the held-out pairs; ``patience`` stops on it) is written to ``OUT`` as a model directory that :func:`mineshaft.load_encoder`
reads back. :class:`Trainer` holds one run's parts: the step loop, evaluation and checkpointing; the other
parts live beside this module (:mod:`~mineshaft.training.data`, :mod:`~mineshaft.training.sampling`,
:mod:`~mineshaft.training.teacher`, :mod:`~mineshaft.training.students`, :mod:`~mineshaft.training.checkpoint`,
:mod:`~mineshaft.training.card`).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import get_linear_schedule_with_warmup

from ..encoders import Encoder, load_encoder
from ..encoders.precision import resolve_precision
from ..errors import InputError, UsageError
from ..outputs import LAST_MODEL, atomic_dir, write_atomic_bytes
from ..metrics import retrieval_accuracy
from ..progress import info, task, warn
from .card import record_languages, write_model_card
from .checkpoint import CHECKPOINT, STATE_FILE, GlobalRNG, TrainState, check_start, claim
from .config import SAVE_DTYPES, TrainConfig
from .data import PairSet, read_pair_files
from .extension import check_lexicon_heldout, extension_file, first_new_id
from .losses import PairLoss, build_loss
from .sampling import batch_sampler
from .students import Student, most_used_rows
from .teacher import AnchorTargets, anchor_files, anchor_targets, teacher_cache_dir, teacher_embeddings

LOG_FILE = "train_log.jsonl"
#: torch's autocast dtype of each resolved precision (None: no autocast)
AUTOCAST = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


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
        if m.any():
            xx2en, en2xx = retrieval_accuracy(eb[m], ea[m])
            res[name] = {"xx2en": xx2en, "en2xx": en2xx}
    res["mean_xx2en"] = float(np.mean([v["xx2en"] for k, v in res.items() if isinstance(v, dict)]))
    res["mean_en2xx"] = float(np.mean([v["en2xx"] for k, v in res.items() if isinstance(v, dict)]))
    return res


def dev_summary(step: int, res: dict, show: int = 5) -> str:
    """One stderr line: the dev means and, with more than ``show`` + 3 languages, only the ``show`` worst
    xx→en (all of them are in ``train_log.jsonl``)."""
    langs = sorted(((v["xx2en"], k) for k, v in res.items() if isinstance(v, dict)))
    shown = langs if len(langs) <= show + 3 else langs[:show]
    head = f"step {step}: dev mean xx→en {100 * res['mean_xx2en']:.2f} en→xx {100 * res['mean_en2xx']:.2f}"
    tail = " ".join(f"{k} {100 * v:.1f}" for v, k in shown)
    return f"{head}; {'worst: ' if len(shown) < len(langs) else ''}{tail}"


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


def _autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``--precision`` on ``device`` (:func:`~mineshaft.encoders.precision.resolve_precision`,
    training's ``auto``: bf16 on GPUs that have it, else fp16; fp32 on CPU)."""
    return AUTOCAST[resolve_precision(precision, device, gpu_bf16=True)]


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _write_config(out: Path, cfg: TrainConfig, run: dict | None = None) -> None:
    write_atomic_bytes(out / "train_config.json", (json.dumps({**asdict(cfg), **(run or {})}, indent=2) + "\n").encode())


def _optimizer(params: list[torch.nn.Parameter], lr: float, weight_decay: float,
               token_rows: list[torch.nn.Parameter] = (), rows_lr: float | None = None) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on biases and norms); ``token_rows`` undecayed, at ``rows_lr``."""
    rows = {id(p) for p in token_rows}
    net = [p for p in params if id(p) not in rows]
    groups = [{"params": [p for p in net if p.ndim >= 2], "weight_decay": weight_decay},
              {"params": [p for p in net if p.ndim < 2], "weight_decay": 0.0},
              {"params": [p for p in params if id(p) in rows], "weight_decay": 0.0, "lr": rows_lr or lr}]
    return torch.optim.AdamW(groups, lr=lr)


def teacher_targets(cfg: TrainConfig, loss_fn: PairLoss, data: PairSet,
                    student: Student) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The teacher's embeddings of each side the loss reads (else None); gives the student a head to
    the teacher's dimension when the loss compares the two directly."""
    if not loss_fn.needs_teacher:
        return None, None
    cache = teacher_cache_dir(cfg)
    if loss_fn.needs_same_dim:  # the teacher's dimension from one sentence: a student that cannot match fails fast
        dim = int(teacher_embeddings(cfg.teacher, data.a[:1], cache, cfg.device, 1).shape[1])
        if dim != student.dim:
            student.add_head(dim, cfg.seed)
    t_a = teacher_embeddings(cfg.teacher, data.a, cache, cfg.device, cfg.teacher_batch_size)
    t_b = None
    if loss_fn.needs_teacher_b:
        t_b = teacher_embeddings(cfg.teacher, data.b, cache, cfg.device, cfg.teacher_batch_size)
    return t_a, t_b


@dataclass
class TrainResult:
    out: Path
    steps: int
    best_step: int | None
    best_dev: dict | None
    history: list[dict]


class Trainer:
    """One run's parts: :meth:`fit` is the step loop (one :meth:`step` at a time); :meth:`evaluate` and
    :meth:`checkpoint` run between steps; :meth:`save_model` writes the kept model to ``OUT``."""

    def __init__(self, cfg: TrainConfig, out: Path, student: Student, loss_fn: PairLoss, data: PairSet,
                 dev: PairSet, teacher: tuple[np.ndarray | None, np.ndarray | None],
                 anchor: AnchorTargets | None = None):
        self.cfg, self.out, self.student, self.loss_fn = cfg, out, student, loss_fn
        self.data, self.dev, self.teacher, self.anchor = data, dev, teacher, anchor
        self.device = torch.device(getattr(student.encoder, "device", "cpu"))
        total = cfg.steps or max(1, int(round(cfg.epochs * (len(data) // cfg.batch_size))))
        self.params = student.parameters()
        self.opt = _optimizer(self.params, cfg.lr, cfg.weight_decay, student.token_rows, cfg.embedding_lr)
        self.sampler = batch_sampler(cfg, data, teacher[0])
        self.sched = get_linear_schedule_with_warmup(self.opt, int(cfg.warmup * total), total)
        self.amp = _autocast_dtype(cfg.precision, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == torch.float16)
        self.state = TrainState({"weights": student, "optimizer": self.opt, "scheduler": self.sched,
                                 "scaler": self.scaler, "rng": GlobalRNG}, total, len(data),
                                data_key=f"{cfg.dev_split}|{cfg.sampling_temperature}|{cfg.batch_languages}"
                                         + (f"|{cfg.neighbour_groups}" if cfg.neighbour_groups else "")
                                         + (f"|known{cfg.known_share}" if cfg.known_share is not None else ""))
        self.checkpointed = -1  # the step of the last checkpoint written by this process
        self.in_update = False  # between backward() and the end of the optimizer step
        self.started = (time.time(), 0)  # (time, step) this process started stepping

    @property
    def run_info(self) -> dict:
        """What this run does, not what was asked for ("auto"): precision and device resolved."""
        return {"precision": {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp],
                "device": str(self.device), "out": str(self.out)}

    def resume(self) -> None:
        if not (self.out / CHECKPOINT / STATE_FILE).exists():
            info(f"{self.out}: no checkpoint, starting from step 0")
            return
        self.state.load(self.out / CHECKPOINT, self.device)
        info(f"resuming at step {self.state.step} of {self.state.total}")

    def checkpoint(self) -> None:
        self.state.save(self.out / CHECKPOINT)
        self.checkpointed = self.state.step

    def log(self, record: dict) -> None:
        with open(self.out / LOG_FILE, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def save_model(self) -> None:
        """The student as a model directory in ``OUT``, replacing the files of an earlier one: written whole first
        (:func:`~mineshaft.outputs.atomic_dir`: ``OUT/.model``, nothing left of it if saving fails), then its files
        moved into ``OUT`` beside the run's own (checkpoint, config, log)."""
        staged = self.out / ".model"
        with atomic_dir(staged) as tmp:
            _write_student(self.student, self.cfg, tmp)
        for f in staged.iterdir():
            dst = self.out / f.name
            if dst.is_dir():
                shutil.rmtree(dst)
            os.replace(f, dst)
        staged.rmdir()

    def save_last(self, train_set: PairSet) -> Path:
        """The student as it is now (the final step's) in ``OUT/last``, a model directory of its own, written whole
        (:func:`~mineshaft.outputs.atomic_dir`), with the run's config, language record and a card of its own."""
        last, st = self.out / LAST_MODEL, self.state
        with atomic_dir(last) as tmp:
            _write_student(self.student, self.cfg, tmp)
            for name in ("train_config.json", "languages.json"):
                if (self.out / name).is_file():
                    shutil.copy(self.out / name, tmp / name)
        dev = next((h["dev"] for h in reversed(st.history) if h["step"] == st.step), None)
        write_model_card(last, self.cfg, train_set, st.step, dev, st.step, self.run_info, final=True)
        return last

    def evaluate(self) -> bool:
        """Dev accuracy, recorded; the model is saved when it is the best so far. True: stop early."""
        st, cfg = self.state, self.cfg
        self.student.module.eval()
        res = dev_accuracy(self.student.encoder, self.dev)
        self.student.module.train()
        st.history.append({"step": st.step, "dev": res})
        self.log({"step": st.step, "dev": res})
        if not res:
            return False
        info(dev_summary(st.step, res))
        if st.best is None or res["mean_xx2en"] > st.best["mean_xx2en"]:
            st.best, st.best_step, st.bad_evals = res, st.step, 0
            if cfg.select == "best":
                self.save_model()
        else:
            st.bad_evals += 1
        return cfg.patience is not None and st.bad_evals >= cfg.patience

    def step(self) -> None:
        """One optimizer step on the batch of step ``state.step``, logged as one JSON line."""
        st, cfg, device = self.state, self.cfg, self.device
        idx = self.sampler(st.step)
        a, b = [self.data.a[i] for i in idx], [self.data.b[i] for i in idx]
        ta, tb = (None if t is None else torch.from_numpy(np.asarray(t[idx], np.float32)).to(device)
                  for t in self.teacher)
        with torch.autocast(device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
            sa, sb = self.student.embed(a), self.student.embed(b)
            loss = self.loss_fn(sa.float(), sb.float(), ta, tb)
            if self.anchor is not None:
                loss = loss + self.anchor_term(idx, sa.float(), sb.float())
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at step {st.step} (try a lower --lr)")
        self.scaler.scale(loss).backward()
        self.in_update = True
        self.scaler.unscale_(self.opt)
        gnorm = torch.nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm)
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)
        st.step += 1
        self.in_update = False
        t0, done0 = self.started
        self.log({"step": st.step, "loss": loss.item(), "lr": self.sched.get_last_lr()[0], "grad_norm": float(gnorm),
                  "steps_per_s": round((st.step - done0) / max(time.time() - t0, 1e-9), 3)})

    def anchor_term(self, idx: np.ndarray, sa: torch.Tensor, sb: torch.Tensor) -> torch.Tensor:
        """``weight · (mean(1 − cos(S(a), A(a))) + mean(1 − cos(S(b), A(b))))``, the second over the batch's pairs
        in the anchor's languages."""
        an, device = self.anchor, sa.device
        ua = torch.from_numpy(np.asarray(an.a[idx], np.float32)).to(device)
        term = (1 - (sa * ua).sum(-1)).mean()
        rows = an.b_row[idx]
        known = rows >= 0
        if known.any():
            ub = torch.from_numpy(np.asarray(an.b[rows[known]], np.float32)).to(device)
            term = term + (1 - (sb[torch.from_numpy(known).to(device)] * ub).sum(-1)).mean()
        return an.weight * term

    def _due(self, every: int) -> bool:
        return bool(every) and self.state.step % every == 0 and self.state.step < self.state.total

    def fit(self) -> bool:
        """Step until the run is done, ``stop_after`` steps are taken or dev stops improving (True).

        A first SIGINT/SIGTERM stops at the next step boundary with a checkpoint; any interrupt that
        lands between steps leaves the state after the last completed step (then KeyboardInterrupt)."""
        st, cfg = self.state, self.cfg
        if st.step == 0 and not st.history and len(self.dev) and (cfg.select == "best" or cfg.eval_every):
            self.evaluate()  # the starting point, so the best model is never worse than the init on dev
        self.student.module.train()
        stop_at = st.total if cfg.stop_after is None else min(st.total, st.step + cfg.stop_after)
        self.started = (time.time(), st.step)
        try:
            with _stop_requests() as stop_requested, \
                    task(f"training ({cfg.loss}{'+tcm' if cfg.tcm else ''})", st.total) as advance:
                advance(st.step)
                while st.step < stop_at:
                    if stop_requested:
                        self.checkpoint()
                        info(f"interrupted after step {st.step} of {st.total}; continue with --resume")
                        raise KeyboardInterrupt
                    self.step()
                    advance(1)
                    if self._due(cfg.eval_every) and self.evaluate():
                        info(f"early stop at step {st.step}: no dev improvement in {cfg.patience} evaluations")
                        return True
                    if self._due(cfg.checkpoint_every):
                        self.checkpoint()
        except KeyboardInterrupt:
            if not self.in_update and st.step > 0 and self.checkpointed != st.step:
                self.checkpoint()  # the state after the last completed step: resume loses nothing
            raise
        return False

    def kept(self) -> tuple[int | None, dict | None]:
        """Step and dev results of the model in ``OUT``: the best one, else the last step's."""
        st = self.state
        if self.cfg.select == "best" and len(self.dev):
            return st.best_step, st.best
        return st.step, st.history[-1]["dev"] if st.history and st.history[-1]["step"] == st.step else None

    def result(self) -> TrainResult:
        st = self.state
        return TrainResult(self.out, st.step, st.best_step, st.best, st.history)


def _write_student(student: Student, cfg: TrainConfig, directory: Path) -> None:
    """The student's files (weights in the run's ``--save-dtype``) in ``directory``."""
    student.save(directory, dtype=getattr(torch, SAVE_DTYPES[cfg.save_dtype]))
    record = extension_file(cfg.student) if cfg.train_new_rows_only else None
    if record is not None:  # still a model from extend-vocab: it can be trained on again
        shutil.copy(record, directory / record.name)


def train(cfg: TrainConfig, identity: dict | None = None) -> TrainResult:
    """Run (or resume) one training job; returns where the model went and the dev history.

    Everything that can be checked is checked before ``OUT`` is claimed (options, data, student, a resumed run's
    recipe and data against the run's own: :func:`~mineshaft.training.checkpoint.check_start` first, before any pairs
    are read); a fresh run that fails its setup leaves no ``OUT`` behind. ``resume`` into a finished run raises
    :class:`~mineshaft.training.checkpoint.RunComplete` (nothing to resume). ``identity``: what ``check_start``
    returned, where the caller has run it already (``mineshaft train`` does, before it imports torch)."""
    identity = identity if identity is not None else check_start(cfg)
    out = Path(cfg.out)
    _seed(cfg.seed)
    train_set, dev_set = read_pair_files(cfg.pairs, cfg.dev_size, cfg.max_pairs, cfg.seed, cfg.dev_split,
                                         cfg.extra_pairs)
    if len(train_set) < cfg.batch_size:
        raise InputError(f"{len(train_set)} training pairs, fewer than one batch of {cfg.batch_size}")
    check_lexicon_heldout(cfg, dev_set)
    info(f"{len(train_set)} training pairs, {len(dev_set)} dev pairs ({', '.join(train_set.langs)})")

    loss_fn = build_loss(cfg.loss, cfg.temperature, cfg.labels, cfg.tcm, cfg.cross_weight)
    new_rows = first_new_id(cfg.student) if cfg.train_new_rows_only else None
    encoder = load_encoder(cfg.student, device=cfg.device, precision="fp32")
    old_rows = most_used_rows(encoder, train_set, cfg) if cfg.train_old_rows else None
    student = Student(encoder, cfg.freeze_embeddings, cfg.max_length, new_rows, old_rows, cfg.freeze_network)
    if cfg.anchor is not None:
        anchor_files(cfg, train_set)  # an anchor without a language record fails here, before OUT is claimed
    existed = out.exists()
    lock = claim(out, cfg.resume)  # held until the run ends (or the process does)
    try:
        _write_config(out, cfg, {"identity": identity})
        teacher = teacher_targets(cfg, loss_fn, train_set, student)
        anchor = anchor_targets(cfg, train_set, teacher[0])
        trainer = Trainer(cfg, out, student, loss_fn, train_set, dev_set, teacher, anchor)
    except (InputError, UsageError):
        lock.close()
        if not cfg.resume:  # a setup that fails claims nothing: the corrected command finds OUT as it was
            if existed:
                for name in ("train_config.json", ".lock"):
                    (out / name).unlink(missing_ok=True)
            else:
                shutil.rmtree(out, ignore_errors=True)
        raise
    trainer.state.data_key = identity["digest"]
    _write_config(out, cfg, {**trainer.run_info, "identity": identity})
    if cfg.resume:
        trainer.resume()

    stopped_early = trainer.fit()
    steps, total = trainer.state.step, trainer.state.total
    if steps < total and not stopped_early:
        trainer.checkpoint()
        info(f"stopped after step {steps} of {total}; continue with --resume")
        return trainer.result()
    if len(dev_set) and not stopped_early:
        trainer.evaluate()
    if cfg.select == "last" or not len(dev_set):
        trainer.save_model()
    record_languages(out, cfg)  # first: the cards' front matter lists the languages it records
    keep_last = cfg.keep_last and cfg.select == "best" and len(dev_set) and trainer.state.best_step != steps
    if keep_last:  # before the checkpoint, the only other copy of the final weights, is removed
        info(f"the final step's model (step {steps}) in {trainer.save_last(train_set)}")
    else:  # never a final-step model of an earlier run beside this one's
        shutil.rmtree(out / LAST_MODEL, ignore_errors=True)
        if cfg.keep_last:
            info(f"the final step (step {steps}) is the best: {out} holds its model, no {LAST_MODEL}/ beside it")
    # the card before the checkpoint goes: a run with a card and no checkpoint is complete (nothing to resume)
    write_model_card(out, cfg, train_set, *trainer.kept(), steps, trainer.run_info)
    shutil.rmtree(out / CHECKPOINT, ignore_errors=True)
    (out / ".lock").unlink(missing_ok=True)
    lock.close()
    info(f"best dev at step {trainer.state.best_step}; model of "
         f"{'that' if cfg.select == 'best' and len(dev_set) else 'the last'} step in {out}")
    if cfg.select == "best" and len(dev_set) and trainer.state.best_step == 0 and steps > 0:
        warn(f"no step improved on the start's dev accuracy (xx→en {100 * trainer.state.best['mean_xx2en']:.2f}): "
             f"{out} holds the start's weights; "
             + (f"the final step's are in {out / LAST_MODEL}" if keep_last else
                "--select last keeps the final step's, --keep-last writes them beside"))
    return trainer.result()
