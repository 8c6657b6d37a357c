"""The training losses against straightforward per-element references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mineshaft.losses import (
    HardContrastiveLoss,
    MSEDistillationLoss,
    SoftContrastiveLoss,
    build_loss,
    soft_cross_entropy,
)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def ref_softmax_row(row: list[float]) -> list[float]:
    m = max(row)
    e = [math.exp(v - m) for v in row]
    return [v / sum(e) for v in e]


def ref_ce(logits: np.ndarray, labels: np.ndarray) -> float:
    """-(1/B) Σ_i Σ_j labels_ij · log softmax(logits_i)_j, one element at a time."""
    total = 0.0
    for i in range(len(logits)):
        p = ref_softmax_row(list(logits[i]))
        total -= sum(labels[i][j] * math.log(p[j]) for j in range(len(p)))
    return total / len(logits)


def ref_soft_loss(sa, sb, ta, tb, tau, label_tau, strategy, tcm, lam) -> float:
    g = ta @ ta.T if strategy == "priority" else (ta @ ta.T + tb @ tb.T) / 2
    w = np.array([ref_softmax_row(list(r / label_tau)) for r in g])
    wt = np.array([ref_softmax_row(list(r / label_tau)) for r in g.T])
    def both(x, y):
        return ref_ce(x @ y.T / tau, w) + ref_ce(y @ x.T / tau, wt)
    loss = lam * both(sa, sb)
    if tcm:
        loss += both(sa, sa) + both(sb, sb)
    return loss


def tensors(*arrays):
    return [torch.tensor(a, dtype=torch.float64) for a in arrays]


def test_hand_computed_two_pairs():
    # teacher sees the two English sentences as orthogonal: labels are softmax([10, 0]) per row
    sa, sb = np.eye(2), np.eye(2)
    ta = np.eye(2)
    loss = SoftContrastiveLoss(temperature=0.1)(*tensors(sa, sb, ta))
    p = 1 / (1 + math.exp(-10))  # student logits identical to the teacher's: CE = entropy of the labels
    entropy = -(p * math.log(p) + (1 - p) * math.log(1 - p))
    assert loss.item() == pytest.approx(2 * entropy, rel=1e-9)  # both directions


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6), st.integers(2, 5), st.sampled_from(["priority", "average"]), st.booleans(),
       st.floats(0.05, 1.0), st.floats(0.1, 2.0), st.integers(0, 2**31 - 1))
def test_soft_loss_matches_reference(b, d, strategy, tcm, tau, lam, seed):
    rng = np.random.default_rng(seed)
    sa, sb, ta, tb = (unit(rng.normal(size=(b, d))) for _ in range(4))
    loss = SoftContrastiveLoss(temperature=tau, labels=strategy, tcm=tcm, cross_weight=lam)(*tensors(sa, sb, ta, tb))
    assert loss.item() == pytest.approx(ref_soft_loss(sa, sb, ta, tb, tau, tau, strategy, tcm, lam), rel=1e-7, abs=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 6), st.integers(2, 5), st.floats(0.05, 1.0), st.integers(0, 2**31 - 1))
def test_hard_loss_is_infonce_both_ways(b, d, tau, seed):
    rng = np.random.default_rng(seed)
    sa, sb = tensors(unit(rng.normal(size=(b, d))), unit(rng.normal(size=(b, d))))
    target = torch.arange(b)
    expected = F.cross_entropy(sa @ sb.T / tau, target) + F.cross_entropy(sb @ sa.T / tau, target)
    assert HardContrastiveLoss(temperature=tau)(sa, sb).item() == pytest.approx(expected.item(), rel=1e-9)


def test_soft_becomes_hard_when_the_teacher_sees_no_similarity():
    rng = np.random.default_rng(0)
    sa, sb = tensors(unit(rng.normal(size=(5, 8))), unit(rng.normal(size=(5, 8))))
    ta = torch.eye(5, dtype=torch.float64)  # orthogonal teacher vectors; a tiny label temperature → one-hot labels
    soft = SoftContrastiveLoss(temperature=0.1, label_temperature=1e-3)(sa, sb, ta)
    hard = HardContrastiveLoss(temperature=0.1)(sa, sb)
    assert soft.item() == pytest.approx(hard.item(), rel=1e-9)


def test_soft_labels_follow_the_teacher():
    # pairs 0 and 1 are paraphrases for the teacher: the soft loss wants them close, the hard loss apart
    ta = tensors(unit(np.array([[1.0, 0.05, 0], [1.0, -0.05, 0], [0, 0, 1.0]])))[0]
    close = tensors(unit(np.array([[1.0, 0.05, 0], [1.0, -0.05, 0], [0, 0, 1.0]])))[0]
    apart = tensors(unit(np.array([[1.0, 1.0, 0], [1.0, -1.0, 0], [0, 0, 1.0]])))[0]
    soft, hard = SoftContrastiveLoss(temperature=0.1), HardContrastiveLoss(temperature=0.1)
    assert soft(close, close, ta) < soft(apart, apart, ta)
    assert hard(close, close) > hard(apart, apart)


def test_soft_cross_entropy_is_at_least_the_label_entropy():
    labels = F.softmax(torch.randn(4, 4, dtype=torch.float64), -1)
    entropy = -(labels * labels.log()).sum(-1).mean()
    assert soft_cross_entropy(labels.log(), labels).item() == pytest.approx(entropy.item(), rel=1e-12)
    assert soft_cross_entropy(torch.randn(4, 4, dtype=torch.float64), labels) > entropy


def test_mse_distillation():
    rng = np.random.default_rng(1)
    sa, sb, ta = tensors(*(unit(rng.normal(size=(3, 4))) for _ in range(3)))
    expected = ((sa - ta) ** 2).mean() + ((sb - ta) ** 2).mean()
    assert MSEDistillationLoss()(sa, sb, ta).item() == pytest.approx(expected.item(), rel=1e-12)
    with pytest.raises(ValueError, match="dim"):
        MSEDistillationLoss()(sa, sb, ta[:, :2])


def test_gradients_flow_and_options_are_checked():
    sa = torch.randn(4, 6, requires_grad=True)
    sb = torch.randn(4, 6, requires_grad=True)
    loss = build_loss("soft", tcm=True)(F.normalize(sa, dim=-1), F.normalize(sb, dim=-1), F.normalize(torch.randn(4, 6), dim=-1))
    loss.backward()
    assert sa.grad is not None and torch.isfinite(sa.grad).all() and sb.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        build_loss("bogus")
    with pytest.raises(ValueError):
        SoftContrastiveLoss(labels="left")
    with pytest.raises(ValueError):
        SoftContrastiveLoss(temperature=0)
    with pytest.raises(ValueError, match="both sides"):
        SoftContrastiveLoss(labels="average")(sa, sb, torch.randn(4, 6))
