"""Reading inputs (encodings, compression, line ends) and writing outputs atomically."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mineshaft.errors import InputError, UsageError
from mineshaft.io import iter_lines, iter_tsv, read_lines, split_ids
from mineshaft.outputs import atomic_dir, atomic_output, nearest_existing
from mineshaft.npy import NpyStreamWriter, load_embeddings


def _zstd_open(path, mode):
    import zstandard

    return zstandard.open(path, mode)


@pytest.mark.parametrize("opener,suffix", [(open, ""), (gzip.open, ".gz"), (bz2.open, ".bz2"), (lzma.open, ".xz"),
                                           (_zstd_open, ".zst")])
def test_compressed_inputs_crlf_and_bom(tmp_path, opener, suffix):
    p = tmp_path / f"in.txt{suffix}"
    with opener(p, "wb") as f:
        f.write("\ufeffeins\r\nzwei\n\ndrei".encode())
    assert read_lines(p) == ["eins", "zwei", "", "drei"]


def test_invalid_utf8_names_file_and_line(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_bytes(b"ok\nstill ok\nbad \xff byte\n")
    with pytest.raises(InputError, match=r"bad.txt:3: invalid UTF-8"):
        read_lines(p)
    assert list(iter_lines(p, errors="replace"))[2] == "bad \ufffd byte"


def test_missing_empty_and_directory(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_lines(tmp_path / "nope.txt")
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(InputError, match="empty input"):
        read_lines(tmp_path / "empty.txt")
    with pytest.raises(InputError, match="is a directory"):
        read_lines(tmp_path)


def test_tsv_column_check_names_line(tmp_path):
    p = tmp_path / "p.tsv"
    p.write_text("a\tb\nc\n")
    with pytest.raises(InputError, match=r"p.tsv:2: expected at least 2"):
        list(iter_tsv(p, 2))


def test_split_ids_requires_tab(tmp_path):
    assert split_ids(["x-1\thallo"], "f") == (["x-1"], ["hallo"])
    with pytest.raises(InputError, match="f:1"):
        split_ids(["no tab here"], "f")


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "out.tsv"
    out.write_text("old\n")
    with pytest.raises(UsageError, match="--force"):
        with atomic_output(out) as fh:
            fh.write("new\n")
    with pytest.raises(RuntimeError):
        with atomic_output(out, force=True) as fh:
            fh.write("partial")
            raise RuntimeError("boom")
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.tsv"]
    with atomic_output(out, force=True) as fh:
        fh.write("new\n")
    assert out.read_text() == "new\n"


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


def test_atomic_dir_replaces_only_when_complete(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(target) as tmp:
            (tmp / "new.txt").write_text("half")
            raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["model"] and (target / "old.txt").read_text() == "old"
    with atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"] and [p.name for p in tmp_path.iterdir()] == ["model"]


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


class _Stdin:
    """A piped standard input holding ``data``, delivered a few bytes per read (as a slow writer's pipe)."""

    def __init__(self, data: bytes, step: int = 3):
        import io

        class Trickle(io.RawIOBase):
            def __init__(self):
                self.data = data

            def readable(self):
                return True

            def readinto(self, buffer):
                n = min(len(buffer), step, len(self.data))
                buffer[:n], self.data = self.data[:n], self.data[n:]
                return n

        self.buffer, self.closed = io.BufferedReader(Trickle(), buffer_size=step), False

    def isatty(self) -> bool:
        return False


@pytest.mark.parametrize("pack", [lambda b: b, gzip.compress, bz2.compress, lzma.compress])
def test_stdin_is_recognised_by_its_first_bytes_however_they_trickle_in(pack, monkeypatch):
    text = "BZh9 starts as bzip2 does\nzwei\n"  # and is text
    monkeypatch.setattr("sys.stdin", _Stdin(pack(text.encode())))
    assert read_lines("-") == ["BZh9 starts as bzip2 does", "zwei"]


@pytest.mark.parametrize("suffix,unpack", [(".gz", gzip.decompress), (".bz2", bz2.decompress), (".xz", lzma.decompress)])
def test_compressed_text_outputs_and_their_failures(tmp_path, suffix, unpack):
    out = tmp_path / f"o.tsv{suffix}"
    with atomic_output(out) as fh:
        fh.write("eins\tone\n")
    assert unpack(out.read_bytes()) == b"eins\tone\n"
    with pytest.raises(RuntimeError), atomic_output(out, force=True) as fh:
        fh.write("zwei\n")
        raise RuntimeError
    assert unpack(out.read_bytes()) == b"eins\tone\n" and [p.name for p in tmp_path.iterdir()] == [out.name]


def test_nearest_existing_walks_up_to_what_exists(tmp_path):
    (tmp_path / "file").write_text("x")
    assert nearest_existing(tmp_path) == tmp_path
    assert nearest_existing(tmp_path / "a" / "b" / "c") == tmp_path
    assert nearest_existing(tmp_path / "file" / "sub") == tmp_path / "file"
    assert nearest_existing(Path("/no-such-folder-here/x")) == Path("/")


def test_outputs_that_are_sockets_are_refused_and_fifos_are_written_into(tmp_path):
    import os
    import socket

    from mineshaft.outputs import check_output_path

    sock = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(sock))
        with pytest.raises(UsageError, match="is a socket; write the output to a file"):
            check_output_path(sock, force=True)
    fifo = tmp_path / "p.fifo"
    os.mkfifo(fifo)
    check_output_path(fifo, force=False)  # no --force needed: nothing is replaced
