"""Embedding matrices as .npy files: streamed out, loaded back, their pages released."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mineshaft.errors import InputError
from mineshaft.npy import NpyStreamWriter, load_embeddings


class _Pipe(io.BytesIO):
    """An output that cannot seek back to its header (stdout into a pipe)."""

    def seekable(self) -> bool:
        return False


@settings(max_examples=25, deadline=None)
@given(rows=st.lists(st.integers(0, 50), max_size=5), dim=st.integers(1, 9), half=st.booleans(), pipe=st.booleans())
def test_npy_stream_writer_roundtrip(tmp_path_factory, rows, dim, half, pipe):
    """To a file the header is rewritten at the end; to a pipe the rows wait in a temporary file (not in memory)
    until the header, which needs their count, has gone out first."""
    dtype = np.float16 if half else np.float32
    path = tmp_path_factory.mktemp("npy") / "x.npy"
    rng = np.random.default_rng(0)
    blocks = [rng.standard_normal((r, dim)).astype(dtype) for r in rows]
    with (_Pipe() if pipe else open(path, "wb")) as fh:
        w = NpyStreamWriter(fh, dim, dtype)
        for b in blocks:
            w.write(b)
        assert not pipe or fh.getvalue() == b""
        w.close()
        if pipe:
            path.write_bytes(fh.getvalue())
    got = np.load(path, mmap_mode="r")
    want = np.concatenate(blocks) if blocks else np.zeros((0, dim), dtype)
    assert got.dtype == dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_load_embeddings_rejects_wrong_shapes(tmp_path):
    np.save(tmp_path / "v.npy", np.zeros(3, np.float32))
    with pytest.raises(InputError, match="2-D"):
        load_embeddings(tmp_path / "v.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(InputError, match="not a .npy file"):
        load_embeddings(tmp_path / "junk.npy")


def test_release_pages_drops_a_mapped_shard_from_the_resident_set(tmp_path):
    from mineshaft.npy import release_pages

    def rss_file_kb() -> int:
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("RssFile"))
        return int(line.split()[1])

    np.save(tmp_path / "a.npy", np.arange(300_000 * 64, dtype=np.float32).reshape(300_000, 64) % 7)
    a = np.load(tmp_path / "a.npy", mmap_mode="r")
    total = float(a[:200_000].sum())
    before = rss_file_kb()
    release_pages(a[:200_000])
    assert rss_file_kb() < before - 20_000  # ~51 MB of pages read, released
    assert float(a[:200_000].sum()) == total  # still readable, same data
    release_pages(np.ones((3, 2)))  # not mapped: nothing happens
    release_pages(a[:0])
