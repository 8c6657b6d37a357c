"""A training run is its recipe and its data: resume refuses another one, setup failures claim nothing, the dev
split does not depend on file order, the card's command is generated and read back, batches of the hard loss hold
no sentence twice, and a student whose lexicon saw the dev pairs is refused."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ROOT, run_cli
from mineshaft.io import read_lines
from mineshaft.training.card import recipe_command
from mineshaft.training.config import TrainConfig, to_args
from mineshaft.training.data import PairSet, dev_digest, read_pair_files, sentence_ids
from mineshaft.training.extension import check_lexicon_heldout
from mineshaft.training.sampling import BatchSampler
from mineshaft.training.sampling import batch_sampler
from mineshaft.training.teacher import AnchorTargets
from mineshaft.training.trainer import Trainer, train


def _write(path: Path, rows) -> str:
    path.write_text("".join(f"{a}\t{b}\n" for a, b in rows), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def pairs_tsv(tmp_path_factory) -> Path:
    """The 80 true German-English pairs of the shipped sample as `english<TAB>german`."""
    data = ROOT / "mineshaft" / "data"
    de, en = read_lines(data / "sample.de"), read_lines(data / "sample.en")
    rows = [(en[int(j) - 1], de[int(i) - 1]) for i, j in (line.split("\t") for line in read_lines(data / "sample.gold"))]
    return Path(_write(tmp_path_factory.mktemp("pairs") / "en-de.tsv", rows))


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("teacher-cache"))


# ------------------------------------------------------------------------------------------------ resume
@pytest.mark.slow
def test_resume_with_another_recipe_exits_2_and_leaves_the_config(pairs_tsv, cache, tmp_path):
    out = tmp_path / "run"
    base = ["train", "--pairs", str(pairs_tsv), "--out", str(out), "--loss", "soft", "--batch-size", "16",
            "--lr", "1e-4", "--seed", "0", "--steps", "4", "--dev-size", "10", "--eval-every", "0",
            "--checkpoint-every", "0", "--device", "cpu", "--cache-dir", cache, "--threads", "1", "-q"]
    assert run_cli(*base, "--stop-after", "2").returncode == 0
    config = (out / "train_config.json").read_bytes()
    for flag, value, old in (("--loss", "hard", "soft"), ("--batch-size", "32", "16"), ("--lr", "0.5", "0.0001"),
                             ("--seed", "7", "0")):
        args = list(base)
        args[args.index(flag) + 1] = value
        r = run_cli(*args, "--resume")
        err = r.stderr.decode()
        assert r.returncode == 2, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert f"{flag} is" in err and old in err, err
        assert (out / "train_config.json").read_bytes() == config  # nothing written
    # changed data is refused too, naming the file
    changed = tmp_path / "en-de.tsv"
    changed.write_text(pairs_tsv.read_text(encoding="utf-8") + "One more.\tNoch einer.\n", encoding="utf-8")
    args = list(base)
    args[args.index("--pairs") + 1] = str(changed)
    r = run_cli(*args, "--resume")
    assert r.returncode == 2 and "content changed" in r.stderr.decode()
    # the same data elsewhere and where-it-goes options may differ; the run's own recipe resumes and finishes
    same = tmp_path / "moved" / "en-de.tsv"
    same.parent.mkdir()
    same.write_bytes(pairs_tsv.read_bytes())
    args = list(base)
    args[args.index("--pairs") + 1] = str(same)
    args[args.index("--checkpoint-every") + 1] = "1"
    r = run_cli(*args, "--resume")
    assert r.returncode == 0, r.stderr.decode()
    assert (out / "model.safetensors").exists()


@pytest.mark.slow
def test_a_failed_setup_claims_no_output_folder(pairs_tsv, cache, tmp_path):
    out = tmp_path / "run"
    common = ["train", "--pairs", str(pairs_tsv), "--out", str(out), "--steps", "1", "--dev-size", "10",
              "--device", "cpu", "--cache-dir", cache, "-q"]
    r = run_cli(*common, "--extra-pairs", str(tmp_path / "en-xx.tsv"))  # no such file
    assert r.returncode == 2 and not out.exists(), r.stderr.decode()
    other = Path(_write(tmp_path / "en-fr.tsv", [("Hello.", "Bonjour.")]))
    r = run_cli(*common, "--extra-pairs", str(other))  # a name with no --pairs file to join
    assert r.returncode == 2 and not out.exists(), r.stderr.decode()
    out.mkdir()  # an empty folder the user made stays, empty
    r = run_cli(*common, "--student", str(tmp_path / "missing-model"))
    assert r.returncode == 2 and out.is_dir() and not any(out.iterdir()), r.stderr.decode()
    assert run_cli(*common, "--eval-every", "0", "--batch-size", "8").returncode == 0  # the corrected command runs


# ------------------------------------------------------------------------------------------------ dev split
def test_dev_split_does_not_depend_on_file_order(shared_data):
    files = [str(shared_data / "train" / f"en-{x}.tsv") for x in ("gl", "ur", "th")]
    _, dev1 = read_pair_files(files, 100, None, 0)
    train2, dev2 = read_pair_files(files[::-1], 100, None, 0)
    assert set(zip(dev1.a, dev1.b)) == set(zip(dev2.a, dev2.b)) and len(dev1) > 100
    assert dev_digest(dev1) == dev_digest(dev2)
    assert not set(zip(dev1.a, dev1.b)) & set(zip(train2.a, train2.b))


def test_dev_split_does_not_depend_on_row_order(tmp_path):
    rows = [(f"English {i}.", f"Deutsch {i}.") for i in range(200)]
    a = _write(tmp_path / "a" / "en-de.tsv", rows) if (tmp_path / "a").mkdir() is None else None
    b = _write(tmp_path / "b" / "en-de.tsv", rows[::-1]) if (tmp_path / "b").mkdir() is None else None
    assert dev_digest(read_pair_files([a], 20, None, 3)[1]) == dev_digest(read_pair_files([b], 20, None, 3)[1])
    assert dev_digest(read_pair_files([a], 20, None, 3)[1]) != dev_digest(read_pair_files([a], 20, None, 4)[1])


def test_train_refuses_a_lexicon_learned_on_another_split(tmp_path):
    rows = [(f"English {i}.", f"Deutsch {i}.") for i in range(200)]
    path = _write(tmp_path / "en-de.tsv", rows)
    _, dev = read_pair_files([path], 20, None, 0)
    model = tmp_path / "model"
    model.mkdir()
    record = {"first_new_id": 10, "lexicon": {"dev_size": 20, "seed": 0, "heldout": dev_digest(dev)}}
    (model / "vocab_extension.json").write_text(json.dumps(record))
    cfg = TrainConfig(pairs=[path], out=str(tmp_path / "o"), student=str(model), dev_size=20, seed=0)
    check_lexicon_heldout(cfg, dev)  # the same split: accepted
    cfg.seed = 1
    with pytest.raises(Exception, match="lexicon was learned on another split"):
        check_lexicon_heldout(cfg, read_pair_files([path], 20, None, 1)[1])


# ------------------------------------------------------------------------------------------------ the recipe
@pytest.mark.slow
def test_card_command_is_generated_from_every_recipe_option(pairs_tsv, cache, tmp_path):
    out = tmp_path / "run"
    cfg = TrainConfig(pairs=[str(pairs_tsv)], out=str(out), temperature=0.05, labels="average", cross_weight=0.5,
                      warmup=0.2, freeze_embeddings=False, eval_every=3, patience=2, steps=2, batch_size=8,
                      dev_size=10, device="cpu", cache_dir=cache)
    cmd = recipe_command(cfg)
    for part in ("--temperature 0.05", "--labels average", "--lambda 0.5", "--warmup 0.2", "--train-embeddings",
                 "--eval-every 3", "--patience 2"):
        assert part in cmd, cmd
    assert "--cache-dir" not in cmd and "--device" not in cmd  # where a run goes is not its recipe
    # the command parses back to the same recipe through the real CLI
    args = shlex.split(cmd)[2:]
    assert args == to_args(cfg) + ["--out", "run"]
    # and `--config train_config.json` reads a run's recipe back; options given win
    (tmp_path / "cfg.json").write_text(json.dumps({**cfg.__dict__, "steps": 1, "identity": {"x": 1}}))
    r = run_cli("train", "--config", str(tmp_path / "cfg.json"), "--out", str(tmp_path / "again"), "--labels",
                "priority", "--device", "cpu", "--cache-dir", cache, "-q")
    assert r.returncode == 0, r.stderr.decode()
    again = json.loads((tmp_path / "again" / "train_config.json").read_text())
    assert again["temperature"] == 0.05 and again["cross_weight"] == 0.5 and again["labels"] == "priority"
    assert again["steps"] == 1 and again["out"] == str(tmp_path / "again")
    card = (tmp_path / "again" / "README.md").read_text()
    assert "--temperature 0.05" in card and "--lambda 0.5" in card


# ------------------------------------------------------------------------------------------------ batches
def test_hard_loss_batches_hold_no_sentence_twice():
    rng = np.random.default_rng(0)
    # 60 English sentences with 1-5 translations each, in two languages: repeats are common in a batch of 32
    a, b, lang = [], [], []
    for i in range(60):
        for k in range(int(rng.integers(1, 6))):
            a.append(f"English {i}")
            b.append(f"Other {i} {k}")
            lang.append(i % 2)
    data = PairSet(a, b, np.array(lang), ["en-de", "en-fr"])
    ka, kb = sentence_ids(data)
    for temperature in (1.0, 3.0):
        plain = BatchSampler(data.lang, 2, 32, 0, temperature)
        distinct = BatchSampler(data.lang, 2, 32, 0, temperature, distinct=(ka, kb))
        repeats = 0
        for step in range(50):
            repeats += len(set(ka[plain(step)])) < 32
            idx = distinct(step)
            assert len(idx) == 32 and len(set(ka[idx])) == 32 and len(set(kb[idx])) == 32
            assert idx.tolist() == distinct(step).tolist()  # a function of the step: resume draws the same
        assert repeats > 25  # without it, most batches repeat a sentence
    # the trainer asks for it with the hard loss (identity labels), not with the soft one (the teacher's labels)
    for loss, want in (("hard", True), ("soft", False)):
        cfg = TrainConfig(pairs=["en-de.tsv"], out="x", loss=loss, batch_size=32, sampling_temperature=3.0)
        sampler = batch_sampler(cfg, data, None)
        assert all(len(set(ka[sampler(s)])) == 32 for s in range(20)) == want


def test_extra_share_divides_each_languages_draws():
    lang = np.array([0] * 100 + [0] * 900 + [1] * 200)
    extra = np.array([False] * 100 + [True] * 900 + [False] * 200)
    sampler = BatchSampler(lang, 2, 64, 0, 3.0, extra=extra, extra_share=0.25)
    drawn = np.concatenate([sampler(s) for s in range(200)])
    de = drawn[lang[drawn] == 0]
    assert abs(extra[de].mean() - 0.25) < 0.03
    proportional = np.concatenate([BatchSampler(lang, 2, 64, 0, 3.0)(s) for s in range(200)])
    assert extra[proportional[lang[proportional] == 0]].mean() > 0.85


# ------------------------------------------------------------------------------------------------ anchor
def test_anchor_term_against_a_reference():
    rng = np.random.default_rng(0)

    def unit(n):
        x = rng.standard_normal((n, 8)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    ua, ub = unit(6), unit(2)
    b_row = np.array([-1, 0, -1, 1, -1, -1])
    trainer = Trainer.__new__(Trainer)
    trainer.anchor = AnchorTargets(ua, ub, b_row, 0.7)
    idx = np.array([3, 0, 1, 5])
    sa, sb = torch.from_numpy(unit(4)), torch.from_numpy(unit(4))
    got = float(trainer.anchor_term(idx, sa, sb))
    ref_a = np.mean([1 - float(sa[i] @ torch.from_numpy(ua[j])) for i, j in enumerate(idx)])
    ref_b = np.mean([1 - float(sb[i] @ torch.from_numpy(ub[b_row[j]])) for i, j in enumerate(idx) if b_row[j] >= 0])
    assert got == pytest.approx(0.7 * (ref_a + ref_b), rel=1e-5)


@pytest.mark.slow
def test_anchor_to_the_start_keeps_a_use_student_in_place(pairs_tsv, cache, tmp_path):
    """With the start as the anchor and a strong weight, the student's German and English vectors stay closer to
    USE's than without it, on the same steps and data."""
    from mineshaft.encoders import load_encoder

    common = dict(pairs=[str(pairs_tsv)], student="use", teacher="minilm", batch_size=16, steps=6, lr=5e-4,
                  warmup=0.0, dev_size=0, eval_every=0, checkpoint_every=0, device="cpu", cache_dir=cache)
    train(TrainConfig(out=str(tmp_path / "free"), **common))
    train(TrainConfig(out=str(tmp_path / "anchored"), anchor="use", anchor_weight=20.0, **common))
    texts = read_lines(ROOT / "mineshaft" / "data" / "sample.de")[:40]
    use = load_encoder("use", device="cpu").encode(texts)
    drift = {name: float(1 - (load_encoder(str(tmp_path / name), device="cpu").encode(texts) * use).sum(1).mean())
             for name in ("free", "anchored")}
    assert drift["anchored"] < 0.5 * drift["free"], drift
    assert "anchored to `use`" in (tmp_path / "anchored" / "README.md").read_text()


