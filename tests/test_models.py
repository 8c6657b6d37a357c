"""The students shipped in models/: small, loadable by name, and good at their job on real text."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import ROOT
from mineshaft.encoders import load_encoder, models_dir, shipped_model
from mineshaft.io import read_lines

SHIPPED = sorted(p.name for p in models_dir().iterdir() if (p / "config.json").is_file())


def test_models_dir_is_the_repositorys():
    assert models_dir() == ROOT / "models" and SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_student(name):
    path = shipped_model(name)
    assert path is not None and (path / "README.md").is_file()  # a model card
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    assert size <= 60e6
    enc = load_encoder(name, device="cpu")
    data = ROOT / "mineshaft" / "data"
    de, en = read_lines(data / "sample.de"), read_lines(data / "sample.en")
    gold = [tuple(int(x) - 1 for x in line.split("\t")) for line in read_lines(data / "sample.gold")]
    x, y = enc.encode(de), enc.encode(en)
    found = (x @ y.T).argmax(1)
    accuracy = np.mean([found[i] == j for i, j in gold])
    assert accuracy >= 0.95, accuracy
