"""`mineshaft train` end to end on a tiny slice of real pairs: every loss learns, resume is exact."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ROOT, SHARED, run_cli
from mineshaft.catalog import folder_size
from mineshaft.encoders import load_encoder
from mineshaft.errors import UsageError
from mineshaft.io import read_lines
from mineshaft.training.config import TrainConfig
from mineshaft.training.data import PairSet, read_pair_files
from mineshaft.training.losses import build_loss
from mineshaft.training.sampling import batch_indices
from mineshaft.training.trainer import dev_accuracy, train


@pytest.fixture(scope="module")
def pairs_tsv(tmp_path_factory) -> Path:
    """The 80 true German-English pairs of the shipped Tatoeba sample as `english<TAB>german`."""
    data = ROOT / "mineshaft" / "data"
    de, en = read_lines(data / "sample.de"), read_lines(data / "sample.en")
    rows = [(en[int(j) - 1], de[int(i) - 1]) for i, j in (line.split("\t") for line in read_lines(data / "sample.gold"))]
    path = tmp_path_factory.mktemp("pairs") / "en-de.tsv"
    path.write_text("".join(f"{a}\t{b}\n" for a, b in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def teacher_cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("teacher-cache"))


def losses(out: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


def mean_loss(model_dir_or_name: str, cfg: TrainConfig, pairs: Path, cache: str) -> float:
    """The loss of a model on all training pairs at once (no gradient)."""
    from mineshaft.training.teacher import teacher_embeddings

    tr, _ = read_pair_files([str(pairs)], cfg.dev_size, None, cfg.seed)
    enc = load_encoder(model_dir_or_name, device="cpu", precision="fp32")
    ta = torch.from_numpy(np.array(teacher_embeddings(cfg.teacher, tr.a, Path(cache), "cpu", 64), np.float32))
    loss_fn = build_loss(cfg.loss, cfg.temperature, cfg.labels, cfg.tcm)
    with torch.no_grad():
        sa, sb = torch.from_numpy(enc.encode(tr.a)), torch.from_numpy(enc.encode(tr.b))
        return float(loss_fn(sa, sb, ta))


@pytest.mark.parametrize("loss,tcm", [("soft", False), ("soft", True),  # the baselines with the slow tests
                                      pytest.param("hard", False, marks=pytest.mark.slow),
                                      pytest.param("mse", False, marks=pytest.mark.slow)])
def test_each_loss_learns(loss, tcm, pairs_tsv, teacher_cache, tmp_path):
    out = tmp_path / "model"
    cfg = TrainConfig(pairs=[str(pairs_tsv)], out=str(out), student="use", loss=loss, tcm=tcm, batch_size=16,
                      steps=12, lr=2e-3, warmup=0.0, dev_size=0, eval_every=0, checkpoint_every=0,
                      device="cpu", cache_dir=teacher_cache)
    result = train(cfg)
    assert result.steps == 12
    assert (out / "config.json").exists() and (out / "README.md").exists()
    assert not (out / "checkpoint").exists()  # removed once the run finished
    # a frozen 128k-token table is not copied: the saved model stays small
    assert (out / "model.safetensors").stat().st_size < 20e6
    if loss == "mse":
        assert load_encoder(str(out), device="cpu").dim == 384  # linear head to the teacher's dimension
        before = None
    else:
        before = mean_loss("use", cfg, pairs_tsv, teacher_cache)
    after = mean_loss(str(out), cfg, pairs_tsv, teacher_cache)
    logged = losses(out)
    assert len(logged) == 12 and all(np.isfinite(list(logged.values())))
    if before is not None:
        assert after < before, (loss, before, after)
    else:
        assert np.mean([logged[s] for s in (10, 11, 12)]) < np.mean([logged[s] for s in (1, 2, 3)])


# ----------------------------------------------------------------------------- learning at the real recipe
RECIPE = dict(student="use", teacher="minilm", loss="soft", batch_size=32, lr=3e-5, warmup=0.1)  # docs/training.md's
HELD_OUT, STEPS = 300, 40


def held_out_split(path: Path, n_dev: int, n_train: int, seed: int = 0) -> tuple[PairSet, list[tuple[str, str]]]:
    """Dev pairs whose English (and other) sentences occur nowhere in the training pairs; the file repeats
    English sentences with several translations, so the split is by sentence, not by row."""
    rows = [line.split("\t")[:2] for line in path.read_text(encoding="utf-8").splitlines()]
    rows = [(a.strip(), b.strip()) for a, b in rows if a.strip() and b.strip()]
    order = np.random.default_rng(seed).permutation(len(rows))
    dev, dev_a, dev_b = [], set(), set()
    for i in order:
        a, b = rows[i]
        if a.casefold() not in dev_a and b.casefold() not in dev_b:
            dev.append((a, b))
            dev_a.add(a.casefold())
            dev_b.add(b.casefold())
        if len(dev) == n_dev:
            break
    pool = [rows[i] for i in order if rows[i][0].casefold() not in dev_a and rows[i][1].casefold() not in dev_b]
    assert len(pool) >= n_train
    devset = PairSet([a for a, _ in dev], [b for _, b in dev], np.zeros(len(dev), np.int64), [path.stem])
    return devset, pool[:n_train]


@pytest.mark.slow
def test_the_recipe_raises_dev_accuracy_on_held_out_pairs(tmp_path):
    """USE was not trained on Danish (xx→en ~28% on these short Tatoeba pairs): 40 steps of docs/training.md's recipe
    (soft labels from MiniLM, batch 32, lr 3e-5, warmup and linear decay) must lift top-1 xx→en retrieval on 300
    held-out pairs by several points (measured: 28.0 → 36.3). A student that does not learn stays where it was."""
    path = SHARED / "train" / "en-da.tsv"
    if not path.exists():
        pytest.skip(f"shared training data not found at {path.parent} (set MINESHAFT_SHARED_DATA)")
    dev, pairs = held_out_split(path, HELD_OUT, STEPS * RECIPE["batch_size"])
    assert not {a.casefold() for a in dev.a} & {a.casefold() for a, _ in pairs}  # held out by English sentence
    tsv = tmp_path / "en-da.tsv"
    tsv.write_text("".join(f"{a}\t{b}\n" for a, b in pairs), encoding="utf-8")
    before = dev_accuracy(load_encoder(RECIPE["student"], device="cpu", precision="fp32"), dev)["en-da"]["xx2en"]
    cfg = TrainConfig(pairs=[str(tsv)], out=str(tmp_path / "model"), steps=STEPS, dev_size=0, eval_every=0,
                      checkpoint_every=0, device="cpu", cache_dir=str(tmp_path / "cache"), seed=0, **RECIPE)
    train(cfg)
    after = dev_accuracy(load_encoder(str(tmp_path / "model"), device="cpu", precision="fp32"), dev)["en-da"]["xx2en"]
    assert after - before >= 0.04, f"dev xx→en {100 * before:.1f} → {100 * after:.1f} on {HELD_OUT} held-out pairs"


def test_stop_and_resume_reproduce_the_uninterrupted_run(pairs_tsv, teacher_cache, tmp_path):
    common = dict(pairs=[str(pairs_tsv)], student="use", loss="soft", tcm=True, batch_size=16, steps=8, lr=1e-3,
                  dev_size=16, eval_every=3, checkpoint_every=2, device="cpu", cache_dir=teacher_cache)
    full = train(TrainConfig(out=str(tmp_path / "full"), **common))
    part = TrainConfig(out=str(tmp_path / "part"), stop_after=5, **common)
    first = train(part)
    assert first.steps == 5 and (tmp_path / "part" / "checkpoint" / "state.pt").exists()
    with pytest.raises(Exception, match="exists"):
        train(TrainConfig(out=str(tmp_path / "part"), **common))  # never overwrite a run by accident
    part.stop_after, part.resume = None, True
    second = train(part)
    assert second.steps == 8
    assert losses(tmp_path / "full") == losses(tmp_path / "part")  # same losses, bit for bit, every step
    assert full.best_step == second.best_step and full.best_dev == second.best_dev
    from safetensors.torch import load_file

    a, b = (load_file(str(tmp_path / d / "model.safetensors")) for d in ("full", "part"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_sigterm_leaves_a_checkpoint_and_resume_matches(pairs_tsv, teacher_cache, tmp_path):
    args = ["train", "--pairs", str(pairs_tsv), "--student", "use", "--batch-size", "16", "--steps", "400",
            "--lr", "1e-4", "--dev-size", "0", "--eval-every", "0", "--checkpoint-every", "0", "--device", "cpu",
            "--cache-dir", teacher_cache, "--threads", "1", "-q"]
    exe = Path(sys.executable).with_name("mineshaft")
    proc = subprocess.Popen([str(exe), *args, "--out", str(tmp_path / "killed")], stderr=subprocess.PIPE)
    log = tmp_path / "killed" / "train_log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and len(log.read_text().splitlines()) >= 5):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert (tmp_path / "killed" / "checkpoint" / "state.pt").exists()
    done = len(losses(tmp_path / "killed"))
    assert 5 <= done < 400
    # resume for a few steps and compare with an uninterrupted run of the same steps
    r = run_cli(*args, "--out", str(tmp_path / "killed"), "--resume", "--stop-after", "3")
    assert r.returncode == 0, r.stderr.decode()
    r = run_cli(*args, "--out", str(tmp_path / "straight"), "--stop-after", str(done + 3))
    assert r.returncode == 0, r.stderr.decode()
    killed, straight = losses(tmp_path / "killed"), losses(tmp_path / "straight")
    assert len(killed) == done + 3
    assert killed == straight


@pytest.mark.slow
def test_transformer_student_loads_in_sentence_transformers(pairs_tsv, teacher_cache, tmp_path):
    st = pytest.importorskip("sentence_transformers")
    out = tmp_path / "minilm-student"
    train(TrainConfig(pairs=[str(pairs_tsv)], out=str(out), student="minilm", loss="soft", batch_size=8, steps=3,
                      lr=1e-4, dev_size=8, eval_every=0, checkpoint_every=0, device="cpu", cache_dir=teacher_cache))
    texts = ["Ich wollte nicht über Tom sprechen.", "Please pass me the sugar."]
    ours = load_encoder(str(out), device="cpu", precision="fp32").encode(texts)
    theirs = st.SentenceTransformer(str(out), device="cpu").encode(texts, normalize_embeddings=True)
    assert np.allclose(ours, theirs, atol=1e-5)


@pytest.fixture(scope="module")
def tiny_dropout_student(tmp_path_factory) -> str:
    """A random 2-layer BERT built here (BERT's dropout 0.1 on hidden states and attention) with MiniLM's
    tokenizer, as a sentence-transformers directory: a student whose training steps draw from the global RNG."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from mineshaft.encoders import minilm_path
    from mineshaft.encoders.hf import save_sentence_transformers_files

    tok = AutoTokenizer.from_pretrained(minilm_path())
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64, pad_token_id=tok.pad_token_id,
                     hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    d = tmp_path_factory.mktemp("tiny") / "bert"
    BertModel(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    save_sentence_transformers_files(d, 16, "mean", 64)
    return str(d)


def test_resume_with_dropout_reproduces_the_uninterrupted_run(pairs_tsv, tiny_dropout_student, tmp_path):
    """Dropout draws from the global torch RNG at every step: stopped after 3 steps and resumed, the run must
    draw the same masks as the uninterrupted one (the checkpoint restores the RNG), to the last bit."""
    from safetensors.torch import load_file

    common = dict(pairs=[str(pairs_tsv)], student=tiny_dropout_student, loss="hard", batch_size=8, steps=6,
                  lr=1e-3, warmup=0.0, dev_size=0, eval_every=0, checkpoint_every=0, max_length=32,
                  select="last", device="cpu")
    train(TrainConfig(out=str(tmp_path / "full"), **common))
    part = TrainConfig(out=str(tmp_path / "part"), stop_after=3, **common)
    assert train(part).steps == 3
    part.stop_after, part.resume = None, True
    assert train(part).steps == 6
    config = json.loads((tmp_path / "part" / "config.json").read_text())
    assert config["hidden_dropout_prob"] > 0 and config["attention_probs_dropout_prob"] > 0
    assert losses(tmp_path / "full") == losses(tmp_path / "part")  # same losses, bit for bit, every step
    a, b = (load_file(str(tmp_path / d / "model.safetensors")) for d in ("full", "part"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_data_order_and_dev_split_are_seeded(pairs_tsv):
    a1, d1 = read_pair_files([str(pairs_tsv)], 10, None, seed=3)
    a2, d2 = read_pair_files([str(pairs_tsv)], 10, None, seed=3)
    assert a1.a == a2.a and d1.b == d2.b and len(d1) == 10 and len(a1) == 70
    assert not set(d1.a) & set(a1.a)  # held out means held out
    steps = [batch_indices(s, 70, 16, seed=0) for s in range(8)]  # 4 batches an epoch
    assert sorted(np.concatenate(steps[:4]).tolist()) == sorted(set(np.concatenate(steps[:4]).tolist()))
    assert not np.array_equal(steps[0], steps[4])  # a new order every epoch


def _shared_other_sides(tmp_path: Path) -> list[str]:
    """Two pair files whose *other* sides repeat: one German sentence (up to case) for two English ones, and
    names shared by the German and Dutch files with different English; some English is shared across files."""
    de, nl = [], []
    for c in range(40):
        de += [(f"The {c}th cat sleeps.", f"Die {c}. Katze schläft."),
               (f"The {c}th cat is sleeping.", f"die {c}. KATZE schläft."),
               (f"Tom greets friend {c}.", f"Tom {c}!")]
        nl += [(f"The {c}th dog barks.", f"De {c}e hond blaft."),
               (f"Tom says hello to friend {c}.", f"TOM {c}!"),
               (f"the {c}TH DOG BARKS.", f"De {c}e hond is aan het blaffen."),
               (f"tom greets friend {c}.", f"Tom groet vriend {c}.")]
    paths = []
    for name, rows in (("en-de.tsv", de), ("en-nl.tsv", nl)):
        (tmp_path / name).write_text("".join(f"{a}\t{b}\n" for a, b in rows), encoding="utf-8")
        paths.append(str(tmp_path / name))
    return paths


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
@pytest.mark.parametrize("seed", range(4))
def test_dev_sentences_never_occur_in_training_on_either_side(tmp_path, seed, order):
    """A dev sentence, English or other side (casefolded), occurs in no training row of any file, also when
    its other side recurs with other English sentences, in its file or another."""
    paths = [_shared_other_sides(tmp_path)[i] for i in order]
    tr, dv = read_pair_files(paths, 8, None, seed=seed)
    cf = str.casefold
    assert set(dv.langs) == {"en-de", "en-nl"} and set(dv.lang.tolist()) == {0, 1}
    for side in ("a", "b"):
        held = {cf(t) for t in getattr(dv, side)}
        assert not held & {cf(t) for t in getattr(tr, side)}, (side, sorted(held & {cf(t) for t in getattr(tr, side)}))


@pytest.mark.parametrize("seed", range(4))
def test_dev_holds_each_sentence_once_per_language(tmp_path, seed):
    """Dev keeps one pair per English and per other sentence (casefolded) of each file: retrieval on dev needs
    distinct candidates, even where one German sentence translates two English ones."""
    tr, dv = read_pair_files(_shared_other_sides(tmp_path), 8, None, seed=seed)
    for side in ("a", "b"):
        for li, lang in enumerate(dv.langs):
            texts = [t.casefold() for t, l in zip(getattr(dv, side), dv.lang) if l == li]
            assert 0 < len(texts) <= 8 and len(texts) == len(set(texts)), (side, lang, sorted(texts))


@pytest.mark.parametrize("args,message", [
    (["--loss", "soft", "--temperature", "0"], "temperature"),
    (["--lr", "nan"], "finite"),
    (["--batch-size", "1"], "batch-size"),
    (["--dev-size", "100000"], "dev-size"),
    (["--keep-last", "--select", "last"], "--keep-last goes with --select best"),
])
def test_bad_training_options(args, message, pairs_tsv, tmp_path):
    r = run_cli("train", "--pairs", str(pairs_tsv), "--out", str(tmp_path / "m"), "--steps", "1", *args)
    assert r.returncode == 2, r.stderr.decode()
    err = r.stderr.decode().strip()
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1, err


def test_extra_pairs_of_no_language_in_pairs_is_one_line(pairs_tsv, tmp_path):
    extra = tmp_path / "en-zz.tsv"
    extra.write_text("a short message here\tein kurzer Text\n", encoding="utf-8")
    r = run_cli("train", "--pairs", str(pairs_tsv), "--extra-pairs", str(extra), "--out", str(tmp_path / "m"), "--dev-size", "10",
                "--steps", "1")
    err = r.stderr.decode().strip()
    assert r.returncode == 2 and "no --pairs file named en-zz.tsv" in err and len(err.splitlines()) == 1, err


def test_missing_pairs_file(tmp_path):
    r = run_cli("train", "--pairs", str(tmp_path / "nope.tsv"), "--out", str(tmp_path / "m"))
    assert r.returncode == 2 and "nope.tsv" in r.stderr.decode()


@pytest.mark.parametrize("args", [["--pairs", "nope.tsv"], ["--pairs", "pairs.tsv", "--extra-pairs", "nope.tsv"],
                                  ["--pairs", "pairs.tsv", "--lr", "nan"]])
def test_bad_options_and_missing_files_are_reported_before_torch_loads(args, tmp_path):
    """`mineshaft train` says what is wrong in well under a second: before the trainer (and torch) is imported."""
    (tmp_path / "pairs.tsv").write_text("a house\tein Haus\n", encoding="utf-8")
    code = ("import sys; from mineshaft.cli import main; sys.argv = ['mineshaft', 'train', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    print(e.code, 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, *args, "--out", "m"], capture_output=True, text=True, cwd=tmp_path)
    assert r.stdout.split() == ["2", "False"] and len(r.stderr.strip().splitlines()) == 1, (r.stdout, r.stderr)


def test_two_runs_never_share_a_directory(tmp_path):
    from mineshaft.errors import InputError
    from mineshaft.training.checkpoint import lock

    held = lock(tmp_path)
    with pytest.raises(InputError, match="another mineshaft train"):
        lock(tmp_path)
    held.close()
    lock(tmp_path).close()  # free again once the first run is over


def test_training_sits_below_mining():
    """`import mineshaft.training.trainer` loads neither the mining stack nor faiss (the accuracy is in mineshaft.metrics)."""
    code = ("import sys, mineshaft.training.trainer; print(sorted(m for m in ('mineshaft.mining.mine', 'mineshaft.mining.search', "
            "'mineshaft.evaluate', 'faiss') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


def test_options_are_declared_once_in_the_config():
    """`mineshaft train`'s options are TrainConfig's option fields (plus --threads/--quiet), and the library
    validates like the CLI does."""
    import typer

    from mineshaft.cli import app
    from mineshaft.training.config import flag_name, option_fields

    command = typer.main.get_command(app).commands["train"]
    flags = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    assert {flag_name(f) for f in option_fields(TrainConfig)} | {"--threads", "--quiet"} <= flags
    assert {"--lambda", "--train-embeddings", "-o"} <= flags and "--cross-weight" not in flags
    for bad, message in ((dict(lr=float("nan")), "--lr must be a finite"), (dict(batch_size=1), "--batch-size"),
                         (dict(select="worst"), "--select must be one of"), (dict(pairs=[]), "--pairs"),
                         (dict(train_old_rows=100), "--train-old-rows goes with --train-new-rows-only"),
                         (dict(embedding_lr=0.0), "--embedding-lr must be a positive")):
        with pytest.raises(UsageError, match=message):
            TrainConfig(**{"pairs": ["x.tsv"], "out": "m", **bad}).check()


@pytest.mark.slow
def test_a_run_that_never_beats_its_start_says_so(pairs_tsv, teacher_cache, tmp_path, capfd):
    """With --select best, a run whose dev never rises above step 0's writes the start's weights: a warning says
    so (the final weights are not kept: the checkpoint is removed at the end)."""
    common = dict(pairs=[str(pairs_tsv)], student="use", loss="soft", batch_size=16, steps=2, lr=1e-12,
                  embedding_lr=1e-12, dev_size=16, eval_every=1, device="cpu", cache_dir=teacher_cache)
    result = train(TrainConfig(out=str(tmp_path / "flat"), **common))
    assert result.best_step == 0
    err = capfd.readouterr().err
    assert "warning: no step improved on the start's dev accuracy" in err and "--select last" in err
    train(TrainConfig(out=str(tmp_path / "last"), select="last", **common))
    assert "no step improved" not in capfd.readouterr().err


@pytest.mark.slow
def test_keep_last_writes_the_final_step_beside_the_best(pairs_tsv, teacher_cache, tmp_path, capfd, monkeypatch):
    """--keep-last: when --select best keeps an earlier step (here step 0: USE already retrieves every dev pair, so
    no step can do better), OUT/last holds the final step's model, loadable, with the vectors of a --select last
    run of the same recipe."""
    common = dict(pairs=[str(pairs_tsv)], student="use", loss="soft", batch_size=16, steps=2, lr=1e-4,
                  embedding_lr=1e-3, dev_size=16, eval_every=1, device="cpu", cache_dir=teacher_cache)
    out = tmp_path / "best"
    assert train(TrainConfig(out=str(out), keep_last=True, **common)).best_step == 0
    err = capfd.readouterr().err
    assert f"the final step's are in {out / 'last'}" in err and "--keep-last" not in err
    assert {"train_config.json", "languages.json"} <= {f.name for f in (out / "last").iterdir()}
    train(TrainConfig(out=str(tmp_path / "final"), select="last", **common))
    texts = ["A short sentence.", "Ein kurzer Satz."]
    final = load_encoder(str(tmp_path / "final"), device="cpu").encode(texts)
    np.testing.assert_allclose(load_encoder(str(out / "last"), device="cpu").encode(texts), final, atol=1e-6)
    assert not np.allclose(load_encoder(str(out), device="cpu").encode(texts), final, atol=1e-4)
    assert "step 2 (the final step, beside the best" in (out / "last" / "README.md").read_text()
    assert folder_size(out) < 1.5 * folder_size(out / "last")  # `mineshaft models` counts the kept model only

    # the same run again, where each evaluation beats the one before: the final step is the best, and the
    # final-step model of the earlier run is removed, not left beside this one's (without its card the folder
    # holds a run stopped before its first checkpoint, which --resume starts again; a finished run is not resumed)
    (out / "README.md").unlink()
    import mineshaft.training.trainer as trainer_module
    real, calls = trainer_module.dev_accuracy, []

    def rising(encoder, dev):
        calls.append(1)
        return {**real(encoder, dev), "mean_xx2en": len(calls) / 100}

    monkeypatch.setattr(trainer_module, "dev_accuracy", rising)
    monkeypatch.setattr("mineshaft.progress._quiet", False)  # the info lines, as the CLI shows them
    assert train(TrainConfig(out=str(out), keep_last=True, resume=True, **common)).best_step == 2
    assert not (out / "last").exists()
    assert f"the final step (step 2) is the best: {out} holds its model" in capfd.readouterr().err


@pytest.mark.parametrize("bad", [dict(select="last"), dict(dev_size=0)])
def test_keep_last_needs_select_best_and_a_dev_split(bad):
    with pytest.raises(UsageError, match="--keep-last goes with --select best"):
        TrainConfig(pairs=["x.tsv"], out="m", keep_last=True, **bad).check()


_NO_MODEL = "encoder './no-model': no such directory"


@pytest.mark.parametrize("args,message", [
    (["--pairs", "empty.tsv"], "empty.tsv: empty input"),
    (["--out", "used"], "used exists and is not empty"),  # a folder of another run
    (["--out", "empty-dir", "--resume"], "nothing to resume in empty-dir"),
    (["--out", "no-dir", "--resume"], "nothing to resume in no-dir"),
    (["--student", "./no-model"], _NO_MODEL),
    (["--teacher", "./no-model"], _NO_MODEL),
    (["--anchor", "./no-model"], _NO_MODEL),
    (["--lambda", "-5", "--tcm"], "--lambda"),
    (["--lambda", "inf", "--tcm"], "--lambda must be a finite number"),
    (["--warmup", "2"], "--warmup must be at least 0 and below 1"),
], ids=["empty-pairs", "used-out", "empty-out-resume", "no-out-resume", "student", "teacher", "anchor",
        "negative-lambda", "infinite-lambda", "warmup"])
def test_trivial_errors_of_a_run_come_before_torch_loads(args, message, tmp_path):
    """An empty pairs file, an OUT that holds another run or nothing to resume, an encoder name that names nothing,
    a negative or infinite λ: one line, exit 2, before the trainer (and torch) is imported and any pair is read."""
    (tmp_path / "pairs.tsv").write_text("a house\tein Haus\n", encoding="utf-8")
    (tmp_path / "empty.tsv").write_bytes(b"")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "train_log.jsonl").write_text("{}\n")
    (tmp_path / "empty-dir").mkdir()
    code = ("import sys; from mineshaft.cli import main; sys.argv = ['mineshaft', 'train', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    print(e.code, 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, "--pairs", "pairs.tsv", "--out", "m", *args], capture_output=True,
                       text=True, cwd=tmp_path)
    assert r.stdout.split() == ["2", "False"], (r.stdout, r.stderr)
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and message in err and "--weight-decay" not in err, err
    assert not (tmp_path / "m").exists() and not (tmp_path / "no-dir").exists()


def test_resume_of_a_finished_run_says_so_and_writes_nothing(tmp_path):
    """A folder with a run's config and model card and no checkpoint holds a finished run: --resume says there is
    nothing to resume (exit 0), before torch loads, and leaves the folder as it was."""
    (tmp_path / "pairs.tsv").write_text("a house\tein Haus\n", encoding="utf-8")
    done = tmp_path / "done"
    done.mkdir()
    for name in ("train_config.json", "README.md", "train_log.jsonl"):
        (done / name).write_text("{}\n")
    code = ("import sys; from mineshaft.cli import main; sys.argv = ['mineshaft', 'train', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    print(e.code, 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, "--pairs", "pairs.tsv", "--out", "done", "--resume"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.stdout.split() == ["0", "False"], (r.stdout, r.stderr)
    assert r.stderr.strip() == ("the run in done is complete (its model and card are in done): nothing to resume; "
                                "train again into another --out")
    assert sorted(p.name for p in done.iterdir()) == ["README.md", "train_config.json", "train_log.jsonl"]
    (done / "checkpoint").mkdir()  # a checkpoint left: stopped, not finished (resumed: here up to the bad name)
    (done / "checkpoint" / "state.pt").write_bytes(b"")
    r = run_cli("train", "--pairs", str(tmp_path / "pairs.tsv"), "--out", str(done), "--resume", "--student", "./x")
    assert r.returncode == 2 and "is complete" not in r.stderr.decode(), r.stderr.decode()


def test_train_help_shows_switches_as_flags_and_marks_what_is_required():
    import re

    r = run_cli("train", "--help", env={"COLUMNS": "300"})
    lines = r.stdout.decode().splitlines()

    def row(flag: str) -> str:
        return next(line for line in lines if re.match(rf"^\W*(\*\s+)?{flag}\s", line))

    for flag in ("--tcm", "--resume", "--keep-last", "--freeze-embeddings", "--freeze-network", "--quiet"):
        assert "<bool>" not in row(flag), row(flag)
    for flag in ("--pairs", "--out"):
        assert "*" in row(flag).split(flag)[0] and "[required]" in row(flag), row(flag)
    assert "<float" in row("--lambda") and "*" not in row("--lambda").split("--lambda")[0]
