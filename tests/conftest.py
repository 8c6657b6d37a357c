"""Shared fixtures: paths to the shared evaluation data (tests skip cleanly without it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MINESHAFT_SHARED_DATA", ROOT.parent / "shared" / "data"))

if os.environ.get("PYTEST_XDIST_WORKER"):
    # tests in parallel processes (pytest -n N): one thread each, in this process and the CLIs it starts,
    # so N workers on N cores do not fight over them
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_var, "1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED / "eval").is_dir():
        pytest.skip(f"shared evaluation data not found at {SHARED} (set MINESHAFT_SHARED_DATA)")
    return SHARED


@pytest.fixture(scope="session")
def use_encoder():
    from mineshaft.encoders import load_encoder

    return load_encoder("use", device="cpu")


def unit(rng, n: int, d: int):
    """``n`` random unit vectors of dimension ``d`` (float32)."""
    import numpy as np

    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def run_cli(*args: str, input: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real `mineshaft` console script (falls back to `python -m mineshaft`)."""
    exe = Path(sys.executable).with_name("mineshaft")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "mineshaft"]
    return subprocess.run(cmd + list(args), input=input, capture_output=True, env={**os.environ, **(env or {})}, timeout=600)
