"""Training losses for a multilingual student, one class each, one interface.

Every loss is called as ``loss(student_a, student_b, teacher_a, teacher_b=None)`` on a batch
of ``B`` translation pairs ``(a_i, b_i)``: ``student_*`` are the student's L2-normalized
embeddings ``(B, d)`` of each side, ``teacher_a`` (and optionally ``teacher_b``) the frozen
teacher's normalized embeddings. Side ``a`` is the *priority* side, the one the teacher reads
(English for an English teacher); the trainer arranges that.

* :class:`SoftContrastiveLoss`: soft contrastive learning (Park et al. 2024, arXiv 2405.16155).
* :class:`HardContrastiveLoss`: InfoNCE with in-batch negatives and the identity as label.
* :class:`MSEDistillationLoss`: Reimers & Gurevych (2020) multilingual knowledge distillation.
* :class:`MatrixMSELoss`: the reference code's similarity-matrix MSE ("MMSE"), ``mean(((S − W)/τ)²)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import LABEL_STRATEGIES, LOSS_NAMES


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``-(1/B) Σ_ij targets_ij · log_softmax(logits)_ij``: cross-entropy between row distributions."""
    return -(targets * F.log_softmax(logits, dim=-1)).sum(-1).mean()


class PairLoss(nn.Module):
    """Base class: ``forward(student_a, student_b, teacher_a, teacher_b=None) -> scalar``."""

    #: whether the loss reads teacher embeddings (the trainer skips the teacher otherwise)
    needs_teacher: bool = True
    #: whether ``teacher_b`` (the teacher on the non-priority side) is needed
    needs_teacher_b: bool = False
    #: whether student and teacher dimensions must agree
    needs_same_dim: bool = False


