"""The Ray engine runs the same shard tasks as the local one and gives the same result."""

from __future__ import annotations

import numpy as np
import pytest

from mineshaft.encode import encode_to_store
from mineshaft.encoders import EncoderSpec
from mineshaft.engines import get_engine
from mineshaft.errors import UsageError
from mineshaft.mining.mine import MineOptions, mine_sources
from mineshaft.mining.sources import Source


@pytest.fixture(scope="module")
def ray_engine():
    ray = pytest.importorskip("ray")
    engine = get_engine("ray", workers=2)
    yield engine
    ray.shutdown()


def unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    x[:, 0] += 1.5
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_ray_search_equals_local(ray_engine, tmp_path):
    rng = np.random.default_rng(0)
    x, y = unit(rng, 700, 16), unit(rng, 900, 16)
    opts = MineOptions(shard_size=100)
    local = mine_sources(Source.from_array(x, 100), Source.from_array(y, 100), opts, tmp_path / "a")
    remote = mine_sources(Source.from_array(x, 100), Source.from_array(y, 100), opts, tmp_path / "b", ray_engine)
    for field in ("src", "tgt", "score"):
        np.testing.assert_array_equal(getattr(local, field), getattr(remote, field))


@pytest.mark.slow
def test_ray_encode_equals_local(ray_engine, tmp_path):
    texts = [f"line {i} " + "a" * (i % 7) for i in range(250)]
    # a real encoder spec, loaded inside each Ray actor
    spec = EncoderSpec("use", device="cpu", dtype="float32")
    a = encode_to_store(texts, tmp_path / "local", spec, shard_size=60)
    b = encode_to_store(texts, tmp_path / "ray", spec, shard_size=60, engine=ray_engine)
    # same model and inputs; Ray workers run with other BLAS thread counts, so float sums differ in the last bits
    np.testing.assert_allclose(a.load(), b.load(), rtol=0, atol=1e-6)


@pytest.mark.slow  # one Ray test in the fast set: parallel workers would each start a cluster
def test_ray_needs_an_in_memory_index(ray_engine):
    from mineshaft.mining.search import Searcher

    rng = np.random.default_rng(0)
    s = Searcher([unit(rng, 5000, 16)], memory=100_000)  # forces blocked search
    with pytest.raises(UsageError, match="fit in --memory"):
        list(ray_engine.search(s, [(0, unit(rng, 3, 16))], 2))
