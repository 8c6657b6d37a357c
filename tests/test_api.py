"""The library calls behind the commands: mine_to_file, write_pairs, work_directory, ScoreOptions, eval's file names,
the options declared once, and the public names in ``mineshaft``."""

from __future__ import annotations

import math

import numpy as np
import pytest

import mineshaft
from mineshaft.errors import UsageError
from mineshaft.mining.filters import PairFilter
from mineshaft.mining.margin import K_MAX, MARGINS, MODES
from mineshaft.mining.mine import MineOptions, mine
from mineshaft.mining.output import format_pairs, mine_to_file, pair_texts, work_directory
from mineshaft.mining.score import METRICS, PairTable, ScoreOptions, write_scored


@pytest.fixture
def npys(tmp_path):
    """Two sides of 40 unit vectors: y is x shuffled plus a little noise."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 16)).astype(np.float32)
    y = x[rng.permutation(40)] + 0.05 * rng.normal(size=(40, 16)).astype(np.float32)
    for name, a in (("x", x), ("y", y)):
        np.save(tmp_path / f"{name}.npy", a / np.linalg.norm(a, axis=1, keepdims=True))
    return tmp_path / "x.npy", tmp_path / "y.npy"


def test_mine_stays_callable_once_its_module_is_imported(npys, tmp_path):
    import mineshaft.embed
    import mineshaft.mining.margin
    import mineshaft.mining.mine as module

    assert module.MineOptions is MineOptions  # the module is still the module
    for i in range(2):
        result = mineshaft.mine(*npys, tmp_path / f"w{i}", options=MineOptions(threshold=None))
        assert len(result.pairs) == 40
    np.testing.assert_allclose(mineshaft.margin(np.ones(2), np.full(2, 0.5), np.full(2, 0.5)), [2.0, 2.0])
    # the package attribute ``embed`` is now the module of that name: calling it still calls the function
    assert mineshaft.embed.embed is not mineshaft.embed and callable(mineshaft.embed)


def test_public_api_names():
    for name in ("mine_to_file", "write_pairs", "work_directory", "ScoreOptions", "score_to_file", "run_eval",
                 "evaluate_sets", "EncoderSpec", "PairFilter"):
        assert callable(getattr(mineshaft, name)), name
        assert name in mineshaft.__all__


def test_embeddings_as_input_go_without_the_length_clue(npys, tmp_path):
    result = mine(*npys, tmp_path / "w", options=MineOptions(threshold="auto"))
    assert result.info["threshold_fit"] is not None and result.info["threshold_fit"].fit.length_laws is None


def test_mine_to_file_writes_what_mine_and_format_pairs_give(npys, tmp_path):
    options = MineOptions(threshold=None)
    result = mine(*npys, tmp_path / "w", options=options)
    want = "".join(format_pairs(result.pairs, *pair_texts(result)))
    out = tmp_path / "pairs.tsv"
    written = mine_to_file(*npys, str(out), options)
    assert out.read_text() == want and len(written.pairs) == 40
    assert not (tmp_path / "pairs.tsv.work").exists(), "the default work directory goes on success"
    mine_to_file(*npys, str(out), options, force=True, keep_work=True)
    assert (tmp_path / "pairs.tsv.work").is_dir() and out.read_text() == want
    with pytest.raises(UsageError, match="pair filters read sentences"):
        mine_to_file(*npys, str(tmp_path / "f.tsv"), options, rules=PairFilter(min_chars=3))


def test_work_directory_is_kept_to_resume_after_an_interrupt(tmp_path):
    out = str(tmp_path / "pairs.tsv")
    with pytest.raises(KeyboardInterrupt), work_directory(None, out) as work:
        (work / "emb-src").mkdir(parents=True)
        (work / "src.stdin.txt").write_text("spooled\n")
        raise KeyboardInterrupt
    assert [p.name for p in work.iterdir()] == ["emb-src"], "finished work stays, a spooled stdin goes"
    with pytest.raises(KeyboardInterrupt), work_directory(None, str(tmp_path / "other.tsv")) as empty:
        assert empty.is_dir()  # made and held from the start: one run in a work directory at a time
        raise KeyboardInterrupt
    assert not empty.exists(), "a work directory with nothing to resume from goes"
    with pytest.raises(KeyboardInterrupt), work_directory(None, "-") as temporary:
        raise KeyboardInterrupt
    assert not temporary.exists(), "stdout output with no named work directory has nothing to resume"
    given = tmp_path / "given"
    with work_directory(given, out) as work:
        assert work.is_dir()
    assert given.is_dir(), "a work directory the caller named is never removed"


def test_options_are_checked_and_parsed_once():
    opts = MineOptions(threshold="1.3", memory="512M")
    opts.check()
    assert opts.threshold == 1.3 and opts.memory == 512 << 20
    for bad in (dict(k=0), dict(k=K_MAX + 1), dict(margin="cos"), dict(memory="1K")):
        with pytest.raises(UsageError):  # where they are made
            MineOptions(**bad)
    ScoreOptions(metric="cosine", k=0).check()  # k only matters for the margin
    for bad_score in (ScoreOptions(metric="dot"), ScoreOptions(k=K_MAX + 1), ScoreOptions(min_score=math.nan)):
        with pytest.raises(UsageError):
            bad_score.check()
    with pytest.raises(UsageError, match="--max-score"):
        PairFilter(max_score=math.inf)


def test_write_scored_appends_the_score_and_filters(tmp_path):
    table = PairTable(["a\tb", "c\td"], ["a", "c"], ["b", "d"])
    out = tmp_path / "scored.tsv"
    assert write_scored(table, np.array([1.5, 0.5]), str(out), min_score=1.0) == 1
    assert out.read_text() == "a\tb\t1.500000\n"


def test_eval_english_files_beside_the_others():
    from pathlib import Path

    from mineshaft.evaluate import flores_english, run_eval, sts_english

    assert flores_english("eval/flores200/deu_Latn.devtest") == Path("eval/flores200/eng_Latn.devtest")
    assert sts_english("eval/stsb/stsb-de-test.csv") == Path("eval/stsb/stsb-en-test.csv")
    with pytest.raises(UsageError, match="nothing to evaluate"):
        run_eval(None)


def test_cli_choices_and_limits_come_from_the_library():
    from typer.main import get_command

    from mineshaft.cli import app, options

    assert [m.value for m in options.Margin] == list(MARGINS) and [m.value for m in options.Mode] == list(MODES)
    assert [m.value for m in options.Metric] == list(METRICS)
    command = get_command(app)
    encoder_options = {"encoder", "batch_size", "device", "max_length", "precision"}
    for name in ("encode", "mine", "score", "eval"):
        params = {p.name: p for p in command.commands[name].params}
        assert encoder_options <= set(params), name
        assert ("normalize_punct" in params) == (name != "eval"), name
        if "k" in params:
            assert params["k"].max == K_MAX, name


def test_a_missing_input_is_reported_before_the_other_is_encoded(tmp_path, monkeypatch):
    from mineshaft.mining import mine as mine_module
    from mineshaft.errors import InputError

    (tmp_path / "a.txt").write_text("Guten Morgen.\n")
    monkeypatch.setattr(mine_module, "load_source", lambda *a, **k: pytest.fail("encoded before checking inputs"))
    with pytest.raises(InputError, match="missing.txt: no such file"):
        mine(tmp_path / "a.txt", tmp_path / "missing.txt", tmp_path / "work", encoder_name="use")
