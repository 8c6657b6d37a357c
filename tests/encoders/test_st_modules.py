"""sentence-transformers directories run module by module: Pooling modes, Dense, Normalize, prompts.

Tiny random BERTs built here (no hub), compared with SentenceTransformer(dir).encode in fp32.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mineshaft.encoders import load_encoder
from mineshaft.errors import InputError

from conftest import run_cli

st = pytest.importorskip("sentence_transformers")

LETTERS = "abcdefghijklmnopqrstuvwxyz"
WORDS = ["hello", "world", "query", "passage", "the", "cat", "sits", "on", "mat"]
TEXTS = ["hello world", "the cat sits on the mat", "a b c", "passage of the world, hello!", "xyz " * 12, "q"]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    from transformers import BertConfig, BertModel, BertTokenizerFast

    d = tmp_path_factory.mktemp("st") / "base"
    d.mkdir()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ":", ",", "!"] + list(LETTERS) + [f"##{c}" for c in LETTERS] + WORDS
    (d / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(d / "vocab.txt")).save_pretrained(d)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64)
    BertModel(cfg).save_pretrained(d)
    return d


def build(base: Path, out: Path, pooling, dense: bool = True, normalize: bool = True, include_prompt: bool = True,
          **kwargs) -> Path:
    """A sentence-transformers model saved by sentence-transformers itself."""
    import warnings

    with warnings.catch_warnings():  # the module moved in sentence-transformers 6; the old path still works
        warnings.simplefilter("ignore", DeprecationWarning)
        from sentence_transformers import SentenceTransformer, models

    torch.manual_seed(1)
    mods = [models.Transformer(str(base), max_seq_length=24),
            models.Pooling(16, pooling_mode=pooling, include_prompt=include_prompt)]
    if dense:
        width = 16 * (1 if isinstance(pooling, str) else len(pooling))
        mods.append(models.Dense(width, 8, activation_function=torch.nn.Tanh()))
    if normalize:
        mods.append(models.Normalize())
    SentenceTransformer(modules=mods, device="cpu", **kwargs).save(str(out))
    return out


def reference(path: Path, **kwargs) -> np.ndarray:
    model = st.SentenceTransformer(str(path), device="cpu")
    return model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True, **kwargs)


def ours(path: Path, **kwargs) -> np.ndarray:
    return load_encoder(str(path), device="cpu", precision="fp32", **kwargs).encode(TEXTS, batch_size=4)


def assert_same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape, (a.shape, b.shape)
    cos = np.einsum("ij,ij->i", a, b)
    assert cos.min() >= 0.9999, cos


def test_cls_dense_tanh_normalize_and_default_prompt(base, tmp_path):
    """LaBSE's layout (CLS -> Dense(tanh) -> Normalize) plus a default prompt, as saved by sentence-transformers."""
    m = build(base, tmp_path / "m", "cls", prompts={"query": "query: ", "passage": "passage: "},
              default_prompt_name="passage")
    enc = load_encoder(str(m), device="cpu", precision="fp32")
    assert enc.dim == 8 and enc.prompt == "passage: " and enc.max_length == 24
    assert_same(enc.encode(TEXTS, batch_size=4), reference(m))


def test_legacy_layout_files(base, tmp_path):
    """The files of hub models written by sentence-transformers 2.x (LaBSE): legacy Pooling flags,
    Dense weights in pytorch_model.bin, type names sentence_transformers.models.*."""
    import shutil

    m = tmp_path / "labse-like"
    shutil.copytree(base, m)
    (m / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
        {"idx": 3, "name": "3", "path": "3_Normalize", "type": "sentence_transformers.models.Normalize"}]))
    (m / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 20, "do_lower_case": False}))
    (m / "1_Pooling").mkdir()
    (m / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": 16, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}))
    (m / "2_Dense").mkdir()
    (m / "2_Dense" / "config.json").write_text(json.dumps({
        "in_features": 16, "out_features": 12, "bias": True, "activation_function": "torch.nn.modules.activation.Tanh"}))
    g = torch.Generator().manual_seed(3)
    torch.save({"linear.weight": torch.randn(12, 16, generator=g), "linear.bias": torch.randn(12, generator=g)},
               m / "2_Dense" / "pytorch_model.bin")
    (m / "3_Normalize").mkdir()
    enc = load_encoder(str(m), device="cpu", precision="fp32")
    assert enc.dim == 12 and enc.max_length == 20
    assert_same(enc.encode(TEXTS, batch_size=4), reference(m))


@pytest.mark.parametrize("pooling", ["mean", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken", ["mean", "max"]])
def test_pooling_modes(base, tmp_path, pooling):
    m = build(base, tmp_path / "m", pooling, dense=False, normalize=False)
    assert_same(ours(m), reference(m))


def test_query_prompt_is_the_default_for_mining_when_no_default_is_declared(base, tmp_path):
    """E5-style models: no default_prompt_name, but a "query" prompt (the one for symmetric tasks)."""
    m = build(base, tmp_path / "m", "mean", dense=False, prompts={"query": "query: ", "passage": "passage: "})
    assert_same(ours(m), reference(m, prompt_name="query"))
    assert_same(ours(m, prompt="passage"), reference(m, prompt_name="passage"))
    assert_same(ours(m, prompt=""), reference(m))


def test_prompt_left_out_of_pooling(base, tmp_path):
    m = build(base, tmp_path / "m", "mean", dense=False, include_prompt=False, prompts={"query": "query: "},
              default_prompt_name="query")
    assert_same(ours(m), reference(m))


def test_saved_student_keeps_its_modules(base, tmp_path):
    """save_pretrained (what `mineshaft train` writes) keeps Dense and prompts: sentence-transformers agrees."""
    m = build(base, tmp_path / "m", "cls", prompts={"query": "query: "}, default_prompt_name="query")
    load_encoder(str(m), device="cpu", precision="fp32").save_pretrained(tmp_path / "copy")
    assert_same(ours(tmp_path / "copy"), reference(m))
    assert_same(reference(tmp_path / "copy"), reference(m))


@pytest.mark.slow
def test_unknown_module_type_is_refused(base, tmp_path):
    m = build(base, tmp_path / "m", "mean", dense=False)
    modules = json.loads((m / "modules.json").read_text())
    modules.insert(2, {"idx": 9, "name": "9", "path": "", "type": "sentence_transformers.models.LayerNorm"})
    (m / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(InputError, match="LayerNorm"):
        load_encoder(str(m), device="cpu")
    (tmp_path / "a.txt").write_text("hello world\n")
    res = run_cli("encode", str(tmp_path / "a.txt"), "-e", str(m), "-o", str(tmp_path / "a.npy"))
    err = res.stderr.decode()
    assert res.returncode == 2 and err.count("\n") == 1 and "LayerNorm" in err and "Traceback" not in err, err
    assert not (tmp_path / "a.npy").exists()
