"""Weight interpolation of a student with its starting model (mineshaft interpolate)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

from mineshaft.encoders import load_encoder
from mineshaft.errors import InputError
from mineshaft.training.interpolate import interpolate, interpolate_states

from conftest import run_cli

SENTENCES = ["Guten Morgen, wie geht es dir?", "Good morning, how are you?", "東京は大きい都市です。"]


@settings(max_examples=40, deadline=None)
@given(alpha=st.floats(0, 1), seed=st.integers(0, 2**16), half=st.booleans())
def test_interpolate_states_is_the_weighted_mean(alpha, seed, half):
    g = torch.Generator().manual_seed(seed)
    dtype = torch.float16 if half else torch.float32
    init = {"w": torch.randn(5, 3, generator=g), "same": torch.ones(4), "steps": torch.tensor([3])}
    student = {"w": torch.randn(5, 3, generator=g).to(dtype), "same": torch.ones(4, dtype=dtype),
               "steps": torch.tensor([7])}
    got = interpolate_states(init, student, alpha)
    want = (1 - alpha) * init["w"].numpy() + alpha * student["w"].float().numpy()
    np.testing.assert_allclose(got["w"].float().numpy(), want, rtol=2e-3 if half else 1e-6, atol=2e-3 if half else 1e-6)
    assert got["w"].dtype == dtype and got["same"] is student["same"] and got["steps"] is student["steps"]
    if alpha == 1:
        assert torch.equal(got["w"], student["w"])


def test_interpolate_states_rejects_another_model():
    with pytest.raises(InputError, match="no tensor 'b'"):
        interpolate_states({"a": torch.zeros(2)}, {"a": torch.ones(2), "b": torch.ones(2)}, 0.5)
    with pytest.raises(InputError, match="shape"):
        interpolate_states({"a": torch.zeros(3)}, {"a": torch.ones(2)}, 0.5)


def test_hf_student_is_interpolated_with_its_recorded_start(tmp_path):
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
    torch.manual_seed(0)
    BertModel(cfg).save_pretrained(tmp_path / "start")
    torch.manual_seed(1)
    BertModel(cfg).save_pretrained(tmp_path / "student")
    (tmp_path / "student" / "train_config.json").write_text(json.dumps({"student": str(tmp_path / "start")}))
    stats = interpolate(tmp_path / "student", tmp_path / "mid", 0.25)
    a, b = load_file(str(tmp_path / "start" / "model.safetensors")), load_file(str(tmp_path / "student" / "model.safetensors"))
    got = load_file(str(tmp_path / "mid" / "model.safetensors"))
    assert stats["tensors"] == len(b) and set(got) == set(b)
    for key in b:
        torch.testing.assert_close(got[key], 0.75 * a[key] + 0.25 * b[key])
    assert (tmp_path / "mid" / "config.json").is_file() and not (tmp_path / "mid.tmp").exists()


@pytest.mark.slow
def test_cli_ends_are_the_student_and_use(tmp_path):
    for alpha in ("1", "0"):
        res = run_cli("interpolate", "mineshaft-use-soft", "-o", str(tmp_path / alpha), "--alpha", alpha, "-q")
        assert res.returncode == 0, res.stderr.decode()
        assert json.loads(res.stdout)["init"] == "use"
    one = load_encoder(str(tmp_path / "1"), device="cpu").encode(SENTENCES)
    np.testing.assert_array_equal(one, load_encoder("mineshaft-use-soft", device="cpu").encode(SENTENCES))
    zero = load_encoder(str(tmp_path / "0"), device="cpu").encode(SENTENCES)
    use = load_encoder("use", device="cpu").encode(SENTENCES)
    assert ((zero * use).sum(1) > 0.999).all()  # USE's weights, stored in the student's fp16
    assert "Weight interpolation" in (tmp_path / "0" / "README.md").read_text()
    assert json.loads((tmp_path / "0" / "interpolation.json").read_text())["alpha"] == 0


@pytest.mark.slow
def test_cli_bad_input_is_one_line_exit_2(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "noconfig").mkdir()
    save_file({"a": torch.zeros(2)}, str(tmp_path / "noconfig" / "model.safetensors"))
    cases = [
        (["default", "-o", str(tmp_path / "taken")], "exists"),
        (["default", "-o", str(tmp_path / "x"), "--alpha", "2"], "alpha"),
        ([str(tmp_path / "missing"), "-o", str(tmp_path / "x")], "not a model directory"),
        ([str(tmp_path / "noconfig"), "-o", str(tmp_path / "x")], "--init"),
        ([str(tmp_path / "noconfig"), "-o", str(tmp_path / "x"), "--init", "use"], "no tensor 'a'"),
    ]
    for args, needle in cases:
        res = run_cli("interpolate", *args)
        err = res.stderr.decode()
        assert res.returncode == 2 and err.count("\n") == 1 and needle in err and "Traceback" not in err, (args, err)
    assert not (tmp_path / "x").exists()


def test_records_tell_the_truth_and_training_leftovers_stay_behind(tmp_path):
    """train_config.json and the card say what the run used (not "auto"); interpolate copies the model,
    not the teacher cache, checkpoint, lock or final-step copy of its training run."""
    from mineshaft.io import read_lines
    from mineshaft.training.config import TrainConfig
    from mineshaft.training.trainer import train

    from conftest import ROOT

    data = ROOT / "mineshaft" / "data"
    de, en = read_lines(data / "sample.de"), read_lines(data / "sample.en")
    (tmp_path / "en-de.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in zip(en[:40], de[:40])), encoding="utf-8")
    out = tmp_path / "student"
    train(TrainConfig(pairs=[str(tmp_path / "en-de.tsv")], out=str(out), student="use", loss="hard", batch_size=8,
                      steps=1, dev_size=0, eval_every=0, checkpoint_every=0, device="cpu", save_dtype="fp16"))
    cfg = json.loads((out / "train_config.json").read_text())
    assert cfg["precision"] == "fp32" and cfg["device"] == "cpu" and cfg["out"] == str(out) and cfg["save_dtype"] == "fp16"
    assert {v.dtype for v in load_file(str(out / "model.safetensors")).values()} == {torch.float16}
    card = (out / "README.md").read_text()
    assert "trained in fp32 on cpu; weights saved as fp16" in card and "--save-dtype fp16" in card
    (out / "teacher-cache").mkdir()
    (out / "teacher-cache" / "abc.npy").write_bytes(b"x" * 1000)
    (out / ".lock").write_text("")
    (out / ".model.tmp").mkdir()
    (out / "last").mkdir()  # the final step's model that train --keep-last writes
    (out / "last" / "model.safetensors").write_bytes(b"x" * 1000)
    interpolate(out, tmp_path / "mid", 0.5)
    copied = {p.name for p in (tmp_path / "mid").iterdir()}
    assert not copied & {"teacher-cache", ".lock", ".model.tmp", "checkpoint", "last"}, copied
    assert {"config.json", "model.safetensors", "sp.model", "train_config.json", "interpolation.json"} <= copied


@pytest.mark.slow
def test_an_interpolated_model_does_not_mine_with_the_students_calibrated_threshold(tmp_path):
    """A calibration holds for the weights it was made on: α = 0 of mineshaft-use-soft is USE's weights, so `mine` with it
    takes --threshold auto (interpolate leaves mining.json behind), and a calibration copied next to other weights
    is not used either (its model digest is the student's), with a note saying why."""
    from conftest import ROOT

    de, en = str(ROOT / "mineshaft" / "data" / "sample.de"), str(ROOT / "mineshaft" / "data" / "sample.en")
    zero = tmp_path / "zero"
    res = run_cli("interpolate", "mineshaft-use-soft", "--init", "use", "--alpha", "0", "-o", str(zero), "-q")
    assert res.returncode == 0, res.stderr.decode()
    assert not (zero / "mining.json").exists()
    res = run_cli("mine", de, en, "-e", str(zero), "-o", str(tmp_path / "a.tsv"))
    err = res.stderr.decode()
    assert res.returncode == 0, err
    assert "chosen by --threshold auto" in err and "calibrated threshold" not in err, err
    from mineshaft.mining.threshold import model_dir_of

    shutil.copy(model_dir_of("mineshaft-use-soft") / "mining.json", zero / "mining.json")  # by hand: still not used
    res = run_cli("mine", de, en, "-e", str(zero), "-o", str(tmp_path / "b.tsv"))
    err = res.stderr.decode()
    assert res.returncode == 0, err
    assert "chosen by --threshold auto" in err and "the model's calibrated threshold" not in err, err
    assert "mining.json was calibrated on other weights" in err


def _one_line_exit_2(res, needle: str) -> str:
    err = res.stderr.decode()
    assert res.returncode == 2 and err.count("\n") == 1 and needle in err and "Traceback" not in err, err
    return err


def test_an_output_that_is_a_file_is_refused_at_once_and_nothing_is_left(tmp_path):
    """-o naming a file (with --force too), or a folder inside a file: one line, exit 2, the file untouched and no
    temporary folder beside it."""
    taken = tmp_path / "exists.tsv"
    taken.write_text("a\tb\n")
    for args in (["-o", str(taken)], ["-o", str(taken), "--force"], ["-o", str(taken / "sub"), "--force"]):
        _one_line_exit_2(run_cli("interpolate", "mineshaft-use-soft", *args, "-q"), "is a file")
    assert taken.read_text() == "a\tb\n" and sorted(p.name for p in tmp_path.iterdir()) == ["exists.tsv"]


def test_help_says_what_interpolate_takes():
    out = run_cli("interpolate", "--help", env={"COLUMNS": "200"}).stdout.decode()
    out = " ".join(out.replace("│", " ").split())  # the help as one line, unwrapped
    assert "(or 'default')" not in out and "Not a routed model such as 'default'" in out
    assert "Replace the output folder if it exists" in out and "output file" not in out


def test_atomic_dir_refuses_a_file_and_leaves_nothing_when_the_swap_fails(tmp_path, monkeypatch):
    import os

    from mineshaft import outputs as io
    from mineshaft.errors import UsageError

    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        with io.atomic_dir(tmp_path / "file"):
            raise AssertionError("never entered")
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("old")
    real = os.replace

    def failing(src, dst):
        if str(src).endswith(".tmp"):
            raise OSError(18, "Invalid cross-device link")
        return real(src, dst)

    monkeypatch.setattr(io.os, "replace", failing)
    with pytest.raises(OSError):
        with io.atomic_dir(target) as tmp:
            (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "model"]
    assert [p.name for p in target.iterdir()] == ["old.txt"]
