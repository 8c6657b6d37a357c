"""Interrupted jobs: a kill leaves no partial output, and the re-run resumes to byte-identical output."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT
from mineshaft.io import read_lines

SAMPLE = ROOT / "mineshaft" / "data"


def cli(*args):
    exe = Path(sys.executable).with_name("mineshaft")
    return [str(exe)] + list(args)


def bigger_inputs(tmp_path: Path, shared: Path | None, n: int = 1500) -> tuple[Path, Path]:
    """Real sentences: a BUCC-style slice when the shared data is there, else the sample repeated with numbering."""
    out = []
    for lang in ("de", "en"):
        p = tmp_path / f"in.{lang}"
        if shared is not None:
            lines = [line.split("\t", 1)[1] for line in read_lines(shared / "eval" / "bucc-style" / f"de-en.{lang}")[:n]]
        else:
            base = read_lines(SAMPLE / f"sample.{lang}")
            lines = [f"{base[i % len(base)]} ({i})" for i in range(n)]
        p.write_text("\n".join(lines) + "\n")
        out.append(p)
    return out[0], out[1]


def kill_when(proc: subprocess.Popen, ready, sig=signal.SIGTERM, timeout=300) -> None:
    t0 = time.time()
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"finished before it could be interrupted: {proc.stderr.read().decode()}")
        if time.time() - t0 > timeout:
            proc.kill()
            raise AssertionError("timed out waiting to interrupt")
        time.sleep(0.05)
    if proc.poll() is not None:  # it ran to the end while this process waited for a CPU (a busy machine)
        raise AssertionError(f"finished before it could be interrupted (exit {proc.returncode}); a bigger input "
                             "would give the interrupt more time")
    proc.send_signal(sig)
    proc.wait(timeout=120)


@pytest.fixture
def shared_or_none():
    from conftest import SHARED

    return SHARED if (SHARED / "eval").is_dir() else None


@pytest.mark.slow
def test_killed_mine_resumes_to_identical_output(tmp_path, shared_or_none):
    src, tgt = bigger_inputs(tmp_path, shared_or_none)
    ref = tmp_path / "ref.tsv"
    common = ["--shard-size", "100", "--ids", "-q"]  # -q last: the resumed run drops it
    r = subprocess.run(cli("mine", str(src), str(tgt), "-o", str(ref), "--threads", "2", *common), capture_output=True)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out.tsv"
    work = Path(str(out) + ".work")
    proc = subprocess.Popen(cli("mine", str(src), str(tgt), "-o", str(out), "--threads", "2", *common),
                            stderr=subprocess.PIPE)
    # interrupt once a few source shards are encoded
    kill_when(proc, lambda: len(list((work / "emb-src").glob("shard-*.done"))) >= 3 if (work / "emb-src").exists() else False)
    assert proc.returncode == 130, proc.stderr.read().decode()
    assert not out.exists(), "no partial output"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.tsv")], "no temporary left behind"
    done_before = len(list((work / "emb-src").glob("shard-*.done")))
    assert done_before >= 3
    # another thread count for the rest (encoding and search): the same bytes all the same
    r = subprocess.run(cli("mine", str(src), str(tgt), "-o", str(out), "--threads", "1", *common[:-1]), capture_output=True)
    assert r.returncode == 0, r.stderr
    assert f"resumed, {done_before} of 15 shards were already done" in r.stderr.decode()
    assert out.read_bytes() == ref.read_bytes()
    assert not work.exists(), "work directory removed after success"


@pytest.mark.slow
def test_killed_encode_store_resumes(tmp_path, shared_or_none):
    """The resumed run has another thread count: its shards must still match bit for bit (MKL's strict CNR
    mode, set by ``import mineshaft``; with MKL_CBWR=AUTO this test fails)."""
    src, _ = bigger_inputs(tmp_path, shared_or_none)
    ref, store = tmp_path / "ref", tmp_path / "store"
    common = ["--shard-size", "100", "--threads"]
    assert subprocess.run(cli("encode", str(src), "-o", f"{ref}/", *common, "2", "-q")).returncode == 0
    # Ctrl-C reaches it even where this test runs as a background job, whose children inherit an ignored SIGINT
    proc = subprocess.Popen(cli("encode", str(src), "-o", f"{store}/", *common, "2"), stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    kill_when(proc, lambda: len(list(store.glob("shard-*.done"))) >= 2, sig=signal.SIGINT)
    assert proc.returncode == 130
    assert f"interrupted: finished shards are kept in {store}/; run the same command again" in proc.stderr.read().decode()
    r = subprocess.run(cli("encode", str(src), "-o", f"{store}/", *common, "1"), capture_output=True)
    assert r.returncode == 0 and "resumed" in r.stderr.decode()
    names = sorted(p.name for p in ref.iterdir())
    assert names == sorted(p.name for p in store.iterdir())
    for name in names:
        if name.endswith(".npy"):
            assert (ref / name).read_bytes() == (store / name).read_bytes(), name


def test_encode_npy_interrupted_leaves_nothing(tmp_path, shared_or_none):
    src, _ = bigger_inputs(tmp_path, shared_or_none, n=3000)
    out = tmp_path / "x.npy"
    proc = subprocess.Popen(cli("encode", str(src), "-o", str(out), "--shard-size", "50"), stderr=subprocess.PIPE)
    kill_when(proc, lambda: any(p.name.startswith(".x.npy") for p in tmp_path.iterdir()))
    assert proc.returncode == 130
    assert proc.stderr.read().decode().splitlines()[-1] == "mineshaft: interrupted"  # typer says nothing itself
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.de", "in.en"]


@pytest.mark.slow
def test_resumed_mine_with_another_k_searches_again(tmp_path, use_encoder):
    """A work directory left by a run with --k 4, reused with --k 8: the saved k-NN shards are of the other k,
    so they are searched again and the output is byte-identical to a fresh --k 8 run."""
    import numpy as np

    for lang in ("de", "en"):
        np.save(tmp_path / f"{lang}.npy", use_encoder.encode(read_lines(SAMPLE / f"sample.{lang}")))
    work = tmp_path / "work"
    common = ["--shard-size", "30", "--threshold", "none", "--ids", "--threads", "1", "-q"]
    outs = {}
    for name, k, work_dir in (("k4", "4", work), ("k8", "8", work), ("fresh", "8", tmp_path / "fresh.work")):
        outs[name] = tmp_path / f"{name}.tsv"
        r = subprocess.run(cli("mine", str(tmp_path / "de.npy"), str(tmp_path / "en.npy"), "-o", str(outs[name]),
                               "--k", k, "--work-dir", str(work_dir), *common), capture_output=True)
        assert r.returncode == 0, r.stderr.decode()
    assert any(work.iterdir())  # the first run left its shards there to be reused
    assert outs["k8"].read_bytes() == outs["fresh"].read_bytes()
    assert outs["k4"].read_bytes() != outs["fresh"].read_bytes()  # k changes the margins
    again = subprocess.run(cli("mine", str(tmp_path / "de.npy"), str(tmp_path / "en.npy"), "-o", str(outs["k8"]),
                               "--force", "--k", "8", "--work-dir", str(work), *common[:-1]), capture_output=True)
    err = again.stderr.decode()  # the same k again: every saved block is reused, and it says so
    assert again.returncode == 0 and "k-NN src2tgt: resumed, 3 of 3 blocks were already done" in err, err
    assert outs["k8"].read_bytes() == outs["fresh"].read_bytes()


def test_an_interrupt_while_the_command_line_loads_is_one_line(monkeypatch, capsys):
    """Ctrl-C before the commands are imported (the first second of a run) ends as later: a line and 130."""
    import sys
    import types

    import mineshaft.__main__ as launcher

    class Loading(types.ModuleType):
        def __getattr__(self, name):
            raise KeyboardInterrupt

    monkeypatch.setitem(sys.modules, "mineshaft.cli.entry", Loading("mineshaft.cli.entry"))
    with pytest.raises(SystemExit) as stop:
        launcher.main()
    assert stop.value.code == 130 and capsys.readouterr().err == "mineshaft: interrupted\n"
