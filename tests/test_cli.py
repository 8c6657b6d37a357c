"""End to end through the real `mineshaft` entry point, on real text."""

from __future__ import annotations

import gzip
import json

import numpy as np

from mineshaft.io import read_lines
import pytest

from conftest import ROOT, run_cli

SAMPLE = ROOT / "mineshaft" / "data"


def gold_pairs() -> set[tuple[str, str]]:
    return {tuple(line.split("\t")) for line in read_lines(SAMPLE / "sample.gold")}


def test_demo_prints_correct_pairs():
    r = run_cli("demo", "-q")
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.decode().split("\n")[:-1]]
    assert len(rows) >= 60
    de = read_lines(SAMPLE / "sample.de")
    en = read_lines(SAMPLE / "sample.en")
    gold = {(de[int(a) - 1], en[int(b) - 1]) for a, b in gold_pairs()}
    correct = sum((s, t) in gold for _, s, t in rows)
    assert correct / len(rows) >= 0.95


@pytest.mark.parametrize("mode", ["forward", pytest.param("backward", marks=pytest.mark.slow),
                                  pytest.param("intersect", marks=pytest.mark.slow), "max"])
def test_mine_modes_on_sample(tmp_path, mode):
    out = tmp_path / "pairs.tsv"
    r = run_cli("mine", str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en"), "--out", str(out), "--mode", mode, "--ids",
                "--threshold", "none", "-q")
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in read_lines(out)]
    scores = [float(r[0]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    found = {(r[1], r[2]) for r in rows}
    gold = gold_pairs()
    n = {"forward": 90, "backward": 90}.get(mode)
    if n:
        assert len(rows) == n
    assert len(found & gold) >= 75  # USE finds nearly all 80 true pairs
    if mode == "max":
        assert len({r[1] for r in rows}) == len(rows) == len({r[2] for r in rows})


def test_mine_stdout_threshold_dedup_and_gz_stdin(tmp_path):
    de = (SAMPLE / "sample.de").read_text()
    src = tmp_path / "de.txt.gz"
    with gzip.open(src, "wt") as f:
        f.write(de + de + "\n\n")  # every line twice, plus empty lines
    en = (SAMPLE / "sample.en").read_bytes()
    r = run_cli("mine", str(src), "-", "--dedup", "--ids", "--threshold", "1.1", input=en)
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.decode().split("\n")[:-1]]
    assert rows and all(float(row[0]) >= 1.1 for row in rows)
    assert all(int(row[1]) <= 90 for row in rows), "dedup keeps the first occurrence's line number"
    assert "180 duplicates" not in r.stderr.decode() and "90 duplicates" in r.stderr.decode()


@pytest.mark.slow
def test_encode_then_mine_embeddings(tmp_path):
    for lang in ("de", "en"):
        r = run_cli("encode", str(SAMPLE / f"sample.{lang}"), "-o", str(tmp_path / f"{lang}.npy"), "--dtype", "float16", "-q")
        assert r.returncode == 0, r.stderr
    x = np.load(tmp_path / "de.npy")
    assert x.shape == (90, 512) and x.dtype == np.float16
    np.testing.assert_allclose(np.linalg.norm(x.astype(np.float32), axis=1), 1, atol=2e-3)
    r = run_cli("mine", str(tmp_path / "de.npy"), str(tmp_path / "en.npy"), "--threshold", "none", "-q")
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.decode().split("\n")[:-1]]
    assert len({(a, b) for _, a, b in rows} & gold_pairs()) >= 75
    # the default threshold: the model's when the embeddings' record names it, else auto; named on stderr
    r = run_cli("mine", str(tmp_path / "de.npy"), str(tmp_path / "en.npy"))
    err = r.stderr.decode()
    assert r.returncode == 0 and ("the model's calibrated threshold" in err or "--threshold auto" in err), err


def test_encode_stdin_to_stdout_keeps_empty_lines_as_zero_rows(tmp_path):
    r = run_cli("encode", "-", "-o", "-", "-q", "--shard-size", "2", input="Hallo Welt\n\nGuten Morgen\n".encode())
    assert r.returncode == 0, r.stderr
    path = tmp_path / "x.npy"
    path.write_bytes(r.stdout)
    x = np.load(path)
    assert x.shape == (3, 512) and not x[1].any() and x[0].any() and x[2].any()


