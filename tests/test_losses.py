"""The training losses against straightforward per-element references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mineshaft.training.losses import (
    HardContrastiveLoss,
    MatrixMSELoss,
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


# ----------------------------------------------------------------------------- the reverse (b→a) direction
# The teacher's mono-lingual G is symmetric, so row-softmax(Gᵀ/τ) = row-softmax(G/τ) = W and a test with such G
# cannot tell W from row-softmax(Gᵀ/τ). The tests below give an asymmetric G (directly, through a subclass) and
# the average of two different teachers, and compare each direction with loops written from paper-method.md.
# mineshaft's documented choice for b→a: logits S_b·S_aᵀ/τ against row-softmax(Gᵀ/τ_label); the authors' code
# passes Wᵀ (columns of W, whose rows need not sum to 1) — the tests check that mineshaft is NOT that.


def loop_softmax_rows(m: np.ndarray) -> np.ndarray:
    return np.array([ref_softmax_row([float(v) for v in row]) for row in m])


def loop_ce(x: np.ndarray, y: np.ndarray, labels: np.ndarray, tau: float) -> float:
    """-(1/B) Σ_i Σ_j labels_ij · log( exp(x_i·y_j/τ) / Σ_k exp(x_i·y_k/τ) ), dot products by hand."""
    b = len(x)
    total = 0.0
    for i in range(b):
        logits = [sum(float(x[i][t]) * float(y[j][t]) for t in range(x.shape[1])) / tau for j in range(len(y))]
        p = ref_softmax_row(logits)
        total -= sum(float(labels[i][j]) * math.log(p[j]) for j in range(len(y)))
    return total / b


def loop_loss(sa, sb, w, w_rev, tau, tcm=False, lam=1.0, symmetric=True, term=None) -> float:
    """λ·[L(S_a·S_bᵀ, W) + L(S_b·S_aᵀ, W_rev)] (+ the same on S_a·S_aᵀ and S_b·S_bᵀ with TCM); L is ``term``
    (default: the cross-entropy ``loop_ce``)."""
    term = term or loop_ce

    def both(x, y):
        return term(x, y, w, tau) + (term(y, x, w_rev, tau) if symmetric else 0.0)
    loss = lam * both(sa, sb)
    if tcm:
        loss += both(sa, sa) + both(sb, sb)
    return loss


class GivenG:
    """Mixin: a loss with a given teacher matrix G (any, asymmetric too) in place of the teacher's."""

    def __init__(self, g: np.ndarray, **kw):
        super().__init__(**kw)
        self.g = torch.tensor(g, dtype=torch.float64)

    def teacher_similarity(self, teacher_a, teacher_b=None):
        return self.g


class RawG(GivenG, SoftContrastiveLoss):
    """The soft loss with a given teacher matrix G."""


def asymmetric_case(seed: int, b: int = 5, d: int = 4):
    rng = np.random.default_rng(seed)
    sa, sb = unit(rng.normal(size=(b, d))), unit(rng.normal(size=(b, d)))
    g = rng.uniform(-1, 1, size=(b, b))
    np.fill_diagonal(g, 1.0)
    assert np.abs(g - g.T).max() > 0.3  # really asymmetric
    return sa, sb, g


def test_labels_of_an_asymmetric_teacher_matrix():
    _, _, g = asymmetric_case(0)
    loss = RawG(g, temperature=0.1, label_temperature=0.2)
    w, w_rev = loss.labels(torch.zeros(5, 4, dtype=torch.float64), None, 5, torch.device("cpu"))
    np.testing.assert_allclose(w.numpy(), loop_softmax_rows(g / 0.2), rtol=1e-12)
    np.testing.assert_allclose(w_rev.numpy(), loop_softmax_rows(g.T / 0.2), rtol=1e-12)
    np.testing.assert_allclose(w_rev.sum(-1).numpy(), 1.0, rtol=1e-12)  # rows are distributions, unlike Wᵀ
    assert np.abs(w_rev.numpy() - w.numpy().T).max() > 0.05 and np.abs(w_rev.numpy() - w.numpy()).max() > 0.05


