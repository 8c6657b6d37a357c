"""Which mined pairs to keep: the margin threshold of a mining job.

``MineOptions.threshold`` (``mine --threshold``) is one of

- ``"default"``: the model's calibrated threshold (``mining.json`` in a model directory, chosen on dev data
  for one margin, k and mode) when it applies to the run (the same k, margin and mode, and the weights it was
  calibrated on: :func:`calibrated_threshold`), else ``"auto"``;
- ``"auto"``: a cut chosen from the run's own candidates (:func:`auto_threshold`): the null model of
  :mod:`mineshaft.mining.null_model` gives each pair its probability of being a translation, and the pairs are kept,
  best margin first, while their estimated precision is at least ``min_precision`` (``--min-precision``);
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

from ..errors import InputError, UsageError
from .null_model import DEFAULT_MIN_PRECISION, MIN_QUERIES, NullFit

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
    from ..encoders.digest import model_digest
    from ..progress import warn

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
    from ..encoders import model_path

    return model_path(name)


# ------------------------------------------------------------------------------------------ auto
@dataclass
class ThresholdFit:
    """A run's null model (:mod:`mineshaft.mining.null_model`) applied to its candidate pairs: each pair's posterior
    of being a translation and its null level, for cuts, precision estimates and the null's histogram."""

    fit: NullFit
    posteriors: np.ndarray  # aligned with the candidate pairs
    levels: np.ndarray
    #: estimated precision of the pairs kept (set once a threshold is chosen)
    precision: float = math.nan

    @classmethod
    def of(cls, fit: NullFit | None, pairs) -> ThresholdFit | None:
        if fit is None:
            return None
        return cls(fit, fit.pair_posteriors(pairs.src, pairs.tgt), fit.pair_levels(pairs.src, pairs.tgt))

    def cut(self, scores: np.ndarray, min_precision: float) -> float:
        return self.fit.cut(scores, self.posteriors, min_precision)

    def best_f1_prefix(self, scores: np.ndarray) -> tuple[int, float]:
        """(pairs kept, estimated precision) at the cut of best estimated F1, floor or not."""
        return self.fit.best_f1_prefix(scores, self.posteriors)

    def precision_above(self, scores: np.ndarray, threshold: float | None) -> float:
        """Estimated precision of the candidate pairs with margin >= ``threshold`` (all for None)."""
        keep = np.ones(len(scores), bool) if threshold is None else np.asarray(scores) >= threshold
        return self.fit.precision(self.posteriors[keep])

    def null_density(self, x: np.ndarray) -> np.ndarray:
        """Expected margins of the candidate pairs that are not translations, per unit margin (counts)."""
        return self.fit.null_density(x, self.levels, self.posteriors)

    def expected_translations(self) -> float:
        """How many of the candidate pairs the fit takes for translations."""
        return float(self.posteriors.sum())


def auto_threshold(scores: np.ndarray, fit: ThresholdFit | None, min_precision: float = DEFAULT_MIN_PRECISION
                   ) -> float:
    """The ``--threshold auto`` cut: the lowest margin down to which the pairs kept, best first, have an estimated
    precision of at least ``min_precision``; inf (nothing kept) without a fit or when even the best falls short."""
    return math.inf if fit is None else fit.cut(scores, min_precision)


# ---------------------------------------------------------------------------------------- choice
@dataclass
class ThresholdChoice:
    value: float | None  # None: every pair is kept
    source: str  # "given", "model", "auto" or "none"
    #: the run's null model, where it could be fitted (estimated precision, null histogram)
    fit: ThresholdFit | None = None
    note: str = ""  # why the source is not the one asked for, if it is not

    def describe(self) -> str:
        if self.source == "none":
            return "no threshold (--threshold none)"
        what = {"given": "the threshold given", "model": "the model's calibrated threshold",
                "auto": "chosen by --threshold auto from this run's margins"}[self.source]
        note = f" ({self.note})" if self.note else ""
        if not math.isfinite(self.value):
            return f"no margin high enough for --threshold auto{note}"
        return f"margin >= {self.value:.4g}, {what}{note}"