@pytest.mark.slow
def test_score_separates_gold_from_random_pairs(tmp_path):
    de = read_lines(SAMPLE / "sample.de")
    en = read_lines(SAMPLE / "sample.en")
    gold = sorted(gold_pairs())
    rng = np.random.default_rng(0)
    rand = [(str(rng.integers(1, 91)), str(rng.integers(1, 91))) for _ in range(80)]
    rand = [p for p in rand if p not in set(gold)]
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"{de[int(a) - 1]}\t{en[int(b) - 1]}\t{lab}\n" for lab, ps in (("g", gold), ("r", rand)) for a, b in ps))
    for metric in ("margin", "cosine"):
        r = run_cli("score", str(pairs), "--metric", metric, "-q")
        assert r.returncode == 0, r.stderr
        rows = [line.split("\t") for line in r.stdout.decode().split("\n")[:-1]]
        g = np.array([float(x[-1]) for x in rows if x[2] == "g"])
        b = np.array([float(x[-1]) for x in rows if x[2] == "r"])
        auc = (g[:, None] > b[None, :]).mean()
        assert auc > 0.99, (metric, auc)
    r = run_cli("score", str(pairs), "--min-score", "1.0", "-q")
    kept = [line.split("\t") for line in r.stdout.decode().split("\n")[:-1]]
    assert kept and sum(x[2] == "g" for x in kept) / len(kept) > 0.95


@pytest.mark.slow
def test_eval_tatoeba_and_bucc_slice(shared_data, tmp_path):
    # a small real slice: the first 200 Tatoeba pairs, and a BUCC-style subset holding 60 gold pairs
    tat = shared_data / "eval" / "tatoeba"
    for ext in ("deu", "eng"):
        lines = read_lines(tat / f"tatoeba.deu-eng.{ext}")[:200]
        (tmp_path / f"tatoeba.deu-eng.{ext}").write_text("\n".join(lines) + "\n")
    bucc = shared_data / "eval" / "bucc-style"
    gold = [line.split("\t") for line in read_lines(bucc / "de-en.gold")[:60]]
    keep_de, keep_en = {a for a, _ in gold}, {b for _, b in gold}
    for lang, keep in (("de", keep_de), ("en", keep_en)):
        lines = read_lines(bucc / f"de-en.{lang}")
        sub = [line for i, line in enumerate(lines) if line.split("\t")[0] in keep or i < 300]
        (tmp_path / f"de-en.{lang}").write_text("\n".join(sub) + "\n")
    (tmp_path / "de-en.gold").write_text("".join(f"{a}\t{b}\n" for a, b in gold))
    out = tmp_path / "res.json"
    r = run_cli("eval", "--tatoeba", str(tmp_path / "tatoeba.deu-eng"), "--bucc", str(tmp_path / "de-en"), "--json", str(out), "-q")
    assert r.returncode == 0, r.stderr
    res = {x["task"]: x for x in json.loads(out.read_text())["results"]}
    assert res["tatoeba"]["xx2en"] > 0.9 and res["tatoeba"]["en2xx"] > 0.9
    assert res["bucc-style"]["f1"] > 0.85
    assert "bucc-style" in r.stdout.decode()
    # per-sentence hits (for paired comparisons) and a 95% interval around each accuracy
    t = res["tatoeba"]
    for d in ("xx2en", "en2xx"):
        assert len(t["hits"][d]) == 200 and t["hits"][d].count("1") / 200 == pytest.approx(t[d])
        lo, hi = t[f"{d}_ci"]
        assert lo <= t[d] <= hi and 0 < hi - lo < 0.1
    assert "95% CI" in r.stdout.decode()


