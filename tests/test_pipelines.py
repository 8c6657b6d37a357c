"""mineshaft in shell pipelines and around its outputs, through the real entry point (docs/cli-behaviour.md)."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import pty
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer

from conftest import ROOT, run_cli, unit
from mineshaft.cli import EXIT_CLOSED_PIPE, app
from mineshaft.encoders import encoder_names, models_dir
from mineshaft.io import read_lines
from mineshaft.languages import count_languages

SAMPLE = ROOT / "mineshaft" / "data"
DE, EN = str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en")
COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def command() -> list[str]:
    exe = Path(sys.executable).with_name("mineshaft")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "mineshaft"]


def one_line_error(r: subprocess.CompletedProcess, code: int = 2) -> str:
    """The single error line of a failed run (asserting there is exactly one, and the exit code)."""
    err = r.stderr.decode()
    lines = [line for line in err.splitlines() if line.strip()]
    assert r.returncode == code, (r.returncode, err)
    assert len(lines) == 1 and lines[0].startswith("mineshaft: error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def vectors(tmp_path_factory) -> tuple[str, str]:
    """Two small .npy embedding matrices (mining them needs no encoder)."""
    d = tmp_path_factory.mktemp("vectors")
    rng = np.random.default_rng(0)
    x = unit(rng, 60, 32)
    y = np.concatenate([x[:40] + 0.05 * unit(rng, 40, 32), unit(rng, 20, 32)])
    np.save(d / "x.npy", x)
    np.save(d / "y.npy", (y / np.linalg.norm(y, axis=1, keepdims=True)).astype(np.float32))
    return str(d / "x.npy"), str(d / "y.npy")


@pytest.fixture
def tmpdir_env(tmp_path) -> tuple[Path, dict]:
    """An empty TMPDIR for the command, to see what it leaves there."""
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    return tmp, {"TMPDIR": str(tmp)}


# ------------------------------------------------------------------------------------ score reads mine's output
def _scores(stdout: bytes, text_cols: slice) -> dict[tuple[str, str], str]:
    rows = [line.split("\t") for line in stdout.decode().splitlines()]
    return {tuple(r[text_cols]): r[-1] for r in rows}


@pytest.mark.slow
def test_score_reads_the_text_columns_of_mine_output_in_a_pipeline(tmp_path):
    """`mineshaft mine ... -q --out - | mineshaft score -` scores the sentences, as a plain src<TAB>tgt file of
    the same pairs scores them (not mine's score column against the German text)."""
    mine = subprocess.Popen(command() + ["mine", DE, EN, "-q", "--out", "-"], stdout=subprocess.PIPE)
    score = subprocess.run(command() + ["score", "-"], stdin=mine.stdout, capture_output=True, timeout=600)
    mine.stdout.close()
    assert mine.wait(timeout=600) == 0 and score.returncode == 0, score.stderr.decode()
    assert "scoring column 2 (src) against column 3 (tgt) (mineshaft mine's output" in score.stderr.decode()
    piped = _scores(score.stdout, slice(1, 3))
    assert len(piped) >= 60
    plain = tmp_path / "pairs.tsv"
    plain.write_text("".join(f"{s}\t{t}\n" for s, t in piped), encoding="utf-8")
    r = run_cli("score", str(plain), "-q")
    assert r.returncode == 0, r.stderr.decode()
    assert piped == _scores(r.stdout, slice(0, 2))

    ids = tmp_path / "ids.tsv"  # mine --ids: score, src id, tgt id, src, tgt
    assert run_cli("mine", DE, EN, "-q", "--ids", "--out", str(ids)).returncode == 0
    r = run_cli("score", "-", input=ids.read_bytes())
    assert r.returncode == 0, r.stderr.decode()
    assert "scoring column 4 (src) against column 5 (tgt)" in r.stderr.decode()
    assert _scores(r.stdout, slice(3, 5)) == piped


def test_score_refuses_mine_output_without_sentences(vectors):
    x, y = vectors
    mined = run_cli("mine", x, y, "-q", "--threshold", "none")
    assert mined.returncode == 0, mined.stderr.decode()
    line = one_line_error(run_cli("score", "-", input=mined.stdout))
    assert "no sentences to score" in line


# ------------------------------------------------------------------------------------------ closed stdout
def run_closed_stdout(args: list[str], input: bytes | None = None, env: dict | None = None) -> tuple[int, str]:
    """Run with stdout a pipe whose reader is already gone (as `... | head` once head has exited)."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.Popen(command() + args, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                stdout=write, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
    finally:
        os.close(write)
    _, err = proc.communicate(input, timeout=600)
    return proc.returncode, err.decode()


def assert_quiet_closed_pipe(code: int, err: str) -> None:
    assert code == EXIT_CLOSED_PIPE == 141, (code, err)
    assert "Traceback" not in err and "error" not in err.lower() and "Exception" not in err, err


@pytest.mark.parametrize("args", [["--help"], ["--version"], []] + [[c, "--help"] for c in COMMANDS],
                         ids=lambda a: " ".join(a) or "no-arguments")
def test_help_and_version_into_a_closed_pipe(args):
    assert_quiet_closed_pipe(*run_closed_stdout(args))


def test_mine_into_a_closed_pipe_ends_quietly_and_removes_its_work_dir(tmpdir_env):
    tmp, env = tmpdir_env
    assert_quiet_closed_pipe(*run_closed_stdout(["mine", DE, EN, "--out", "-"], env=env))
    assert list(tmp.iterdir()) == []  # its temporary work directory (embeddings, k-NN) is gone


@pytest.mark.slow
@pytest.mark.parametrize("unbuffered", ["", "1"])
def test_encode_to_a_reader_that_leaves_after_a_few_bytes_exits_141(unbuffered):
    """`encode -o - | head -c 10`: the reader goes away while a write is under way; unbuffered (PYTHONUNBUFFERED)
    that write returns short, which must end as a closed pipe, not as a silently cut output with status 0."""
    env = {**os.environ, "PYTHONUNBUFFERED": unbuffered}
    if not unbuffered:
        env.pop("PYTHONUNBUFFERED")
    proc = subprocess.Popen(command() + ["encode", DE, "-e", "use", "-o", "-", "-q"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert len(proc.stdout.read(10)) == 10  # the header has come: the rows are being written
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert_quiet_closed_pipe(proc.wait(timeout=600), err)


@pytest.mark.slow
def test_an_error_with_unbuffered_stdout_is_still_one_line(tmp_path):
    """Unbuffered, stdout goes through a buffered writer that borrows its descriptor: an error after it was opened
    must not close stdout under the error handler (a traceback and exit 1 instead of the line and 2)."""
    blank = tmp_path / "blank.txt"
    blank.write_text("\n \n\n")
    r = run_cli("encode", str(blank), "-e", "use", "-o", "-", "-q", env={"PYTHONUNBUFFERED": "1"})
    assert r.returncode == 2 and r.stdout == b"", r.stderr.decode()
    assert r.stderr.decode().splitlines() == [f"mineshaft: error: {blank}: no non-empty lines to encode (3 empty lines)"]


@pytest.mark.slow
def test_demo_score_encode_eval_interpolate_into_a_closed_pipe(tmp_path, tmpdir_env):
    tmp, env = tmpdir_env
    de, en = read_lines(SAMPLE / "sample.de"), read_lines(SAMPLE / "sample.en")
    gold = [line.split("\t") for line in read_lines(SAMPLE / "sample.gold")]
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"{de[int(i) - 1]}\t{en[int(j) - 1]}\n" for i, j in gold), encoding="utf-8")
    (tmp_path / "t.deu-eng.deu").write_text("".join(de[int(i) - 1] + "\n" for i, _ in gold), encoding="utf-8")
    (tmp_path / "t.deu-eng.eng").write_text("".join(en[int(j) - 1] + "\n" for _, j in gold), encoding="utf-8")
    for args in (["demo", "-q"], ["score", str(pairs), "-q"], ["encode", DE, "-o", "-", "-q"],
                 ["eval", "--tatoeba", str(tmp_path / "t.deu-eng"), "-q"],
                 ["interpolate", "mineshaft-use-soft", "-o", str(tmp_path / "interpolated"), "-q"]):
        assert_quiet_closed_pipe(*run_closed_stdout(args, env=env))
    assert list(tmp.iterdir()) == []


# -------------------------------------------------------------------------------------------------- stdin
def test_both_sides_on_stdin_is_its_own_error(tmp_path, tmpdir_env):
    tmp, env = tmpdir_env
    r = run_cli("mine", "-", "-", "-q", input=Path(DE).read_bytes(), env=env)
    assert "both standard input" in one_line_error(r)
    r = run_cli("mine", "-", "-", "-q", "-o", str(tmp_path / "out.tsv"), input=b"")
    assert "both standard input" in one_line_error(r)
    assert list(tmp.iterdir()) == [] and not (tmp_path / "out.tsv.work").exists()


@pytest.mark.parametrize("args", [["mine", "-", EN], ["mine", EN, "-"], ["score", "-"], ["encode", "-", "-o", "-"]],
                         ids=lambda a: " ".join(Path(x).name for x in a))
def test_stdin_that_is_a_terminal_is_refused(args, tmp_path):
    primary, secondary = pty.openpty()
    try:
        r = subprocess.run(command() + args, stdin=secondary, capture_output=True, timeout=120, cwd=tmp_path)
    finally:
        os.close(primary)
        os.close(secondary)
    assert "standard input (-) is a terminal" in one_line_error(r)


def test_closed_stdin_is_refused(tmp_path):
    cmd = " ".join(f"'{c}'" for c in command())
    r = subprocess.run(f"exec {cmd} encode - -o x.npy <&-", shell=True, capture_output=True, timeout=120, cwd=tmp_path)
    assert "standard input (-) is closed" in one_line_error(r)


@pytest.mark.slow
def test_gzip_data_on_stdin_is_decompressed(tmp_path):
    want = run_cli("mine", DE, EN, "-q")
    assert want.returncode == 0
    r = run_cli("mine", "-", EN, "-q", input=gzip.compress(Path(DE).read_bytes()))
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == want.stdout


@pytest.mark.slow
def test_bzip2_xz_and_zstd_data_on_stdin_is_decompressed():
    import zstandard

    want = run_cli("encode", DE, "-o", "-", "-q")
    assert want.returncode == 0 and len(want.stdout) > 90 * 512 * 4
    for compress in (bz2.compress, lzma.compress, zstandard.ZstdCompressor().compress):
        r = run_cli("encode", "-", "-o", "-", "-q", input=compress(Path(DE).read_bytes()))
        assert r.returncode == 0, r.stderr.decode()
        assert r.stdout == want.stdout, compress


def test_stdin_errors_name_stdin_not_a_temporary_file(tmp_path, tmpdir_env):
    tmp, env = tmpdir_env
    line = one_line_error(run_cli("mine", "-", EN, "-q", input=gzip.compress(Path(DE).read_bytes())[:200], env=env))
    assert line.startswith("mineshaft: error: <stdin>: cannot read") and "stdin.txt" not in line, line
    line = one_line_error(run_cli("mine", "-", EN, "-q", input=b"gut\nschlecht \xc3\x28\n", env=env))
    assert line.startswith("mineshaft: error: <stdin>:2: invalid UTF-8"), line
    line = one_line_error(run_cli("mine", EN, "-", "-q", "-o", str(tmp_path / "o.tsv"), input=b"\n\n"))
    assert line == "mineshaft: error: <stdin>: no non-empty lines to mine", line
    assert list(tmp.iterdir()) == [] and list(tmp_path.iterdir()) == [tmp]


# ------------------------------------------------------------------------------------- compressed outputs
@pytest.mark.parametrize("suffix,unpack", [(".gz", gzip.decompress), (".bz2", bz2.decompress),
                                           (".xz", lzma.decompress), (".zst", None)])
def test_outputs_named_compressed_are_compressed(suffix, unpack, vectors, tmp_path):
    if unpack is None:
        import zstandard

        unpack = lambda data: zstandard.ZstdDecompressor().stream_reader(data).read()  # noqa: E731
    x, y = vectors
    plain, packed = tmp_path / "out.tsv", tmp_path / f"out.tsv{suffix}"
    for out in (plain, packed):
        r = run_cli("mine", x, y, "-q", "--threshold", "none", "-o", str(out))
        assert r.returncode == 0, r.stderr.decode()
    assert plain.read_bytes().count(b"\n") >= 40
    assert packed.read_bytes() != plain.read_bytes() and unpack(packed.read_bytes()) == plain.read_bytes()
    assert read_lines(packed) == read_lines(plain)  # and read back by name, as an input


@pytest.mark.slow
def test_score_writes_gzip_and_encode_refuses_a_compressed_npy(tmp_path):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("Der Hund schläft.\tThe dog sleeps.\nEs regnet.\tIt is raining.\n", encoding="utf-8")
    r = run_cli("score", str(pairs), "-q", "--metric", "cosine", "-o", str(tmp_path / "scored.tsv.gz"))
    assert r.returncode == 0, r.stderr.decode()
    rows = gzip.decompress((tmp_path / "scored.tsv.gz").read_bytes()).decode().splitlines()
    assert [row.split("\t")[:2] for row in rows] == [["Der Hund schläft.", "The dog sleeps."],
                                                     ["Es regnet.", "It is raining."]]
    line = one_line_error(run_cli("encode", DE, "-q", "-o", str(tmp_path / "x.npy.gz")))
    assert "x.npy.gz: a .npy output is not compressed" in line
    assert not (tmp_path / "x.npy.gz").exists()


def test_zst_output_without_zstandard_is_one_line_before_any_work(vectors, tmp_path):
    blocker = tmp_path / "no-zstd" / "zstandard"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('zstandard is not installed')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(blocker.parent), os.environ.get("PYTHONPATH", "")])}
    x, y = vectors
    line = one_line_error(run_cli("mine", x, y, "-q", "-o", str(tmp_path / "out.tsv.zst"), env=env))
    assert "out.tsv.zst: writing .zst needs the 'zstandard' package" in line
    assert not list(tmp_path.glob("out.tsv*"))


# ------------------------------------------------------------------------------ refusals: options and outputs
def test_options_that_cannot_apply_to_embeddings_are_refused(vectors, tmp_path):
    x, y = vectors
    for option in (["--id-column"], ["--dedup"], ["--normalize-punct", "de"]):
        line = one_line_error(run_cli("mine", x, y, "-q", *option, "-o", str(tmp_path / "o.tsv")))
        assert f"{option[0]} applies to text inputs" in line, line
    line = one_line_error(run_cli("mine", x, y, "-q", "--min-chars", "3", "-o", str(tmp_path / "o.tsv")))
    assert "pair filters read sentences" in line
    line = one_line_error(run_cli("encode", DE, "-q", "--engine", "ray", "-o", str(tmp_path / "x.npy")))
    assert "--engine ray applies to store output" in line
    assert list(tmp_path.iterdir()) == []


def test_an_output_that_is_an_input_is_refused_even_with_force(tmp_path):
    de = tmp_path / "de.txt"
    de.write_bytes(Path(DE).read_bytes())
    (tmp_path / "link.txt").symlink_to(de)
    os.link(de, tmp_path / "hard.txt")
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("Hund\tdog\n", encoding="utf-8")
    cases = [(["mine", str(de), EN, "-o", str(de)], de), (["mine", EN, str(de), "-o", str(tmp_path / "link.txt")], de),
             (["mine", str(tmp_path / "hard.txt"), EN, "-o", str(de)], tmp_path / "hard.txt"),
             (["score", str(pairs), "-o", str(pairs)], pairs), (["encode", str(de), "-o", str(de)], de)]
    for args, source in cases:
        line = one_line_error(run_cli(*args, "--force", "-q"))
        assert f"is the input {source}" in line, line
    with open(de, "rb") as stdin:  # `mineshaft mine - en.txt -o de.txt < de.txt`
        r = subprocess.run(command() + ["mine", "-", EN, "-o", str(de), "--force", "-q"], stdin=stdin,
                           capture_output=True, timeout=600)
    assert "de.txt: is the input <stdin>" in one_line_error(r)
    assert de.read_bytes() == Path(DE).read_bytes() and pairs.read_text() == "Hund\tdog\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["de.txt", "hard.txt", "link.txt", "pairs.tsv"]


def test_a_report_or_output_over_an_input_its_record_or_its_store_is_refused_even_with_force(tmp_path):
    de = tmp_path / "de.txt"
    de.write_bytes(Path(DE).read_bytes())
    x, record, store = tmp_path / "x.npy", tmp_path / "x.npy.mineshaft.json", tmp_path / "store"
    x.write_bytes(b"not read"), record.write_text("{}"), store.mkdir(), (store / "index.json").write_text("{}")
    cases = [(["mine", str(de), EN, "--report", str(de), "-o", str(tmp_path / "p.tsv")], f"{de}: is the input {de}"),
             (["mine", str(x), str(x), "-o", str(record)], f"is the input {record}"),
             (["mine", str(store), str(x), "-o", str(store / "index.json")], f"is inside the input {store}")]
    for args, message in cases:
        line = one_line_error(run_cli(*args, "--force", "-q"))
        assert message in line, line
    assert de.read_bytes() == Path(DE).read_bytes() and record.read_text() == "{}"
    assert (store / "index.json").read_text() == "{}" and not (tmp_path / "p.tsv").exists()


def test_input_errors_leave_no_work_directory(tmp_path, tmpdir_env):
    tmp, env = tmpdir_env
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "bad.txt").write_bytes(b"gut\nschlecht \xc3\x28\n")
    out, work = str(tmp_path / "out.tsv"), tmp_path / "given-work"
    for args, stdin in ((["mine", str(tmp_path / "empty.txt"), EN, "-o", out], None),
                        (["mine", DE, str(tmp_path / "bad.txt"), "-o", out], None),  # the second side's error
                        (["mine", "-", str(tmp_path / "empty.txt"), "-o", out], Path(DE).read_bytes()),  # spooled stdin
                        (["mine", DE, str(tmp_path / "bad.txt"), "-o", out, "--work-dir", str(work)], None),
                        (["mine", DE, str(tmp_path / "bad.txt")], None)):  # stdout: a temporary work directory
        one_line_error(run_cli(*args, "-q", input=stdin, env=env))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt", "empty.txt", "tmpdir"]
    assert list(tmp.iterdir()) == []


def test_a_work_folder_that_was_there_keeps_what_mine_did_not_write(vectors, tmp_path):
    """`-o x.tsv` works in x.tsv.work: where that folder (or a link to one) held a user's files before, a finished
    run removes only its own stores, not the folder and its files."""
    x, y = vectors
    notes = tmp_path / "x.tsv.work" / "notes.txt"
    notes.parent.mkdir()
    notes.write_text("precious")
    for name in ("emb-notes.txt", "sentence-ids", "old.stdin.txt"):  # names like a run's own, but not its own
        (notes.parent / name).write_text("mine")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "y.tsv.work").symlink_to(elsewhere)
    err = {}
    for out in ("x.tsv", "y.tsv"):
        r = run_cli("mine", x, y, "--threshold", "none", "-o", str(tmp_path / out))
        assert r.returncode == 0, r.stderr.decode()
        err[out] = r.stderr.decode()
    assert "x.tsv.work kept: it holds files this run did not write" in err["x.tsv"], err["x.tsv"]
    assert sorted(p.name for p in notes.parent.iterdir()) == ["emb-notes.txt", "notes.txt", "old.stdin.txt",
                                                              "sentence-ids"] and notes.read_text() == "precious"
    assert list(elsewhere.iterdir()) == [] and (tmp_path / "y.tsv.work").is_symlink()


def test_an_output_that_is_a_named_pipe_is_written_into_not_replaced(vectors, tmp_path):
    """`-o FIFO` (or a device such as /dev/null): the pairs go into it, the node stays (a rename of a finished
    temporary file used to replace it, --force or not), and the work folder is a temporary one, not FIFO.work."""
    import stat
    import threading

    x, y = vectors
    fifo = tmp_path / "pairs.fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)  # never holds up pytest
    reader.start()
    r = run_cli("mine", x, y, "-q", "--threshold", "none", "-o", str(fifo))
    reader.join(timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    assert got and got[0].count(b"\n") >= 40
    assert stat.S_ISFIFO(fifo.stat().st_mode) and sorted(p.name for p in tmp_path.iterdir()) == ["pairs.fifo"]


# ------------------------------------------------------------------------------------------------- umask
@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def modes(*paths: Path) -> set[int]:
    return {stat.S_IMODE(p.stat().st_mode) for p in paths}


@pytest.mark.slow
def test_outputs_honour_the_umask(vectors, tmp_path, umask_027):
    x, y = vectors
    for out in ("pairs.tsv", "pairs.tsv.gz"):
        assert run_cli("mine", x, y, "-q", "-o", str(tmp_path / out)).returncode == 0
    r = run_cli("encode", DE, "-q", "-o", str(tmp_path / "de.npy"))
    assert r.returncode == 0, r.stderr.decode()
    r = run_cli("encode", DE, "-q", "--shard-size", "50", "-o", str(tmp_path / "store") + "/")
    assert r.returncode == 0, r.stderr.decode()
    r = run_cli("interpolate", "mineshaft-use-soft", "-q", "-o", str(tmp_path / "interpolated"))
    assert r.returncode == 0, r.stderr.decode()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"pairs.tsv", "pairs.tsv.gz", "de.npy", "de.npy.mineshaft.json",
                                       "shard-000001.npy", "shard-000001.done", "manifest.json", "model.safetensors"}
    assert modes(*files) == {0o640}, sorted((p.name, oct(stat.S_IMODE(p.stat().st_mode))) for p in files)
    assert modes(tmp_path / "store", tmp_path / "interpolated") == {0o750}


@pytest.mark.slow
def test_a_trained_student_honours_the_umask(tmp_path, umask_027):
    pairs = tmp_path / "en-de.tsv"
    pairs.write_text("Hello world.\tHallo Welt.\nThe dog sleeps.\tDer Hund schläft.\nI like books.\tIch mag Bücher.\n"
                     "It is raining.\tEs regnet.\n", encoding="utf-8")
    out = tmp_path / "student"
    r = run_cli("train", "--pairs", str(pairs), "--student", "use", "--batch-size", "4", "--steps", "2",
                "--dev-size", "0", "--eval-every", "0", "--checkpoint-every", "0", "--device", "cpu",
                "--threads", "1", "-q", "--out", str(out))
    assert r.returncode == 0, r.stderr.decode()
    assert modes(out / "model.safetensors", out / "config.json", out / "sp.model") == {0o640}
    assert modes(out) == {0o750}


# ------------------------------------------------------------------------------- encoder names and languages
def test_every_shipped_encoder_is_named_in_help_and_errors():
    shipped = sorted(d.name for d in models_dir().iterdir() if (d / "config.json").is_file())
    assert "mineshaft-use-50" in shipped and set(shipped) <= set(encoder_names())
    for cmd in ("mine", "encode", "score", "eval"):
        r = run_cli(cmd, "--help", env={"COLUMNS": "300"})
        assert all(name in r.stdout.decode() for name in encoder_names()), (cmd, r.stdout.decode())
    line = one_line_error(run_cli("mine", DE, EN, "-e", "./no/such/model"))
    assert line.endswith(f"(encoders: {', '.join(encoder_names())})"), line


def test_the_language_hint_counts_languages_not_codes(tmp_path):
    """mineshaft-use-50's languages.json lists 52 codes: English, the 50 languages of its en-XX training
    files, and USE's zh-tw (Traditional Chinese, not another language)."""
    codes = json.loads((models_dir() / "mineshaft-use-50" / "languages.json").read_text())["languages"]
    assert len(codes) == 52 and {"en", "zh", "zh-tw"} <= set(codes)
    assert count_languages(codes) == "English and 50 other languages"  # the script warning's hint
    greek = tmp_path / "el.txt"
    greek.write_text("Το σκυλί κοιμάται στον κήπο.\nΣήμερα ο καιρός είναι πολύ ωραίος.\n", encoding="utf-8")
    r = run_cli("encode", str(greek), "-e", "use", "-q", "-o", str(tmp_path / "el.npy"))
    assert r.returncode == 0, r.stderr.decode()
    err = " ".join(r.stderr.decode().split())
    # USE's recorded Greek figure says more than the script: one warning, naming the model that does better
    assert err.count("warning:") == 1 and "looks like Greek (el); use finds" in err, err
    assert err.endswith("(-e mineshaft-use-50)"), err


@pytest.mark.parametrize("name,content,message", [("nope.txt", None, "no such file"), (".", None, "is a directory"),
                                                  ("empty.txt", b"", "empty input"),
                                                  ("bad.txt", b"fine\n\xff\xfe\n", "invalid UTF-8"),
                                                  ("in.npy", b"\x93NUMPY", "is embeddings already")])
def test_encode_refuses_a_bad_input_before_it_loads_the_model(name, content, message, tmp_path, monkeypatch):
    from mineshaft.encode import encode_to_path
    from mineshaft.encoders import EncoderSpec
    from mineshaft.errors import InputError, UsageError

    if content is not None:
        (tmp_path / name).write_bytes(content)
    monkeypatch.setattr(EncoderSpec, "load", lambda self: pytest.fail("the model was loaded first"))
    for out, shards in ((tmp_path / "x.npy", False), (tmp_path / "store", True)):
        with pytest.raises((InputError, UsageError), match=message):
            encode_to_path(str(tmp_path / name), str(out), EncoderSpec("use"), shards=shards)
        assert not out.exists()


def test_a_file_that_is_no_embedding_matrix_is_one_line_and_a_missing_record_one_warning(tmp_path):
    fake = tmp_path / "fake.npy"
    fake.write_bytes(b"hello")
    r = run_cli("mine", str(fake), str(fake), "-q")
    err = r.stderr.decode()
    assert r.returncode == 2 and err.count("\n") == 1 and "not a .npy file (no NumPy header)" in err, err
    x = tmp_path / "x.npy"
    np.save(x, unit(np.random.default_rng(0), 30, 8))
    r = run_cli("mine", str(x), str(x), "--threshold", "none", "-q")
    assert r.returncode == 0 and r.stderr.decode().count("carries no encoder record") == 1, r.stderr.decode()


def test_encode_refuses_an_input_of_empty_lines_only(tmp_path):
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n\n", encoding="utf-8")
    r = run_cli("encode", str(blank), "-o", str(tmp_path / "b.npy"), "-e", "use", "-q")
    assert r.returncode == 2 and "no non-empty lines to encode (3 empty lines)" in r.stderr.decode(), r.stderr
    assert list(tmp_path.iterdir()) == [blank]


def test_a_store_of_other_shards_is_replaced_only_with_force(tmp_path):
    """encode -o DIR/ with another encoder, --dtype or --shard-size than DIR's finished shards deleted them all
    (hours of work, for a mistyped -e) with a warning; now refused before anything is encoded, unless --force."""
    store = str(tmp_path / "store") + "/"
    lines = tmp_path / "de.txt"
    lines.write_text("Der Hund schläft.\nEs regnet.\nIch mag Bücher.\n", encoding="utf-8")
    r = run_cli("encode", str(lines), "-q", "-e", "use", "--shard-size", "2", "-o", store)
    assert r.returncode == 0, r.stderr.decode()
    before = sorted((p.name, p.stat().st_mtime_ns) for p in (tmp_path / "store").iterdir())
    for extra, says in ((["-e", "minilm"], "made by use (model "), (["-e", "use", "--dtype", "float16"],
                                                                   "stored as float32, not float16 (--dtype)"),
                        (["-e", "use", "--shard-size", "3"], "of 2 rows each, not 3 (--shard-size)")):
        r = run_cli("encode", str(lines), "-q", "--shard-size", "2", "-o", store, *extra)
        err = r.stderr.decode()
        assert r.returncode == 2 and says in err and "holds 2 finished shards" in err and "--force" in err, err
    assert sorted((p.name, p.stat().st_mtime_ns) for p in (tmp_path / "store").iterdir()) == before
    lines.write_text("Der Hund schläft.\nEs regnet.\nIch mag Zeitungen.\n", encoding="utf-8")  # changed input
    r = run_cli("encode", str(lines), "-e", "use", "--shard-size", "2", "-o", store)
    assert r.returncode == 0 and "resumed, 1 of 2 shards were already done" in r.stderr.decode(), r.stderr.decode()


def test_index_auto_says_what_it_chose_and_ivf0_is_refused(vectors, tmp_path):
    x, y = vectors
    r = run_cli("mine", x, y, "--index", "auto", "-o", str(tmp_path / "p.tsv"))
    assert r.returncode == 0 and "--index auto: half for src2tgt, half for tgt2src" in r.stderr.decode()
    r = run_cli("mine", x, y, "--index", "ivf0", "-o", str(tmp_path / "q.tsv"))
    assert r.returncode == 2 and "ivfN needs at least one list" in r.stderr.decode()


@pytest.mark.slow
def test_one_language_on_both_sides_is_warned_about(tmp_path):
    """The same file, or two files of one language (a wrong glob): every sentence paired with itself at an
    estimated precision of 100%, and nothing said."""
    r = run_cli("mine", DE, DE, "-o", str(tmp_path / "p.tsv"))
    err = r.stderr.decode()
    assert r.returncode == 0 and "warning: src and tgt are both German (de): mine pairs translations between two " \
        "languages" in err, err
    r = run_cli("mine", DE, EN, "-o", str(tmp_path / "q.tsv"))
    assert r.returncode == 0 and "are both" not in r.stderr.decode()
