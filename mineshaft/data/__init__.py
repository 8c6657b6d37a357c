"""Small samples shipped with mineshaft (see data/README.md for their source and licence)."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent


def sample_paths() -> tuple[Path, Path]:
    """The German and English sides of the shipped mining sample."""
    return DATA_DIR / "sample.de", DATA_DIR / "sample.en"