# --------------------------------------------------------------------------- bad input: one line, exit 2
def _bad(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "bad.txt").write_bytes(b"gut\nschlecht \xc3\x28\n")
    (tmp_path / "nul.txt").write_bytes(b"gut\n\x00\x00\n")
    (tmp_path / "one.tsv").write_text("nur eine Spalte\n")
    (tmp_path / "exists.tsv").write_text("x\n")
    s = str(SAMPLE / "sample.de")
    return {
        "missing file": ["mine", str(tmp_path / "nope.txt"), s],
        "empty file": ["mine", str(tmp_path / "empty.txt"), s],
        "invalid utf-8": ["mine", str(tmp_path / "bad.txt"), s],
        "nul bytes": ["mine", str(tmp_path / "nul.txt"), s],
        "one-column tsv": ["score", str(tmp_path / "one.tsv")],
        "output exists": ["mine", s, s, "--out", str(tmp_path / "exists.tsv")],
        "k zero": ["mine", s, s, "--k", "0"],
        "unknown mode": ["mine", s, s, "--mode", "best"],
        "unknown encoder dir": ["mine", s, s, "--encoder", "./no/such/model"],
        "same columns": ["score", str(SAMPLE / "sample.gold"), "--src-col", "1", "--tgt-col", "1"],
        "encode to directory": ["encode", s, "-o", str(tmp_path)],
        "eval with nothing": ["eval"],
        "bad device": ["encode", s, "-o", str(tmp_path / "x.npy"), "--device", "tpu"],
    }


def test_bad_inputs_give_one_line_and_exit_2(tmp_path):
    for case, args in _bad(tmp_path).items():
        r = run_cli(*args, "-q")
        err = r.stderr.decode()
        assert r.returncode == 2, (case, r.returncode, err)
        assert "Traceback" not in err, (case, err)
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines and ("error" in err.lower() or "invalid" in err.lower()), (case, err)
    assert (tmp_path / "exists.tsv").read_text() == "x\n"


def test_invalid_utf8_error_names_line(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"gut\nschlecht \xc3\x28\n")
    r = run_cli("mine", str(tmp_path / "bad.txt"), str(SAMPLE / "sample.en"), "-q")
    assert r.returncode == 2
    assert r.stderr.decode().strip() == f"mineshaft: error: {tmp_path / 'bad.txt'}:2: invalid UTF-8 at byte 9 of the line (use --errors replace to substitute it)"


@pytest.mark.slow
def test_a_k_larger_than_a_side_is_said_before_encoding_and_works_as_the_sides_size(tmp_path):
    src, tgt = tmp_path / "de.txt", tmp_path / "en.txt"
    src.write_text("Der Hund schläft.\nDie Katze trinkt Milch.\nEs regnet heute.\n", encoding="utf-8")
    tgt.write_text("The dog is sleeping.\nThe cat drinks milk.\nIt is raining today.\nHello.\n", encoding="utf-8")
    runs = {k: run_cli("mine", str(src), str(tgt), "-k", k, "--threshold", "none", "-e", "use") for k in ("11", "4")}
    err = runs["11"].stderr.decode()  # -k 4 takes all 4 of tgt, and all 3 of src: as -k 11 does
    assert runs["11"].returncode == 0 and runs["11"].stdout == runs["4"].stdout != b"", err
    warning = "warning: --k 11 is more than the 3 sentences of src: all 3 are taken as neighbours where the margins"
    assert err.index(warning) < err.index("encoding"), err


def test_score_warns_when_min_score_keeps_nothing(tmp_path):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("Hund\tdog\nKatze\tcat\n", encoding="utf-8")
    r = run_cli("score", str(pairs), "--metric", "cosine", "--min-score", "2", "-e", "use")
    assert r.returncode == 0 and r.stdout == b""
    assert "warning: no pair written: every score is under --min-score 2 (the best is 0." in r.stderr.decode()


def test_auto_on_a_few_sentences_keeps_the_mutual_best_matches_and_says_so(tmp_path):
    """Too few sentences for a null model (4, of the 20 it needs): a user's first try with a few lines wrote an empty
    file; auto keeps the pairs that are each other's best match and warns, even with -q, that their precision is
    not estimated."""
    src, tgt = tmp_path / "de.txt", tmp_path / "en.txt"
    src.write_text("Der Hund schläft.\nDie Katze trinkt Milch.\n", encoding="utf-8")
    tgt.write_text("The cat drinks milk.\nThe dog is sleeping.\n", encoding="utf-8")
    r = run_cli("mine", str(src), str(tgt), "-k", "2", "-q", "-e", "use")
    err = r.stderr.decode()
    rows = sorted(line.split("\t")[1:] for line in r.stdout.decode().splitlines())
    assert r.returncode == 0 and rows == [["Der Hund schläft.", "The dog is sleeping."],
                                          ["Die Katze trinkt Milch.", "The cat drinks milk."]], err
    assert ("warning: 2 pairs written without an estimated precision, the pairs that are each other's best match: "
            "too few sentences for a null model, which needs 20; look at them before use") in err, err
