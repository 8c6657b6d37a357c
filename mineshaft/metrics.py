"""Retrieval metrics on embeddings: numpy only, so training and evaluation share them without the mining stack."""

from __future__ import annotations

import numpy as np


def retrieval_accuracy(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Top-1 accuracy of line-aligned unit vectors: x→y (each x finds its y) and y→x."""
    sims = x @ y.T
    gold = np.arange(len(x))
    return float((sims.argmax(1) == gold).mean()), float((sims.argmax(0) == gold).mean())


__all__ = ["retrieval_accuracy"]