@pytest.mark.parametrize("tcm", [False, True])
def test_reverse_direction_with_an_asymmetric_teacher_matrix(tcm):
    sa, sb, g = asymmetric_case(1)
    tau, label_tau, lam = 0.1, 0.1, 0.7
    w, w_rev = loop_softmax_rows(g / label_tau), loop_softmax_rows(g.T / label_tau)
    args = tensors(sa, sb, np.zeros_like(sa))
    forward_only = RawG(g, temperature=tau, tcm=tcm, cross_weight=lam, symmetric=False)(*args).item()
    full = RawG(g, temperature=tau, tcm=tcm, cross_weight=lam)(*args).item()
    assert forward_only == pytest.approx(loop_loss(sa, sb, w, w_rev, tau, tcm, lam, symmetric=False), rel=1e-10)
    assert full == pytest.approx(loop_loss(sa, sb, w, w_rev, tau, tcm, lam), rel=1e-10)
    # the reverse term alone: b→a logits S_b·S_aᵀ against row-softmax(Gᵀ/τ)
    reverse = full - forward_only
    expected = lam * loop_ce(sb, sa, w_rev, tau) + (loop_ce(sa, sa, w_rev, tau) + loop_ce(sb, sb, w_rev, tau) if tcm else 0)
    assert reverse == pytest.approx(expected, rel=1e-9)
    # every swap of direction or transpose gives a clearly different value (so the checks above can fail)
    wrong = {
        "W for b→a": lam * loop_ce(sb, sa, w, tau),
        "Wᵀ for b→a (the authors' code)": lam * loop_ce(sb, sa, w.T, tau),
        "a→b logits for b→a": lam * loop_ce(sa, sb, w_rev, tau),
        "column softmax": lam * loop_ce(sb, sa, loop_softmax_rows(g / label_tau).T, tau),
    }
    if not tcm:
        for name, value in wrong.items():
            assert abs(value - reverse) > 1e-3, name
    assert abs(loop_ce(sa, sb, w_rev, tau) - loop_ce(sa, sb, w, tau)) > 1e-3  # the a→b term is not its twin either


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 6), st.integers(2, 5), st.floats(0.05, 1.0), st.floats(0.05, 1.0), st.booleans(),
       st.floats(0.1, 2.0), st.booleans(), st.integers(0, 2**31 - 1))
def test_any_teacher_matrix_matches_the_loop_reference(b, d, tau, label_tau, tcm, lam, symmetric, seed):
    rng = np.random.default_rng(seed)
    sa, sb = unit(rng.normal(size=(b, d))), unit(rng.normal(size=(b, d)))
    g = rng.uniform(-1, 1, size=(b, b))
    loss = RawG(g, temperature=tau, label_temperature=label_tau, tcm=tcm, cross_weight=lam, symmetric=symmetric)
    got = loss(*tensors(sa, sb, np.zeros_like(sa))).item()
    ref = loop_loss(sa, sb, loop_softmax_rows(g / label_tau), loop_softmax_rows(g.T / label_tau), tau, tcm, lam, symmetric)
    assert got == pytest.approx(ref, rel=1e-9, abs=1e-12)


def test_average_of_two_teachers_in_both_directions():
    # the teacher's vectors of the two sides differ (an English and a German reading of the same pairs)
    rng = np.random.default_rng(2)
    b, d, tau = 6, 5, 0.1
    sa, sb = unit(rng.normal(size=(b, d))), unit(rng.normal(size=(b, d)))
    # near-paraphrases for the teacher, so that the soft labels are far from one-hot
    ta = unit(rng.normal(size=(1, d)) + rng.uniform(0.1, 0.6, size=(b, 1)) * rng.normal(size=(b, d)))
    tb = unit(ta + 0.3 * rng.normal(size=(b, d)))
    g = np.array([[(sum(ta[i] * ta[j]) + sum(tb[i] * tb[j])) / 2 for j in range(b)] for i in range(b)])
    w = loop_softmax_rows(g / tau)
    assert np.abs(w - w.T).max() > 0.01  # row-normalized labels are not symmetric even though G is
    loss = SoftContrastiveLoss(temperature=tau, labels="average")
    got = loss(*tensors(sa, sb, ta, tb))
    assert got.item() == pytest.approx(loop_loss(sa, sb, w, w, tau), rel=1e-10)
    assert abs(got.item() - loop_loss(sa, sb, w, w.T, tau)) > 1e-3  # not the authors' Wᵀ
    w_a, w_b = loop_softmax_rows(ta @ ta.T / tau), loop_softmax_rows(tb @ tb.T / tau)
    assert abs(got.item() - loop_loss(sa, sb, w_a, w_a, tau)) > 1e-3  # the b side's teacher vectors are used
    assert abs(got.item() - loop_loss(sa, sb, w_b, w_b, tau)) > 1e-3
    assert got.item() == pytest.approx(loss(*tensors(sa, sb, tb, ta)).item(), rel=1e-12)  # an average: order-free
    # priority reads only the a side: a different b-side teacher changes nothing
    prio = SoftContrastiveLoss(temperature=tau)
    assert prio(*tensors(sa, sb, ta, tb)).item() == pytest.approx(loop_loss(sa, sb, w_a, w_a, tau), rel=1e-10)
    assert prio(*tensors(sa, sb, ta, tb)).item() == prio(*tensors(sa, sb, ta)).item()


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 6), st.integers(2, 5), st.floats(0.05, 1.0), st.booleans(), st.floats(0.1, 2.0),
       st.booleans(), st.integers(0, 2**31 - 1))
