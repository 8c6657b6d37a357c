"""Which mined pairs to keep: the margin threshold of a mining job.

``MineOptions.threshold`` (``mine --threshold``) is one of

- ``"default"``: the model's calibrated threshold (``mining.json`` in a model directory, chosen on dev data
  for one margin, k and mode) when it applies to the run (the same k, margin and mode, and the weights it was
  calibrated on: :func:`calibrated_threshold`), else ``"auto"``;
- ``"auto"``: a cut chosen from the run's own margins (:func:`auto_threshold`);
- a finite number: keep pairs whose margin is at least that;
- ``None`` (``--threshold none``): keep every pair, each sentence's best match.

Ratio margins can be below 1 and even negative, so no number means "keep all"; ``none`` does.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError, UsageError

DEFAULT = "default"
AUTO = "auto"
KEEP_ALL = ("none", "all")
#: a model directory's calibrated threshold lives here
MINING_FILE = "mining.json"
#: the key of ``mining.json`` that holds the model digest of the weights it was calibrated on
DIGEST_KEY = "model_digest"


def parse_threshold(value) -> float | str | None:
    """``--threshold`` text (or a library value) → ``"default"``, ``"auto"``, None (keep all) or a finite float."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in (DEFAULT, AUTO):
            return text
        if text in KEEP_ALL:
            return None
        try:
            value = float(text)
        except ValueError:
            raise UsageError(f"--threshold must be a number, 'auto', 'default' or 'none', got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise UsageError(f"--threshold must be a number, 'auto', 'default' or 'none', got {value!r}")
    if not math.isfinite(float(value)):
        raise UsageError(f"--threshold must be a finite number, got {value} ('none' keeps every pair)")
    return float(value)


# ------------------------------------------------------------------------------------- calibrated
def calibrated_threshold(model_dir: str | Path | None, k: int, margin: str, mode: str,
                         model: str | None = None) -> float | None:
    """The threshold a model directory ships for this ``k``/``margin``/``mode``, or None.

    A calibration describes the weights it was made on: it applies only when its ``model_digest`` is the model
    digest (:func:`mineshaft.encoders.digest.model_digest`) of ``model`` (the digest of the vectors' model;
    default: that of ``model_dir``'s files now). A copy next to other weights (``interpolate``, ``extend-vocab``,
    retraining in place) or a card without a digest gives None, with a note on stderr saying why."""
    if model_dir is None:
        return None
    path = Path(model_dir) / MINING_FILE
    if not path.is_file():
        return None
    try:
        card = json.loads(path.read_text())
        entries = card["thresholds"]
        found = None
        for e in entries:
            if (int(e["k"]), e["margin"], e["mode"]) == (k, margin, mode):
                t = float(e["threshold"])
                found = t if math.isfinite(t) else None
                break
        made_on = card.get(DIGEST_KEY)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: not a valid mining card ({exc})") from None
    if found is None:
        return None
    from .encoders.digest import model_digest
    from .progress import warn

    now = model or model_digest(model_dir)
    if not isinstance(made_on, str) or not made_on:
        warn(f"{path} does not say which weights it was calibrated on (no {DIGEST_KEY}): its threshold is not "
             "used, --threshold auto instead")
        return None
    if made_on != now:
        warn(f"{path} was calibrated on other weights (model {made_on[:8]}; these vectors: model {now[:8]}): "
             "its threshold is not used, --threshold auto instead")
        return None
    return found


def model_dir_of(name: str | None) -> Path | None:
    """The directory of an encoder name (:func:`mineshaft.encoders.model_path`), or None (``use``, hub ids
    not in the local cache)."""
    if not name:
        return None
    from .encoders import model_path

    return model_path(name)


# ------------------------------------------------------------------------------------------ auto
def _g(p: float) -> float:
    """``-log(-log p)``: the standard Gumbel quantile of ``p``."""
    return -math.log(-math.log(p))


@dataclass
class AutoCut:
    threshold: float
    expected_true: float  # how many pairs the fitted model expects to be translations
    null: tuple[float, float]  # Gumbel (location, scale) of the non-translation margins
    tail_cut: float = math.nan  # the cut of the null-tail model alone (nan: none)
    mixture_cut: float = math.nan  # the cut of the two-mode mixture alone (nan: not used)


#: weight of the mixture's cut in the blend (tuned on the dev tasks of benchmarks/calibrate_threshold.py)
MIXTURE_WEIGHT = 0.3
#: the mixture is used only when its translation mode stands this far above the null's median (in pooled sd)
MIN_SEPARATION = 0.2
_MAX_FIT = 200_000  # the mixture is fitted on at most this many (evenly spaced) order statistics


def _gumbel_logpdf(x: np.ndarray, mu: float, beta: float) -> np.ndarray:
    z = (x - mu) / beta
    return -math.log(beta) - z - np.exp(-z)


def _gumbel_fit(x: np.ndarray, w: np.ndarray, beta: float) -> tuple[float, float]:
    """Weighted maximum-likelihood Gumbel (location, scale), scale by damped fixed-point iteration."""
    total, top = float(w.sum()), float(x.max())
    mean = float((w * x).sum()) / total
    for _ in range(50):
        z = np.exp(-(x - top) / beta) * w
        new = max(mean - float((z * x).sum()) / float(z.sum()), 1e-4)
        done = abs(new - beta) < 1e-7 * beta
        beta = 0.5 * (beta + new)
        if done:
            break
    z = np.exp(-(x - top) / beta) * w
    return top - beta * math.log(float(z.sum()) / total), beta


_erfc = np.frompyfunc(math.erfc, 1, 1)


def _mixture(x: np.ndarray, mu: float, beta: float, pi: float, iters: int = 200) -> dict:
    """EM fit of ``(1 - pi) Gumbel(mu, beta) + pi Normal(m, sd)`` to the margins ``x``, from the tail fit."""
    hi = x[x > mu + 3.0 * beta]
    if len(hi) < 5:
        hi = np.sort(x)[-max(5, len(x) // 20):]
    m, sd = float(hi.mean()), max(float(hi.std()), 0.02)
    pi = float(np.clip(pi, 0.02, 0.5))
    ll_old = -math.inf
    for _ in range(iters):
        l0 = math.log(1.0 - pi) + _gumbel_logpdf(x, mu, beta)
        l1 = math.log(pi) - 0.5 * ((x - m) / sd) ** 2 - math.log(sd * math.sqrt(2 * math.pi))
        top = np.maximum(l0, l1)
        e0, e1 = np.exp(l0 - top), np.exp(l1 - top)
        ll = float((top + np.log(e0 + e1)).sum())
        r = e1 / (e0 + e1)
        pi = float(np.clip(r.mean(), 1e-4, 0.999))
        m = float((r * x).sum() / r.sum())
        sd = max(math.sqrt(float((r * (x - m) ** 2).sum() / r.sum())), 0.01)
        mu, beta = _gumbel_fit(x, 1.0 - r, beta)
        if ll - ll_old < 1e-8 * abs(ll):
            break
        ll_old = ll
    return {"pi": pi, "m": m, "sd": sd, "mu": mu, "beta": beta}


def _mixture_cut(s: np.ndarray, fit: dict) -> float:
    """The cut (over the scores ``s``, descending) maximizing the F1 the fitted mixture expects."""
    n, pi = len(s), fit["pi"]
    fp = n * (1.0 - pi) * (1.0 - np.exp(-np.exp(-(s - fit["mu"]) / fit["beta"])))
    tp = n * pi * 0.5 * _erfc((s - fit["m"]) / (fit["sd"] * math.sqrt(2))).astype(np.float64)
    f1 = 2 * tp / (tp + fp + n * pi + 1e-12)
    return float(s[int(np.argmax(f1))])


def auto_cut(scores: np.ndarray, lo_q: float = 0.2, hi_q: float = 0.5, ref_q: float = 0.9,
             min_true: float = 3.0, mixture_weight: float = MIXTURE_WEIGHT) -> AutoCut:
    """A cut between the translation and non-translation margins of one run, from no gold.

    Most sentences of a comparable corpus have no translation; their best match's margin is a
    maximum over noise, so its distribution is modelled as a Gumbel law fitted to the lower
    part of the margins (its ``lo_q`` and ``hi_q`` quantiles, where translations are rare).
    Pairs above what that law explains are the translations: with ``π`` their share (from the
    count below the law's ``ref_q`` quantile), a cut ``t`` is expected to keep
    ``FP(t) = n (1 - π) P(null > t)`` wrong pairs, and the cut maximizes the F1 this implies
    (the *tail cut*). With (almost) no excess over the null (no translations: one mode), it keeps
    nothing; when nearly every sentence has its translation (line-aligned files), the few lowest
    margins are the null.

    The tail cut trusts the Gumbel law's extrapolation to the upper tail; a second estimate fits
    both modes at once (EM: Gumbel null + normal translation mode, started from the tail fit) and
    takes the F1-optimal cut under that model (the *mixture cut*). The threshold is the blend
    ``(1 - w) tail + w mixture`` (``w = mixture_weight``), which was closer to the oracle on dev
    data than either alone; the mixture is skipped when its translation mode does not stand above
    the null's median (no translations), and never used when the tail fit keeps nothing.
    """
    s = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    s = s[np.isfinite(s)]
    n = len(s)
    if n == 0:
        return AutoCut(math.inf, 0.0, (math.nan, math.nan))
    asc = s[::-1]
    # iterate from "nearly all translations" down: the null is the LOWER mode, so the first consistent
    # share reached from above is the right one (from below, a single translation mode fits as a null)
    pi = 0.98
    mu = beta = math.nan
    for _ in range(200):
        frac = 1.0 - pi  # the null's quantile p sits at the data's quantile p * (1 - pi)
        xa, xb = np.quantile(asc, lo_q * frac), np.quantile(asc, hi_q * frac)
        beta = max(float(xb - xa) / (_g(hi_q) - _g(lo_q)), 1e-6)
        mu = float(xb) - beta * _g(hi_q)
        ref = mu + beta * _g(ref_q)
        new_pi = float(np.clip(1.0 - (asc < ref).sum() / (ref_q * n), 0.0, 0.98))
        if abs(new_pi - pi) < 1e-6:
            break
        pi = new_pi
    n_true = n * pi
    # a cut sits at each distinct score: keep score >= t
    last = np.r_[s[1:] != s[:-1], True]
    kept = np.arange(1, n + 1, dtype=np.float64)
    survival = 1.0 - np.exp(-np.exp(-(s - mu) / beta))
    fp = n * (1.0 - pi) * survival
    tp = np.maximum(kept - fp, 0.0)
    f1 = np.where(last, 2 * tp / (kept + n_true + 1e-12), -1.0)
    i = int(np.argmax(f1))
    if n_true < min_true or tp[i] < min_true + 3 * math.sqrt(fp[i]):  # no excess beyond the null's noise
        return AutoCut(float(s[0]) + max(beta, 1e-6), n_true, (mu, beta))  # above every margin: nothing kept
    tail = float(s[i])
    if mixture_weight <= 0 or n < 20:
        return AutoCut(tail, n_true, (mu, beta), tail)
    x = asc if n <= _MAX_FIT else asc[np.linspace(0, n - 1, _MAX_FIT).round().astype(np.int64)]
    fit = _mixture(x, mu, beta, pi)
    median = fit["mu"] - fit["beta"] * math.log(math.log(2.0))
    separation = (fit["m"] - median) / math.hypot(fit["sd"], 1.28 * fit["beta"])
    if not separation >= MIN_SEPARATION:  # the "translation mode" is part of the null: trust the tail cut
        return AutoCut(tail, n_true, (mu, beta), tail)
    mix = _mixture_cut(s, fit)
    t = (1.0 - mixture_weight) * tail + mixture_weight * mix
    t = float(s[s >= t][-1]) if (s >= t).any() else tail  # snap to a margin: keep score >= t
    return AutoCut(t, n_true, (mu, beta), tail, mix)


def auto_threshold(scores: np.ndarray) -> float:
    """The ``--threshold auto`` cut for these margins (see :func:`auto_cut`)."""
    return auto_cut(scores).threshold


# ---------------------------------------------------------------------------------------- choice
@dataclass
class ThresholdChoice:
    value: float | None  # None: every pair is kept
    source: str  # "given", "model", "auto" or "none"

    def describe(self) -> str:
        if self.source == "none":
            return "no threshold (--threshold none)"
        what = {"given": "--threshold", "model": "the model's calibrated threshold",
                "auto": "chosen by --threshold auto from this run's margins"}[self.source]
        return f"margin >= {self.value:.4g}, {what}"


def choose_threshold(setting, scores: np.ndarray, model_dir: str | Path | None, k: int, margin: str,
                     mode: str) -> ThresholdChoice:
    """Resolve a threshold setting for one run (``scores``: the margins of all its candidate pairs)."""
    setting = parse_threshold(setting)
    if setting is None:
        return ThresholdChoice(None, "none")
    if isinstance(setting, float):
        return ThresholdChoice(setting, "given")
    if setting == DEFAULT:
        t = calibrated_threshold(model_dir, k, margin, mode)
        if t is not None:
            return ThresholdChoice(t, "model")
    return ThresholdChoice(auto_threshold(scores), "auto")


def summary(n_kept: int, n_candidates: int, choice: ThresholdChoice, out: str) -> str:
    """The one line ``mine`` prints on stderr at the end."""
    where = "stdout" if out == "-" else out
    if choice.source == "none":
        return f"{n_kept} pairs written to {where}: every sentence's best match, no threshold"
    return (f"kept {n_kept} of {n_candidates} pairs with {choice.describe()}, written to {where}; "
            "--threshold none keeps all")