@pytest.mark.slow
def test_the_documented_resume_continues_a_stopped_run_and_ends_at_a_finished_one(pairs_tsv, cache, tmp_path):
    """`train --config OUT/train_config.json --out OUT --resume`, as the docs and the refusal's own advice write it,
    continues a stopped run (whose config records the precision it resolved, fp32, where the run was started with
    auto), still refuses another recipe, and says a finished run has nothing to resume (exit 0, nothing written)."""
    out = tmp_path / "run"
    r = run_cli("train", "--pairs", str(pairs_tsv), "--out", str(out), "--batch-size", "8", "--steps", "4",
                "--dev-size", "10", "--eval-every", "0", "--cache-dir", cache, "--threads", "1", "-q", "--stop-after", "2")
    assert r.returncode == 0, r.stderr.decode()
    config = json.loads((out / "train_config.json").read_text())
    assert config["precision"] == "fp32" and config["identity"]["recipe"]["precision"] == "auto"
    resume = ["train", "--config", str(out / "train_config.json"), "--out", str(out), "--resume", "--threads", "1"]
    r = run_cli(*resume, "--lr", "0.5")  # a real change of recipe
    assert r.returncode == 2 and "--lr is 0.5 here" in r.stderr.decode(), r.stderr.decode()
    r = run_cli(*resume, "-q")
    assert r.returncode == 0, r.stderr.decode()
    log = (out / "train_log.jsonl").read_text()
    assert [json.loads(line)["step"] for line in log.splitlines() if "loss" in line] == [1, 2, 3, 4]
    r = run_cli(*resume)
    err = r.stderr.decode().strip()
    assert r.returncode == 0 and err == (f"the run in {out} is complete (its model and card are in {out}): nothing "
                                         "to resume; train again into another --out"), err
    assert r.stdout == b"" and (out / "train_log.jsonl").read_text() == log