def test_hard_loss_with_tcm_and_weight_matches_the_loop_reference(b, d, tau, tcm, lam, symmetric, seed):
    rng = np.random.default_rng(seed)
    sa, sb = unit(rng.normal(size=(b, d))), unit(rng.normal(size=(b, d)))
    eye = np.eye(b)
    got = HardContrastiveLoss(temperature=tau, tcm=tcm, cross_weight=lam, symmetric=symmetric)(*tensors(sa, sb)).item()
    assert got == pytest.approx(loop_loss(sa, sb, eye, eye, tau, tcm, lam, symmetric), rel=1e-9, abs=1e-12)


def test_tcm_weighting_is_lambda_on_the_cross_term_only():
    rng = np.random.default_rng(3)
    sa, sb, ta = tensors(*(unit(rng.normal(size=(4, 6))) for _ in range(3)))
    def soft(**kw):
        return SoftContrastiveLoss(temperature=0.1, **kw)(sa, sb, ta).item()
    cross, mono = soft(), soft(tcm=True) - soft()
    assert mono > 0
    for lam in (0.0, 0.25, 3.0):
        assert soft(tcm=True, cross_weight=lam) == pytest.approx(lam * cross + mono, rel=1e-10)
        assert soft(cross_weight=lam) == pytest.approx(lam * cross, rel=1e-10, abs=1e-12)


def test_mse_against_a_loop_reference():
    rng = np.random.default_rng(4)
    sa, sb, ta, tb = (unit(rng.normal(size=(3, 5))) for _ in range(4))
    ref = sum((sa[i][k] - ta[i][k]) ** 2 for i in range(3) for k in range(5)) / 15
    ref += sum((sb[i][k] - ta[i][k]) ** 2 for i in range(3) for k in range(5)) / 15
    got = MSEDistillationLoss()(*tensors(sa, sb, ta, tb)).item()  # teacher_b is never read: both onto T(a)
    assert got == pytest.approx(ref, rel=1e-12)


# ----------------------------------------------------------------------------- similarity-matrix MSE ("MMSE")
def loop_mmse(x: np.ndarray, y: np.ndarray, labels: np.ndarray, tau: float) -> float:
    """(1/B²) Σ_i Σ_j ((x_i·y_j − labels_ij) / τ)², dot products by hand."""
    b = len(x)
    total = 0.0
    for i in range(b):
        for j in range(b):
            dot = sum(float(x[i][t]) * float(y[j][t]) for t in range(x.shape[1]))
            total += ((dot - float(labels[i][j])) / tau) ** 2
    return total / (b * b)


def loop_mmse_loss(sa, sb, w, w_rev, tau, tcm=False, lam=1.0, symmetric=True) -> float:
    return loop_loss(sa, sb, w, w_rev, tau, tcm, lam, symmetric, term=loop_mmse)


class RawGMatrixMSE(GivenG, MatrixMSELoss):
    """The matrix-MSE loss with a given (possibly asymmetric) teacher matrix G."""


