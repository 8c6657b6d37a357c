"""The threshold of `mine`: --threshold auto, the model's calibrated value, the library default, the summary line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mineshaft.errors import UsageError
from mineshaft.evaluate import best_threshold, f1_at
from mineshaft.threshold import (MINING_FILE, auto_cut, auto_threshold, calibrated_threshold, choose_threshold,
                                 model_dir_of, parse_threshold)

from conftest import ROOT, run_cli

SAMPLE = ROOT / "mineshaft" / "data"


def null_margins(rng, n):
    """Best-match margins of sentences without a translation: a right-skewed maximum over noise."""
    return 1.03 + 0.05 * rng.gumbel(size=n)


@pytest.mark.parametrize("n_false,n_true", [(10_000, 600), (3000, 60), (2000, 1000), (500, 4000)])
def test_auto_is_near_the_oracle_on_bimodal_margins(n_false, n_true):
    rng = np.random.default_rng(n_true)
    scores = np.r_[null_margins(rng, n_false), rng.normal(1.42, 0.08, n_true)]
    correct = np.r_[np.zeros(n_false, bool), np.ones(n_true, bool)]
    oracle = best_threshold(scores, correct, n_true)
    t = auto_threshold(scores)
    assert f1_at(scores, correct, n_true, t).f1 >= oracle.f1 - 0.03, (t, oracle)


def test_auto_keeps_almost_nothing_without_translations():
    rng = np.random.default_rng(1)
    scores = null_margins(rng, 10_000)
    kept = int((scores >= auto_threshold(scores)).sum())
    assert kept <= 20  # not half, not the upper tail
    assert auto_cut(scores).expected_true < 100


def test_auto_edge_cases():
    assert auto_threshold(np.array([])) == np.inf
    one = np.array([1.3])
    assert (one >= auto_threshold(one)).sum() <= 1
    assert np.isfinite(auto_threshold(np.array([1.0, np.nan, -np.inf, 1.2, 1.1])))


def test_parse_threshold():
    assert parse_threshold("default") == "default" and parse_threshold("AUTO") == "auto"
    assert parse_threshold("none") is None and parse_threshold(None) is None
    assert parse_threshold("0") == 0.0 and parse_threshold(1.25) == 1.25
    for bad in ("inf", "-inf", "nan", "many", float("nan"), True):
        with pytest.raises(UsageError):
            parse_threshold(bad)


def test_calibrated_threshold_from_the_model_dir(tmp_path, capsys):
    from mineshaft.encoders.digest import model_digest

    assert calibrated_threshold(tmp_path, 4, "ratio", "max") is None  # no card
    card = {"thresholds": [{"k": 4, "margin": "ratio", "mode": "max", "threshold": 1.31}]}
    (tmp_path / MINING_FILE).write_text(json.dumps(card))
    assert calibrated_threshold(tmp_path, 4, "ratio", "max") is None  # made on which weights? not used
    assert "no model_digest" in capsys.readouterr().err
    (tmp_path / MINING_FILE).write_text(json.dumps({**card, "model_digest": "0123456789abcdef"}))
    assert calibrated_threshold(tmp_path, 4, "ratio", "max") is None  # made on other weights
    assert "calibrated on other weights (model 01234567" in capsys.readouterr().err
    (tmp_path / MINING_FILE).write_text(json.dumps({**card, "model_digest": model_digest(tmp_path)}))
    assert calibrated_threshold(tmp_path, 4, "ratio", "max") == 1.31
    assert calibrated_threshold(tmp_path, 8, "ratio", "max") is None  # another k: not calibrated
    assert calibrated_threshold(tmp_path, 4, "distance", "max") is None
    scores = np.r_[np.full(50, 1.0), np.full(5, 1.5)]
    assert choose_threshold("default", scores, tmp_path, 4, "ratio", "max").source == "model"
    chosen = choose_threshold("default", scores, tmp_path, 4, "ratio", "intersect")
    assert chosen.source == "auto"
    assert choose_threshold(None, scores, tmp_path, 4, "ratio", "max").value is None
    assert choose_threshold("1.2", scores, tmp_path, 4, "ratio", "max").value == 1.2


def test_the_shipped_default_model_carries_its_threshold():
    from mineshaft.encoders.digest import model_digest

    model = model_dir_of("default")
    card = json.loads((model / MINING_FILE).read_text())
    t = calibrated_threshold(model, 4, "ratio", "max")
    assert t is not None and 1.0 < t < 2.0
    assert card["model_digest"] == model_digest("default")  # calibrated on the weights it ships with
    assert "dev" in card["chosen_on"] and "eval" not in card["chosen_on"].replace("no eval/ file", "")


def test_library_default_applies_the_models_threshold(tmp_path):
    from mineshaft.mine import MineOptions, mine

    result = mine(SAMPLE / "sample.de", SAMPLE / "sample.en", tmp_path / "w")
    choice = result.info["threshold"]
    assert choice.source == "model" and choice.value == calibrated_threshold(model_dir_of("default"), 4, "ratio", "max")
    assert len(result.pairs) < len(result.info["candidate_scores"]) and (result.pairs.score >= choice.value).all()
    everything = mine(SAMPLE / "sample.de", SAMPLE / "sample.en", tmp_path / "w", options=MineOptions(threshold=None))
    assert len(everything.pairs) == len(result.info["candidate_scores"])


def test_cli_summary_line_names_the_threshold(tmp_path):
    de, en = str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en")
    r = run_cli("mine", de, en, "--out", str(tmp_path / "a.tsv"))
    assert r.returncode == 0, r.stderr
    err = r.stderr.decode()
    n = len((tmp_path / "a.tsv").read_text().splitlines())
    t = calibrated_threshold(model_dir_of("default"), 4, "ratio", "max")
    assert f"kept {n} of " in err and f"margin >= {t:.4g}, the model's calibrated threshold" in err
    assert "--threshold none keeps all" in err
    r = run_cli("mine", de, en, "--out", str(tmp_path / "b.tsv"), "--threshold", "none")
    assert r.returncode == 0 and "no threshold" in r.stderr.decode()
    assert len((tmp_path / "b.tsv").read_text().splitlines()) > n
    r = run_cli("mine", de, en, "--out", str(tmp_path / "c.tsv"), "--threshold", "auto", "--explain-threshold")
    assert r.returncode == 0, r.stderr
    assert "chosen by --threshold auto" in r.stderr.decode() and "<- threshold" in r.stderr.decode()
    r = run_cli("mine", de, en, "--threshold", "lots", "-q")
    assert r.returncode == 2 and "--threshold" in r.stderr.decode()


def test_auto_blends_the_tail_and_mixture_cuts():
    rng = np.random.default_rng(7)
    scores = np.r_[null_margins(rng, 5000), rng.normal(1.35, 0.12, 400)]
    cut = auto_cut(scores)
    assert np.isfinite(cut.tail_cut) and np.isfinite(cut.mixture_cut)
    lo, hi = sorted((cut.tail_cut, cut.mixture_cut))
    assert lo - 1e-9 <= cut.threshold <= hi + 1e-9
    assert auto_cut(scores, mixture_weight=0).threshold == cut.tail_cut
    assert np.isnan(auto_cut(null_margins(rng, 10_000)).mixture_cut)  # no translation mode: no mixture