class _ContrastiveLoss(PairLoss):
    """Shared cross-/mono-lingual structure of the soft and hard losses.

    ``L = λ·L_cross + L_mono`` where ``L_cross`` is the cross-entropy between label rows ``W``
    and ``softmax(S_a·S_bᵀ / τ)``, plus the same for ``S_b·S_aᵀ`` (``symmetric``), and
    ``L_mono`` (only with ``tcm``) the same loss on the student's mono-lingual matrices
    ``S_a·S_aᵀ`` and ``S_b·S_bᵀ``.
    """

    def __init__(self, temperature: float = 0.1, tcm: bool = False, cross_weight: float = 1.0, symmetric: bool = True):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)
        self.tcm = bool(tcm)
        self.cross_weight = float(cross_weight)
        self.symmetric = bool(symmetric)

    def labels(self, teacher_a: torch.Tensor | None, teacher_b: torch.Tensor | None, batch: int,
               device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Label rows for the a→b direction and for the b→a direction."""
        raise NotImplementedError

    def term(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """One direction: the student's matrix ``x·yᵀ`` scored against label rows ``w``."""
        return soft_cross_entropy(x @ y.T / self.temperature, w)

    def _both_ways(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, w_t: torch.Tensor) -> torch.Tensor:
        loss = self.term(x, y, w)
        if self.symmetric:
            loss = loss + self.term(y, x, w_t)
        return loss

    def forward(self, student_a: torch.Tensor, student_b: torch.Tensor, teacher_a: torch.Tensor | None = None,
                teacher_b: torch.Tensor | None = None) -> torch.Tensor:
        w, w_t = self.labels(teacher_a, teacher_b, student_a.shape[0], student_a.device)
        w, w_t = w.to(student_a.dtype), w_t.to(student_a.dtype)
        loss = self.cross_weight * self._both_ways(student_a, student_b, w, w_t)
        if self.tcm:
            loss = loss + self._both_ways(student_a, student_a, w, w_t) + self._both_ways(student_b, student_b, w, w_t)
        return loss


class SoftContrastiveLoss(_ContrastiveLoss):
    """Soft contrastive learning: the student's similarities follow the teacher's.

    Labels ``W = row-softmax(G / τ_label)`` from the teacher's mono-lingual similarity matrix ``G``:

    * ``priority`` (the paper's default, and the only choice with an English-only teacher):
      ``G = T(a)·T(a)ᵀ``, the teacher reads only the priority side of each pair.
    * ``average``: ``G = (T(a)·T(a)ᵀ + T(b)·T(b)ᵀ) / 2``; needs a teacher that reads both sides.

    The b→a direction scores ``S_b·S_aᵀ / τ`` against ``row-softmax(Gᵀ / τ_label)``: equal to ``W``
    here, as ``G`` is symmetric (``W`` itself is not: its rows are normalized, its columns are not).
    The authors' code passes ``Wᵀ``, whose rows are not distributions; mineshaft deliberately does
    not (``tests/test_losses.py`` checks both directions against loops, an asymmetric ``G`` too).
    ``label_temperature`` defaults to the student's ``temperature`` (0.1, the paper's).
    """

    def __init__(self, temperature: float = 0.1, label_temperature: float | None = None, labels: str = "priority",
                 tcm: bool = False, cross_weight: float = 1.0, symmetric: bool = True):
        super().__init__(temperature, tcm, cross_weight, symmetric)
        if labels not in LABEL_STRATEGIES:
            raise ValueError(f"labels must be one of {', '.join(LABEL_STRATEGIES)}, got {labels!r}")
        self.label_strategy = labels
        self.label_temperature = float(label_temperature) if label_temperature is not None else self.temperature
        if not self.label_temperature > 0:
            raise ValueError(f"label temperature must be > 0, got {label_temperature}")
        self.needs_teacher_b = labels == "average"

    def teacher_similarity(self, teacher_a: torch.Tensor, teacher_b: torch.Tensor | None = None) -> torch.Tensor:
        g = teacher_a @ teacher_a.T
        if self.label_strategy == "average":
            if teacher_b is None:
                raise ValueError("label strategy 'average' needs the teacher's embeddings of both sides")
            g = (g + teacher_b @ teacher_b.T) / 2
        return g

    @torch.no_grad()
    def labels(self, teacher_a, teacher_b, batch, device):
        if teacher_a is None:
            raise ValueError("the soft loss needs teacher embeddings")
        dtype = torch.promote_types(teacher_a.dtype, torch.float32)  # fp16 caches in fp32, float64 stays
        g = self.teacher_similarity(teacher_a.to(dtype), None if teacher_b is None else teacher_b.to(dtype))
        return F.softmax(g / self.label_temperature, dim=-1), F.softmax(g.T / self.label_temperature, dim=-1)


class HardContrastiveLoss(_ContrastiveLoss):
    """InfoNCE with in-batch negatives: the label of ``a_i`` is ``b_i`` (identity), no teacher."""

    needs_teacher = False

    def labels(self, teacher_a, teacher_b, batch, device):
        eye = torch.eye(batch, device=device)
        return eye, eye


class MSEDistillationLoss(PairLoss):
    """Reimers & Gurevych (2020): ``mean((S(a) − T(a))²) + mean((S(b) − T(a))²)``.

    Both sides of the pair are pulled onto the teacher's vector of the priority side.
    Student and teacher must have the same dimension (the trainer adds a linear head otherwise).
    """

    needs_same_dim = True

    def forward(self, student_a, student_b, teacher_a=None, teacher_b=None):
        if teacher_a is None:
            raise ValueError("the mse loss needs teacher embeddings")
        if student_a.shape[-1] != teacher_a.shape[-1]:
            raise ValueError(f"student dim {student_a.shape[-1]} != teacher dim {teacher_a.shape[-1]}")
        t = teacher_a.to(student_a.dtype)
        return F.mse_loss(student_a, t) + F.mse_loss(student_b, t)


class MatrixMSELoss(SoftContrastiveLoss):
    """Similarity-matrix MSE, the "MMSE" baseline of Park et al.'s reference code (arXiv 2405.16155).

    The student's cross-lingual similarity matrix ``L = S_a·S_bᵀ`` (cosines of unit vectors) is
    regressed onto the soft-label matrix ``W = row-softmax(G / τ)`` of :class:`SoftContrastiveLoss`
    (same teacher matrix ``G``: ``priority`` or ``average``)::

        L_cross = mean(((S_a·S_bᵀ − W) / τ)²) + mean(((S_b·S_aᵀ − W_rev) / τ)²)

    the mean over all ``B²`` entries, ``W_rev = row-softmax(Gᵀ / τ)`` (= ``W`` for a symmetric ``G``),
    as for the soft loss; the authors' ``Wᵀ`` would make the second term a copy of the first.
    ``symmetric=False`` keeps only the first. With ``tcm`` the same terms on ``S_a·S_aᵀ`` and
    ``S_b·S_bᵀ`` are added with weight 1 and the cross term is weighted by ``λ`` (``cross_weight``),
    exactly as for the soft loss: ``L = λ·L_cross + L_mono``.
    """

    def term(self, x, y, w):
        return (((x @ y.T - w) / self.temperature) ** 2).mean()


LOSSES = dict(zip(LOSS_NAMES, (SoftContrastiveLoss, HardContrastiveLoss, MSEDistillationLoss, MatrixMSELoss)))


def build_loss(name: str, temperature: float = 0.1, labels: str = "priority", tcm: bool = False,
               cross_weight: float = 1.0, symmetric: bool = True) -> PairLoss:
    """A loss by name (``soft``, ``hard``, ``mse``, ``mmse``) with the trainer's options."""
    if name == "soft":
        return SoftContrastiveLoss(temperature, labels=labels, tcm=tcm, cross_weight=cross_weight, symmetric=symmetric)
    if name == "hard":
        return HardContrastiveLoss(temperature, tcm=tcm, cross_weight=cross_weight, symmetric=symmetric)
    if name == "mse":
        return MSEDistillationLoss()
    if name == "mmse":
        return MatrixMSELoss(temperature, labels=labels, tcm=tcm, cross_weight=cross_weight, symmetric=symmetric)
    raise ValueError(f"unknown loss {name!r} (use one of {', '.join(LOSSES)})")