def test_mmse_hand_computed():
    # student matrix = identity, teacher orthogonal: W = softmax([10, 0]) rows; per entry (1−p)² or p'² with p' = 1−p
    sa = sb = ta = np.eye(2)
    p = 1 / (1 + math.exp(-10))
    per_direction = (2 * (1 - p) ** 2 + 2 * (1 - p) ** 2) / 4 / 0.1 ** 2
    got = MatrixMSELoss(temperature=0.1)(*tensors(sa, sb, ta)).item()
    assert got == pytest.approx(2 * per_direction, rel=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 6), st.integers(2, 5), st.sampled_from(["priority", "average"]), st.booleans(),
       st.floats(0.05, 1.0), st.floats(0.1, 2.0), st.booleans(), st.integers(0, 2**31 - 1))
def test_mmse_matches_the_loop_reference(b, d, strategy, tcm, tau, lam, symmetric, seed):
    rng = np.random.default_rng(seed)
    sa, sb, ta, tb = (unit(rng.normal(size=(b, d))) for _ in range(4))
    g = ta @ ta.T if strategy == "priority" else (ta @ ta.T + tb @ tb.T) / 2
    w = loop_softmax_rows(g / tau)
    loss = MatrixMSELoss(temperature=tau, labels=strategy, tcm=tcm, cross_weight=lam, symmetric=symmetric)
    got = loss(*tensors(sa, sb, ta, tb)).item()
    assert got == pytest.approx(loop_mmse_loss(sa, sb, w, w, tau, tcm, lam, symmetric), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("tcm", [False, True])
def test_mmse_with_an_asymmetric_teacher_matrix(tcm):
    sa, sb, g = asymmetric_case(5)
    tau, lam = 0.1, 0.6
    w, w_rev = loop_softmax_rows(g / tau), loop_softmax_rows(g.T / tau)
    args = tensors(sa, sb, np.zeros_like(sa))
    full = RawGMatrixMSE(g, temperature=tau, tcm=tcm, cross_weight=lam)(*args).item()
    forward_only = RawGMatrixMSE(g, temperature=tau, tcm=tcm, cross_weight=lam, symmetric=False)(*args).item()
    assert full == pytest.approx(loop_mmse_loss(sa, sb, w, w_rev, tau, tcm, lam), rel=1e-10)
    assert forward_only == pytest.approx(loop_mmse_loss(sa, sb, w, w_rev, tau, tcm, lam, symmetric=False), rel=1e-10)
    reverse = full - forward_only
    expected = lam * loop_mmse(sb, sa, w_rev, tau) + (loop_mmse(sa, sa, w_rev, tau) + loop_mmse(sb, sb, w_rev, tau) if tcm else 0)
    assert reverse == pytest.approx(expected, rel=1e-9)
    if not tcm:  # the reverse term is not W, nor the authors' Wᵀ (which copies the a→b term)
        assert abs(reverse - lam * loop_mmse(sb, sa, w, tau)) > 1e-3
        assert abs(reverse - lam * loop_mmse(sb, sa, w.T, tau)) > 1e-3
        assert lam * loop_mmse(sb, sa, w.T, tau) == pytest.approx(forward_only, rel=1e-9)


def test_mmse_is_registered_and_trains():
    from mineshaft.training.losses import LOSSES
    from mineshaft.training.config import LOSS_NAMES

    assert "mmse" in LOSS_NAMES and LOSSES["mmse"] is MatrixMSELoss
    loss_fn = build_loss("mmse", temperature=0.2, labels="average", tcm=True, cross_weight=0.5)
    assert isinstance(loss_fn, MatrixMSELoss) and loss_fn.tcm and loss_fn.cross_weight == 0.5
    assert loss_fn.needs_teacher and loss_fn.needs_teacher_b and not loss_fn.needs_same_dim
    assert loss_fn.temperature == 0.2 and loss_fn.label_temperature == 0.2
    sa = torch.randn(4, 6, requires_grad=True)
    sb = torch.randn(4, 6, requires_grad=True)
    ta, tb = F.normalize(torch.randn(4, 6), dim=-1), F.normalize(torch.randn(4, 6), dim=-1)
    build_loss("mmse")(F.normalize(sa, dim=-1), F.normalize(sb, dim=-1), ta, tb).backward()
    assert torch.isfinite(sa.grad).all() and sb.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        MatrixMSELoss(temperature=0)
