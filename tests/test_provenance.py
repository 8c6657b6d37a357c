"""Which encoder made a set of vectors: digests, stale stores re-encoded, sides from different encoders refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, run_cli
from mineshaft.encode import encode_to_store
from mineshaft.encoders import EncoderSpec
from mineshaft.encoders.base import Encoder
from mineshaft.errors import InputError
from mineshaft.mining.mine import MineOptions, mine
from mineshaft.store import EmbeddingStore

SAMPLE = ROOT / "mineshaft" / "data"
WORDS = "the a cat dog sat on mat der die das hund katze ist".split()
TEXTS = ["the cat sat", "der hund", "the dog", "a mat", "die katze ist", "the", "das", "on the mat"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MINESHAFT_CACHE_DIR", str(tmp_path / "cache"))


def tiny_model(path: Path, seed: int) -> Path:
    """A 1-layer BERT with a 13-word vocabulary, saved (over ``path`` if it exists) with its tokenizer."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    BertTokenizerFast(vocab_file=str(path / "vocab.txt")).save_pretrained(path)
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(WORDS) + 5, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64)
    BertModel(cfg).save_pretrained(path)
    return path


def fake_model(path: Path) -> str:
    """A directory that names an encoder (its digest is its files') for tests that pass the encoder object."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"name": path.name}))
    return str(path)


class FixedEncoder(Encoder):
    """Deterministic vectors without a model; counts what it encodes."""

    dim = 4

    def __init__(self, offset: float = 0.0):
        self.calls, self.offset = 0, offset

    def _encode_batch(self, texts):
        self.calls += len(texts)
        return np.array([[len(t), t.count("a") + 1 + self.offset, 1.0, sum(map(ord, t)) % 7] for t in texts], np.float32)


# -------------------------------------------------------------------------------------------- digest
def test_digest_covers_what_changes_vectors_and_nothing_else(tmp_path, monkeypatch):
    import mineshaft.encoders.loading as loading
    import mineshaft.encoders.spec as spec_module
    from mineshaft.encoders.digest import encoder_record
    from mineshaft.encoders import hf

    def no_loading(*a, **k):
        raise AssertionError("the digest must not load the model")

    monkeypatch.setattr(loading, "load_encoder", no_loading)
    monkeypatch.setattr(spec_module, "load_encoder", no_loading)
    monkeypatch.setattr(hf.HFEncoder, "__init__", no_loading)
    m = tiny_model(tmp_path / "m", seed=0)
    spec = EncoderSpec(str(m), device="cpu", precision="fp32", dtype="float32")
    base = encoder_record(spec)
    (m / "README.md").write_text("a model card\n")
    (m / "train_log.jsonl").write_text("{}\n")
    for name in ("mining.json", "languages.json", "train_config.json", "train_config.stage2.json",
                 "vocab_extension.json", "interpolation.json", "transplant.json", "notes.txt"):
        (m / name).write_text('{"thresholds": []}\n')
    assert encoder_record(spec) == base, "cards, calibrations, language records and logs are not read by the loader"
    # the settings that change the rows change the digest, not the model
    for other in (EncoderSpec(str(m), device="cpu", precision="bf16", dtype="float32"),
                  EncoderSpec(str(m), device="cpu", precision="fp32", dtype="float16"),
                  EncoderSpec(str(m), device="cpu", precision="fp32", dtype="float32", max_length=8),
                  EncoderSpec(str(m), device="cpu", precision="fp32", dtype="float32", punct_lang="de")):
        rec = encoder_record(other)
        assert rec["digest"] != base["digest"] and rec["model"] == base["model"], other
    # weights, tokenizer and sentence-transformers module files change the model
    changed = []
    tiny_model(m, seed=1)
    changed.append(encoder_record(spec))
    with open(m / "vocab.txt", "a") as fh:
        fh.write("neu\n")
    changed.append(encoder_record(spec))
    (m / "1_Pooling").mkdir()
    (m / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    changed.append(encoder_record(spec))
    (m / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": False}))
    changed.append(encoder_record(spec))
    models = [base["model"]] + [r["model"] for r in changed]
    assert len(set(models)) == len(models), models
    # the same files elsewhere are the same model
    shutil.copytree(m, tmp_path / "copy")
    assert encoder_record(EncoderSpec(str(tmp_path / "copy"), device="cpu", precision="fp32", dtype="float32")
                          )["digest"] == changed[-1]["digest"]


def test_use_and_use_numpy_are_one_model_and_default_is_another():
    from mineshaft.encoders import DEFAULT_STUDENT, shipped_model
    from mineshaft.encoders.digest import encoder_record

    use, use_np = encoder_record(EncoderSpec("use")), encoder_record(EncoderSpec("use-numpy"))
    assert use["model"] == use_np["model"] and use["digest"] != use_np["digest"]
    if shipped_model(DEFAULT_STUDENT) is not None:
        assert encoder_record(EncoderSpec("default"))["model"] != use["model"]


# ------------------------------------------------------------------------------------- stale stores
def test_store_is_reencoded_after_the_weights_change_in_place(tmp_path, capsys):
    from mineshaft.encoders.hf import HFEncoder

    m = tiny_model(tmp_path / "m", seed=0)
    spec = EncoderSpec(str(m), device="cpu", precision="fp32", dtype="float32")
    old = encode_to_store(TEXTS, tmp_path / "s", spec, shard_size=3).load()
    # unchanged encoder: a lost marker costs one shard, the rest resume
    EmbeddingStore(tmp_path / "s").marker_path(1).unlink()
    enc = HFEncoder(m, device="cpu", precision="fp32")
    calls = []
    enc._encode_batch = lambda texts, f=enc._encode_batch: calls.append(len(texts)) or f(texts)
    np.testing.assert_array_equal(encode_to_store(TEXTS, tmp_path / "s", spec, shard_size=3, encoder=enc).load(), old)
    assert sum(calls) == 3
    capsys.readouterr()
    # the weights change under the same directory: every shard is encoded again
    tiny_model(m, seed=1)
    new = encode_to_store(TEXTS, tmp_path / "s", spec, shard_size=3).load()
    assert "encoder changed since these shards were written: re-encoding" in capsys.readouterr().err
    fresh = encode_to_store(TEXTS, tmp_path / "fresh", spec, shard_size=3).load()
    np.testing.assert_array_equal(new, fresh)
    assert not np.allclose(new, old)
    from mineshaft.encoders.digest import encoder_digest

    marker = json.loads(EmbeddingStore(tmp_path / "s").marker_path(0).read_text())
    assert marker["encoder"] == encoder_digest(spec) == EmbeddingStore(tmp_path / "s").meta["digest"]


def test_store_is_reencoded_when_the_precision_changes(tmp_path):
    texts = [f"sentence {i}" for i in range(10)]
    name = fake_model(tmp_path / "fixed")
    enc = FixedEncoder()
    encode_to_store(texts, tmp_path / "s", EncoderSpec(name, precision="fp32", dtype="float32"), shard_size=5, encoder=enc)
    enc2 = FixedEncoder()
    encode_to_store(texts, tmp_path / "s", EncoderSpec(name, precision="fp32", dtype="float32"), shard_size=5, encoder=enc2)
    assert enc2.calls == 0
    encode_to_store(texts, tmp_path / "s", EncoderSpec(name, precision="bf16", dtype="float32"), shard_size=5, encoder=enc2)
    assert enc2.calls == 10


# ------------------------------------------------------------------------------------ mixed sides
def _store(path: Path, model: Path, texts: list[str], offset: float = 0.0) -> Path:
    encode_to_store(texts, path, EncoderSpec(fake_model(model), dtype="float32"), shard_size=4,
                    encoder=FixedEncoder(offset))
    return path


def test_store_against_store_of_another_encoder_is_refused(tmp_path, capsys):
    texts = [f"satz {i} " + "a" * i for i in range(9)]
    a = _store(tmp_path / "a", tmp_path / "encoder-a", texts)
    b = _store(tmp_path / "b", tmp_path / "encoder-b", texts, offset=0.5)
    with pytest.raises(InputError, match=r"a was encoded with .*encoder-a .*b was encoded with .*encoder-b"):
        mine(a, b, tmp_path / "work", options=MineOptions(threshold=None))
    # the same encoder on both sides mines, silently
    a2 = _store(tmp_path / "a2", tmp_path / "encoder-a", texts[::-1])
    result = mine(a, a2, tmp_path / "work2", options=MineOptions(threshold=None))
    assert len(result.pairs) > 0 and "warning" not in capsys.readouterr().err


def test_bare_npy_warns_and_proceeds(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", x[::-1].copy())
    result = mine(tmp_path / "x.npy", tmp_path / "y.npy", tmp_path / "work", options=MineOptions(threshold=None))
    assert len(result.pairs) == 20
    err = capsys.readouterr().err
    assert "x.npy carries no encoder record; make sure both sides come from the same encoder" in err
    assert "y.npy carries no encoder record" in err


@pytest.fixture(scope="module")
def use_npys(tmp_path_factory):
    """sample.de encoded by `mineshaft encode -e use` into de.npy."""
    d = tmp_path_factory.mktemp("use-npy")
    r = run_cli("encode", str(SAMPLE / "sample.de"), "-e", "use", "-o", str(d / "de.npy"), "-q",
                env={"MINESHAFT_CACHE_DIR": str(d / "cache")})
    assert r.returncode == 0, r.stderr
    return d


def test_encode_writes_a_sidecar(use_npys):
    from mineshaft.encoders.digest import encoder_record
    from mineshaft.npy import sidecar_path

    rec = json.loads(sidecar_path(use_npys / "de.npy").read_text())
    x = np.load(use_npys / "de.npy")
    assert rec["encoder"] == "use" and rec["model"] == encoder_record(EncoderSpec("use"))["model"]
    assert (rec["rows"], rec["dim"], rec["stored_dtype"]) == (x.shape[0], 512, "float32")


@pytest.mark.slow
def test_npy_from_use_against_text_with_the_default_encoder_is_refused(use_npys, tmp_path):
    from mineshaft.encoders import DEFAULT_STUDENT, shipped_model

    if shipped_model(DEFAULT_STUDENT) is None:
        pytest.skip("the default student is not installed: default means use")
    r = run_cli("mine", str(use_npys / "de.npy"), str(SAMPLE / "sample.en"), "-o", str(tmp_path / "p.tsv"), "-q")
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert len(err.strip().splitlines()) == 1 and "de.npy was encoded with use" in err and DEFAULT_STUDENT in err
    assert not (tmp_path / "p.tsv").exists()
    # with the encoder that made it, the same command mines
    r = run_cli("mine", str(use_npys / "de.npy"), str(SAMPLE / "sample.en"), "-e", "use", "-o", str(tmp_path / "p.tsv"), "-q")
    assert r.returncode == 0 and "warning" not in r.stderr.decode(), r.stderr


def test_npy_changed_after_encoding_loses_its_record(use_npys, tmp_path, capsys):
    from mineshaft.npy import sidecar_path

    shutil.copy(use_npys / "de.npy", tmp_path / "en.npy")
    shutil.copy(sidecar_path(use_npys / "de.npy"), sidecar_path(tmp_path / "en.npy"))
    x = np.load(tmp_path / "en.npy")
    np.save(tmp_path / "en.npy", x[::-1].copy())  # other rows under the old record
    mine(use_npys / "de.npy", tmp_path / "en.npy", tmp_path / "work", options=MineOptions(threshold=None))
    err = capsys.readouterr().err
    assert "does not describe" in err and "en.npy carries no encoder record" in err


# ------------------------------------------------------------------------- records outlive model cards
@pytest.fixture(scope="module")
def default_copy(tmp_path_factory):
    """A copy of a shipped student with a calibration, and sample.de encoded with it by `mineshaft encode` (de.npy)."""
    from mineshaft.mining.threshold import model_dir_of

    d = tmp_path_factory.mktemp("copy")
    shutil.copytree(model_dir_of("mineshaft-use-soft"), d / "m")
    r = run_cli("encode", str(SAMPLE / "sample.de"), "-e", str(d / "m"), "-o", str(d / "de.npy"), "-q",
                env={"MINESHAFT_CACHE_DIR": str(d / "cache")})
    assert r.returncode == 0, r.stderr
    return d


def test_npy_still_mines_after_the_models_card_and_calibration_change(default_copy, tmp_path):
    """Vectors depend on weights, tokenizer and configs: editing the model card, mining.json or languages.json
    after encoding leaves the .npy minable with that model."""
    m, env = default_copy / "m", {"MINESHAFT_CACHE_DIR": str(default_copy / "cache")}
    card = json.loads((m / "mining.json").read_text())
    card["thresholds"][0]["threshold"] = 1.3
    (m / "mining.json").write_text(json.dumps(card, indent=2) + "\n")
    with open(m / "README.md", "a") as fh:
        fh.write("\nRecalibrated.\n")
    (m / "languages.json").write_text(json.dumps({"languages": ["de", "en", "fr"]}) + "\n")
    r = run_cli("mine", str(default_copy / "de.npy"), str(SAMPLE / "sample.en"), "-e", str(m),
                "-o", str(tmp_path / "p.tsv"), env=env)
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert len((tmp_path / "p.tsv").read_text().splitlines()) > 40


@pytest.mark.slow
def test_records_of_the_earlier_digest_are_recognized_while_the_model_is_unchanged(default_copy, tmp_path):
    """A sidecar written while the model digest also read every other file of the model folder (mining.json,
    languages.json) still mines with that model, until one of those files changes (then: encode again)."""
    from mineshaft.encoders.digest import _FileDigests, _model
    from mineshaft.npy import sidecar_path

    m, env = tmp_path / "m", {"MINESHAFT_CACHE_DIR": str(default_copy / "cache")}
    shutil.copytree(default_copy / "m", m)
    shutil.copy(default_copy / "de.npy", tmp_path / "de.npy")
    record = json.loads(sidecar_path(default_copy / "de.npy").read_text())
    old = _model(str(m), _FileDigests(), legacy=True)[2]  # the digest earlier versions recorded
    assert old != record["model"]
    sidecar_path(tmp_path / "de.npy").write_text(json.dumps({**record, "encoder": str(m), "model": old}))
    args = [str(tmp_path / "de.npy"), str(SAMPLE / "sample.en"), "-e", str(m), "-q", "--threshold", "none"]
    r = run_cli("mine", *args, "-o", str(tmp_path / "p.tsv"), env=env)
    assert r.returncode == 0, r.stderr.decode()
    (m / "mining.json").write_text("{}\n")  # the old digest read this file: it no longer vouches for the vectors
    r = run_cli("mine", *args, "-o", str(tmp_path / "q.tsv"), env=env)
    err = r.stderr.decode()
    assert r.returncode == 2 and len(err.strip().splitlines()) == 1, err
    assert "the model's files changed since one side was encoded" in err


@pytest.mark.slow
def test_the_sidecar_records_the_precision_the_use_port_ran_in(tmp_path):
    """--precision bf16 on CPU: the USE port runs in bf16 autocast, and the record says so (one resolution)."""
    from mineshaft.npy import sidecar_path

    r = run_cli("encode", str(SAMPLE / "sample.de"), "-e", "use", "--precision", "bf16", "--device", "cpu",
                "-o", str(tmp_path / "de.npy"), "-q", env={"MINESHAFT_CACHE_DIR": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr.decode()
    assert json.loads(sidecar_path(tmp_path / "de.npy").read_text())["precision"] == "bf16"
    r = run_cli("encode", str(SAMPLE / "sample.de"), "-e", "use", "--precision", "fp16", "--device", "cpu",
                "-o", str(tmp_path / "x.npy"), "-q")
    err = r.stderr.decode()
    assert r.returncode == 2 and "fp16 needs a GPU" in err and err.count("\n") == 1, err
