"""benchmarks/pooled_dev.py: every held-out English sentence of every file is a candidate, each counted once."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from mineshaft.training.data import PairSet

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
_spec = importlib.util.spec_from_file_location("pooled_dev", ROOT / "benchmarks" / "pooled_dev.py")
pooled_dev = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pooled_dev)


class _Lookup:
    """Unit vectors from a table: each text's vector is the axis its meaning id names."""

    def __init__(self, meaning: dict[str, int], dim: int = 8):
        self.meaning, self.dim = meaning, dim

    def encode(self, texts, batch_size=128):
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            out[i, self.meaning[t]] = 1.0
        return out


def test_pooled_hits_search_the_english_of_every_file():
    # cs's "Pes" means de's "Dog", not its own "Thanks": pooled, a miss; hu's English is cs's "Hello": one
    # candidate for both, a hit for both
    dev = PairSet(a=["Hello", "Thanks", "Hello", "Dog", "Cat"], b=["Ahoj", "Pes", "Szia", "Hund", "Katze"],
                  lang=np.array([0, 0, 1, 2, 2]), langs=["en-cs", "en-hu", "en-de"])
    meaning = {"Hello": 0, "Thanks": 1, "Dog": 2, "Cat": 3, "Ahoj": 0, "Pes": 2, "Szia": 0, "Hund": 2, "Katze": 3}
    hits = pooled_dev.pooled_hits(_Lookup(meaning), dev)
    assert {k: v.tolist() for k, v in hits.items()} == {"en-cs": [True, False], "en-hu": [True],
                                                        "en-de": [True, True]}


def test_pooled_hits_with_another_encoder_for_the_english_side():
    dev = PairSet(a=["Hello", "Dog"], b=["Ahoj", "Pes"], lang=np.array([0, 0]), langs=["en-cs"])
    xx = _Lookup({"Ahoj": 0, "Pes": 2})
    english = _Lookup({"Hello": 2, "Dog": 0})  # a space where the English sit the other way round
    assert pooled_dev.pooled_hits(xx, dev, english)["en-cs"].tolist() == [False, False]
    assert pooled_dev.pooled_hits(xx, dev, _Lookup({"Hello": 0, "Dog": 2}))["en-cs"].tolist() == [True, True]
