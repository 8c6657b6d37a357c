"""The shared training data shares no sentence with any evaluation set (../shared/tools/check-leakage)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TOOL = SHARED / "tools" / "check-leakage"
TRAIN = SHARED / "data" / "train"


@pytest.mark.slow
@pytest.mark.skipif(not (TOOL.is_file() and TRAIN.is_dir()), reason="../shared (tools and training data) not here")
def test_shared_training_data_does_not_leak_into_eval() -> None:
    run = subprocess.run([sys.executable, str(TOOL), str(TRAIN)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    checked = [line for line in run.stdout.splitlines() if line.endswith("share a sentence with eval/")]
    assert len(checked) == len(list(TRAIN.glob("*.tsv")))
