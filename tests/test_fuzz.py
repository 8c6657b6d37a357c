"""Fuzzing the real CLI: random bytes, random TSV shapes, random option values.

The only acceptable outcomes are success (exit 0) or a one-line error with
exit code 2; never a traceback, never another exit code.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT
from mineshaft.cli import main

SAMPLE = ROOT / "mineshaft" / "data"
FUZZ = settings(max_examples=int(os.environ.get("MINESHAFT_FUZZ_EXAMPLES", "25")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def run_main(args: list[str], stdin: bytes = b"") -> tuple[int, str, bytes]:
    err, out = io.StringIO(), io.BytesIO()
    old = sys.argv, sys.stdin
    sys.argv = ["mineshaft", *args]
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    code = 0
    stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(stdout):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv, sys.stdin = old
    return code, err.getvalue(), out.getvalue()


def check(code: int, err: str) -> None:
    assert "Traceback" not in err, err
    assert code in (0, 2), (code, err)
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("mineshaft: error: "), err


@pytest.mark.slow  # 25 mining runs through the real entry point
@FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes_as_mining_input(data):
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src.txt"
        src.write_bytes(data)
        code, err, _ = run_main(["mine", str(src), str(SAMPLE / "sample.en"), "-q", "-o", str(Path(tmp) / "o.tsv")])
        check(code, err)


@FUZZ
@given(rows=st.lists(st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\t\n\r"), max_size=30),
                              min_size=0, max_size=4), max_size=8),
       src_col=st.integers(-1, 5), tgt_col=st.integers(-1, 5))
def test_random_tsv_shapes_for_score(rows, src_col, tgt_col):
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "pairs.tsv"
        p.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
        code, err, _ = run_main(["score", str(p), "-q", "--src-col", str(src_col), "--tgt-col", str(tgt_col)])
        check(code, err)


option_values = st.fixed_dictionaries({
    "--k": st.one_of(st.integers(-3, 2000), st.sampled_from(["x", "1.5", ""])),
    "--threshold": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["abc", "1e309"])),
    "--mode": st.sampled_from(["max", "forward", "backward", "intersect", "best", ""]),
    "--margin": st.sampled_from(["ratio", "distance", "absolute", "cosine"]),
    "--memory": st.sampled_from(["2G", "512M", "0", "-1G", "lots", "1e3", "16M", "nanG", "inf", "infG", "1e308G"]),
    "--shard-size": st.integers(-2, 200),
    "--nprobe": st.integers(-1, 5),
    "--index": st.sampled_from(["flat", "torch", "auto", "IVF4,Flat", "garbage", "IVF100000,PQ8"]),
    "--batch-size": st.integers(-1, 70000),
    "--max-length-ratio": st.one_of(st.floats(-2, 5), st.sampled_from([float("nan"), float("inf")])),
})


@FUZZ
@given(opts=option_values)
def test_random_option_values_for_mine(opts):
    args = ["mine", str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en"), "-q"]
    for name, value in opts.items():
        args += [name, str(value)]
    code, err, _ = run_main(args)
    check(code, err)
