"""Reading inputs: encodings, compression, line ends, standard input."""

from __future__ import annotations

import bz2
import gzip
import lzma

import pytest

from mineshaft.errors import InputError
from mineshaft.io import iter_lines, iter_tsv, read_lines, split_ids


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


def test_nul_bytes_are_no_text(tmp_path):
    """A NUL byte is valid UTF-8 but no text (binary data, or UTF-16 without a byte-order mark): it was copied
    into the output, and a line of NULs was a sentence that could be paired."""
    p = tmp_path / "nul.txt"
    p.write_bytes(b"ok\nab\x00c\n")
    with pytest.raises(InputError, match=r"nul.txt:2: a NUL byte at character 3 of the line: binary data, or UTF-16"):
        read_lines(p)
    assert read_lines(p, errors="replace") == ["ok", "ab\ufffdc"]
    (tmp_path / "utf16.txt").write_bytes("Hallo Welt\n".encode("utf-16-le"))
    with pytest.raises(InputError, match=r"utf16.txt:1: a NUL byte at character 2"):
        read_lines(tmp_path / "utf16.txt")


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




def test_parse_size_refuses_what_is_no_size():
    from mineshaft.errors import UsageError
    from mineshaft.io import parse_size

    assert parse_size("1.5G", "--memory") == 3 << 29 and parse_size("512MiB") == 512 << 20
    for text in ("inf", "infG", "1e400", "1e308G", "nan", "0", "-1G", "lots"):
        with pytest.raises(UsageError, match="--memory"):
            parse_size(text, "--memory")
