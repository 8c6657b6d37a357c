"""benchmarks/interpolation_sweep.py's pooled dev retrieval: every dev English sentence is a candidate, an
English sentence that sits in several files counts once, and the languages the start knew are left out."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from mineshaft.training.data import PairSet

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("interpolation_sweep", ROOT / "benchmarks" / "interpolation_sweep.py")
interpolation_sweep = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(interpolation_sweep)


class _Lookup:
    """Unit vectors from a table: each text's vector is the one its meaning id names."""

    def __init__(self, meaning: dict[str, int], dim: int = 8):
        self.meaning, self.dim = meaning, dim

    def encode(self, texts, batch_size=128):
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            out[i, self.meaning[t]] = 1.0
        return out


def test_pooled_accuracy_searches_every_dev_english_sentence_once():
    # cs: two pairs, the second xx sentence means what hu's first English says (a miss across files);
    # hu: the same English as cs's first pair ("Hello", casefolded) is a hit; de is known and left out
    dev = PairSet(a=["Hello", "Thanks", "hello", "Dog", "Cat"], b=["Ahoj", "Dik", "Szia", "Hund", "Katze"],
                  lang=np.array([0, 0, 1, 2, 2]), langs=["en-cs", "en-hu", "en-de"])
    meaning = {"Hello": 0, "hello": 0, "Thanks": 1, "Dog": 2, "Cat": 3, "Ahoj": 0, "Dik": 2, "Szia": 0,
               "Hund": 2, "Katze": 3}
    acc = interpolation_sweep.pooled_accuracy(_Lookup(meaning), dev, known={"de"})
    assert acc == np.mean([0.5, 1.0])  # cs 1 of 2, hu 1 of 1
    # a language the start knew is left out of the mean
    assert interpolation_sweep.pooled_accuracy(_Lookup(meaning), dev, known={"de", "hu"}) == 0.5
