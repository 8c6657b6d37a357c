"""`mineshaft score`: each pair's margin over the file's own sentences, against a plain reference."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import ROOT, run_cli
from mineshaft.io import read_lines
from mineshaft.mining.score import pair_scores

SAMPLE = ROOT / "mineshaft" / "data"


def reference_scores(x, y, src_rows, tgt_rows, k, kind):
    """The margin written plainly: a source sentence's mean is over its k most similar *target* sentences, a
    target sentence's over its k most similar *source* sentences (LASER's scoring mode)."""
    sim = x.astype(np.float64) @ y.T.astype(np.float64)
    mean_x = [np.sort(sim[i])[::-1][:k].mean() for i in range(len(x))]
    mean_y = [np.sort(sim[:, j])[::-1][:k].mean() for j in range(len(y))]
    out = []
    for i, j in zip(src_rows, tgt_rows):
        d = (mean_x[i] + mean_y[j]) / 2
        out.append(sim[i, j] / d if kind == "ratio" else sim[i, j] - d)
    return np.array(out)


def unit(rng, n, d):
    x = rng.standard_normal((n, d))
    x[:, 0] += 2.0  # cosines lean positive, as real sentence embeddings do: ratio denominators stay away from 0
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("kind", ["ratio", "distance"])
@pytest.mark.parametrize("nx,ny,k", [(30, 30, 4), (25, 40, 3), (40, 12, 6), (10, 10, 1)])
def test_margin_matches_a_plain_reference(kind, nx, ny, k):
    """Sides of different sizes and pairs that are not row i with row i: each side's mean must come from its
    neighbours on the *other* side (a target's among the sources, never among the other targets)."""
    rng = np.random.default_rng(nx * 100 + ny + k)
    x, y = unit(rng, nx, 16), unit(rng, ny, 16)
    n = 50
    src_rows, tgt_rows = rng.integers(0, nx, n), rng.integers(0, ny, n)
    got = pair_scores(x, y, src_rows, tgt_rows, metric="margin", margin_kind=kind, k=k)
    want = reference_scores(x, y, src_rows, tgt_rows, k, kind)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_score_cli_matches_the_reference_on_real_sentences(tmp_path, use_encoder):
    """`mineshaft score --encoder use` on real German-English pairs (true ones and mismatched ones, some sentences
    repeated): every line's score is the reference ratio margin over the file's distinct sentences."""
    de, en = read_lines(SAMPLE / "sample.de"), read_lines(SAMPLE / "sample.en")
    gold = [tuple(int(v) - 1 for v in line.split("\t")) for line in read_lines(SAMPLE / "sample.gold")][:40]
    rng = np.random.default_rng(0)
    wrong = [(int(rng.integers(0, 90)), int(rng.integers(0, 90))) for _ in range(20)]
    rows = gold + wrong
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"{de[i]}\t{en[j]}\n" for i, j in rows), encoding="utf-8")
    r = run_cli("score", str(pairs), "--encoder", "use", "--k", "4")
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert f"src ({pairs}): German (de)" in err and f"tgt ({pairs}): English (en)" in err, err  # as mine names them
    got = np.array([float(line.split("\t")[-1]) for line in r.stdout.decode().splitlines()])
    src = list(dict.fromkeys(de[i] for i, _ in rows))
    tgt = list(dict.fromkeys(en[j] for _, j in rows))
    x, y = use_encoder.encode(src), use_encoder.encode(tgt)
    want = reference_scores(x, y, [src.index(de[i]) for i, _ in rows], [tgt.index(en[j]) for _, j in rows], 4, "ratio")
    assert len(got) == len(rows)
    np.testing.assert_allclose(got, want, atol=2e-4)


def test_score_cli_gives_empty_sentences_no_score_that_a_filter_keeps(tmp_path):
    """Blank sides are zero rows, as in mine: a pair of two blanks is -inf (with a warning), a pair with one blank
    scores 0, so `--min-score` drops both; the real pairs keep the scores they have without the blank lines."""
    de, en = read_lines(SAMPLE / "sample.de")[:12], read_lines(SAMPLE / "sample.en")[:12]
    real = "".join(f"{a}\t{b}\n" for a, b in zip(de, en))
    plain, blanks = tmp_path / "plain.tsv", tmp_path / "blanks.tsv"
    plain.write_text(real, encoding="utf-8")
    blanks.write_text(real + "\t\n \t \nHallo Welt.\t\n", encoding="utf-8")
    scores = {}
    for path in (plain, blanks):
        r = run_cli("score", str(path), "--encoder", "use", "--k", "2")
        assert r.returncode == 0, r.stderr.decode()
        scores[path] = [line.rsplit("\t", 1)[1] for line in r.stdout.decode().splitlines()]
    assert scores[blanks][-3:] == ["-inf", "-inf", "0.000000"]
    assert "2 pairs have no defined ratio margin" in r.stderr.decode()
    np.testing.assert_allclose(np.array(scores[blanks][:-3], float), np.array(scores[plain], float), atol=1e-5)


def test_one_column_given_keeps_the_layouts_other_column():
    """`score mine_ids.tsv --tgt-col 5`: src stays mine --ids output's column 4 (it was column 1, the score)."""
    from mineshaft.mining.score import pair_columns

    rows = [["2.1", "de-1", "en-1", "Hallo.", "Hello."], ["1.9", "de-2", "en-2", "Welt.", "World."]]
    assert pair_columns(rows, tgt_col=5)[:2] == (4, 5)
    assert pair_columns(rows, src_col=4)[:2] == (4, 5)
    assert pair_columns([["a", "b", "c"]], src_col=3)[:2] == (3, 2)
    assert pair_columns(rows, 1, 2) == (1, 2, "as given")