def choose_threshold(setting, scores: np.ndarray, model_dir: str | Path | None, k: int, margin: str,
                     mode: str, fit: ThresholdFit | None = None,
                     min_precision: float = DEFAULT_MIN_PRECISION, no_fit: str | None = None,
                     fallback: float | None = None) -> ThresholdChoice:
    """Resolve a threshold setting for one run (``scores``: the margins of all its candidate pairs; ``fit``: its
    null model, for ``auto`` and the estimated precision; ``no_fit``: why there is none, where known,
    :func:`mineshaft.mining.null_model.why_no_fit`; ``fallback``: the cut ``auto`` takes without a null model,
    :func:`mineshaft.mining.null_model.mutual_cut` for a run of a few sentences). The model's calibrated threshold
    gives way to ``auto`` where it would keep nothing although the run holds translations (a calibration made on
    other data)."""
    setting = parse_threshold(setting)
    scores = np.asarray(scores)
    if setting is None:
        choice = ThresholdChoice(None, "none", fit)
    elif isinstance(setting, float):
        choice = ThresholdChoice(setting, "given", fit)
    else:
        choice = None
        if setting == DEFAULT:
            t = calibrated_threshold(model_dir, k, margin, mode)
            if t is not None:
                choice = ThresholdChoice(t, "model", fit)
                auto = auto_threshold(scores, fit, min_precision)
                if not (scores >= t).any() and (scores >= auto).any():
                    choice = ThresholdChoice(auto, "auto", fit, "the calibrated threshold "
                                             f"{t:.4g} would keep no pair")
        if choice is None and fit is None and fallback is not None and math.isfinite(fallback):
            choice = ThresholdChoice(fallback, "auto", None, "the pairs that are each other's best match: too few "
                                     f"sentences for a null model, which needs {MIN_QUERIES}")
        elif choice is None:
            choice = ThresholdChoice(auto_threshold(scores, fit, min_precision), "auto", fit,
                                     "" if fit is not None else no_fit or "too few candidates to fit a null model, "
                                     f"which needs {MIN_QUERIES} sentences with 3 candidates or more (-k 3 or more)")
            if fit is not None and not math.isfinite(choice.value):
                choice.note = below_floor(scores, fit, min_precision)
    if fit is not None:
        fit.precision = fit.precision_above(scores, choice.value)
    return choice


def below_floor(scores: np.ndarray, fit: ThresholdFit, min_precision: float) -> str:
    """Why ``auto`` keeps nothing, and what would keep the pairs it takes for the likeliest translations."""
    n, precision = fit.best_f1_prefix(scores)
    floor = math.floor(100 * precision) / 100 if math.isfinite(precision) else 0.0
    if n == 0 or floor <= 0:  # under 1%: no floor worth naming keeps them
        return f"no pair reaches an estimated precision of {100 * min_precision:.0f}%"
    return (f"no cut reaches an estimated precision of {100 * min_precision:.0f}%: the best {n} pairs are "
            f"estimated at {100 * precision:.0f}%, which --min-precision {floor:.2f} keeps (look at a sample first: "
            "sentences of one text on one topic can pass for translations)")


def nothing_written(choice: ThresholdChoice, scores: np.ndarray, n_filtered: int = 0) -> str:
    """The warning of a run that writes no pair although it had candidates: why, and what would keep some."""
    if n_filtered:
        return f"no pair written: the filters removed all {n_filtered} pairs at or above the cut"
    finite = np.asarray(scores)[np.isfinite(scores)]
    best = f"the best margin is {finite.max():.4g}, " if len(finite) else ""
    if choice.source == "auto" and choice.note:
        if choice.fit is None:  # auto could not run: say what keeps pairs all the same
            return (f"no pair written: {choice.note}; --threshold none keeps every sentence's best match, or give "
                    f"a number{f' ({best[:-2]})' if best else ''}")
        return f"no pair written: {choice.note}"
    return f"no pair written: {best}under the threshold {choice.value:.4g}; --threshold auto or a lower one keeps pairs"


def summary(n_kept: int, n_candidates: int, choice: ThresholdChoice, out: str, precision: float = math.nan) -> str:
    """The one line ``mine`` prints on stderr at the end (``precision``: the estimated precision of the pairs
    written, where a null model was fitted)."""
    where = "stdout" if out == "-" else out
    est = f", estimated precision {100 * precision:.1f}%" if math.isfinite(precision) else ""
    if choice.source == "none":
        return f"{n_kept} pairs written to {where}{est}: every sentence's best match, no threshold"
    return (f"kept {n_kept} of {n_candidates} pairs with {choice.describe()}{est}, written to {where}; "
            "--threshold none keeps all")
