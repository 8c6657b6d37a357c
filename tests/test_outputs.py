"""Writing outputs: atomically, compressed by name, and what an output may be."""

from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path

import pytest

from mineshaft.errors import UsageError
from mineshaft.outputs import atomic_dir, atomic_output, nearest_existing


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
