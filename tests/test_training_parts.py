"""The training parts that each do one job the same way as the rest of mineshaft: the autocast precision is
resolved where every encoder resolves it, the kept model is written whole before it replaces the last one, a model
name becomes a folder through the one resolver, and the generated model card carries Hugging Face front matter."""

from __future__ import annotations

import json
import os
import stat
import types
from pathlib import Path

import pytest
import torch

from mineshaft.errors import InputError
from mineshaft.model_card import headline_figures, split_front_matter
from mineshaft.training import extension
from mineshaft.training.card import record_languages, write_model_card
from mineshaft.training.config import TrainConfig
from mineshaft.training.data import PairSet
from mineshaft.training.trainer import Trainer, _autocast_dtype


def test_training_precision_is_resolved_where_the_encoders_resolve_it():
    cpu = torch.device("cpu")
    assert _autocast_dtype("auto", cpu) is None and _autocast_dtype("fp32", cpu) is None  # fp32 training on CPU
    assert _autocast_dtype("bf16", cpu) is torch.bfloat16
    with pytest.raises(InputError, match="fp16 needs a GPU"):  # as for every encoder: no fp16 autocast on CPU
        _autocast_dtype("fp16", cpu)
    with pytest.raises(InputError, match="unknown precision"):
        _autocast_dtype("fp8", cpu)


class _Student:
    def __init__(self, fail: bool):
        self.fail = fail

    def save(self, directory: Path, dtype=None) -> None:
        (directory / "config.json").write_text('{"new": true}\n')
        if self.fail:
            raise OSError("disk full")
        (directory / "model.safetensors").write_bytes(b"new weights")
        (directory / "model.safetensors").chmod(0o600)  # as a writer that makes its files private would


def _trainer(out: Path, fail: bool = False):
    cfg = types.SimpleNamespace(save_dtype="fp32", train_new_rows_only=False, student="use")
    return types.SimpleNamespace(out=out, student=_Student(fail), cfg=cfg)


def test_the_kept_model_is_written_whole_before_it_replaces_the_last_one(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "train_config.json").write_text("{}\n")
    (out / "config.json").write_text('{"old": true}\n')
    (out / "model.safetensors").write_bytes(b"old weights")
    with pytest.raises(OSError, match="disk full"):
        Trainer.save_model(_trainer(out, fail=True))
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors", "train_config.json"]
    assert (out / "model.safetensors").read_bytes() == b"old weights", "a failed save leaves the last model as it was"
    Trainer.save_model(_trainer(out))
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors", "train_config.json"]
    assert json.loads((out / "config.json").read_text()) == {"new": True}
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((out / "model.safetensors").stat().st_mode) == 0o666 & ~umask, "new files follow the umask"


def test_an_extension_record_naming_a_shipped_model_resolves_to_it(tmp_path):
    """extend-vocab records the model it extended; a shipped model's name is a model, wherever the run starts."""
    model = tmp_path / "extended"
    model.mkdir()
    (model / extension.EXTENSION_FILE).write_text(json.dumps({"model": "mineshaft-use-soft", "first_new_id": 7}))
    assert extension.extension_file(str(model)) == model / extension.EXTENSION_FILE
    assert extension.first_new_id(str(model)) == 7
    assert extension.extended_model(str(model)) == "mineshaft-use-soft"
    assert extension.extension_file("use") is None and extension.extended_model("use") == "use"


def test_a_shipped_students_lexicon_is_checked_by_its_name(monkeypatch):
    """mineshaft-use-50's lexicon predates the held-out digest: named by its shipped name (not a path) the student's
    record is found all the same, and the run says that it cannot be checked."""
    said = []
    monkeypatch.setattr(extension, "info", said.append)
    cfg = TrainConfig(pairs=["en-de.tsv"], out="x", student="mineshaft-use-50")
    extension.check_lexicon_heldout(cfg, PairSet(["a"], ["b"], torch.zeros(1, dtype=torch.int64).numpy(), ["en-de"]))
    assert len(said) == 1 and "records no held-out digest" in said[0], said


def test_the_generated_card_has_front_matter_with_the_recorded_languages(tmp_path):
    out = tmp_path / "student"
    out.mkdir()
    pairs = tmp_path / "en-bn.tsv"
    pairs.write_text("hello\tহ্যালো\n", encoding="utf-8")
    cfg = TrainConfig(pairs=[str(pairs)], out=str(out), student="use")
    data = PairSet(["hello"], ["হ্যালো"], torch.zeros(1, dtype=torch.int64).numpy(), ["en-bn"])
    dev = {"en-bn": {"xx2en": 0.875, "en2xx": 0.8125}, "mean_xx2en": 0.875, "mean_en2xx": 0.8125}
    record_languages(out, cfg)
    write_model_card(out, cfg, data, 40, dev, 40)
    meta, body = split_front_matter((out / "README.md").read_text(encoding="utf-8"))
    recorded = json.loads((out / "languages.json").read_text())["languages"]
    assert meta["language"] == recorded and "bn" in recorded and "de" in recorded  # USE's 16 + the pair file's
    assert meta["base_model"] == "use" and meta["library_name"] == "mineshaft" and "loss-soft" in meta["tags"]
    results = meta["model-index"][0]["results"]
    assert [m["value"] for m in results[0]["metrics"]] == [87.5, 87.5] and results[0]["dataset"]["split"] == "dev"
    assert headline_figures(meta) == {}, "dev accuracy on training pairs is no headline figure"
    assert body.startswith("<!-- generated -->\n# student") and "| en-bn | 87.5 | 81.2 |" in body
    write_model_card(out, cfg, data, 40, dev, 41)  # a generated card is regenerated, not stacked
    assert (out / "README.md").read_text(encoding="utf-8").count("---\n") == 2
