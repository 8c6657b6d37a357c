"""Transformer sentence encoders loaded with Hugging Face ``transformers``.

A sentence-transformers directory (``modules.json``) is run module by module as
sentence-transformers would: Transformer, Pooling (cls, mean, max, mean_sqrt_len_tokens,
weightedmean, lasttoken; several concatenated; ``include_prompt``), Dense (with its activation),
Normalize, and the prompts of ``config_sentence_transformers.json``. Any other module type is
refused with a one-line error rather than skipped. A plain transformers directory gets mean
pooling over non-padding tokens. Outputs are L2-normalized by the base class.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..outputs import honour_umask
from ..progress import info
from .base import Encoder
from .precision import pick_device, resolve_precision

POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
#: legacy ``1_Pooling/config.json`` flags, in the order sentence-transformers concatenates them
_LEGACY_POOLING = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
_ST_TYPES = ("Transformer", "Pooling", "Dense", "Normalize")


@dataclass
class STLayout:
    """What a sentence-transformers directory declares, in module order."""

    transformer: Path
    steps: list[tuple[str, Path]] = field(default_factory=list)  # ("Pooling" | "Dense" | "Normalize", dir)
    pooling: tuple[str, ...] = ("mean",)
    include_prompt: bool = True
    max_length: int | None = None
    do_lower_case: bool = False
    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str | None = None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None


def read_sentence_transformers(model_dir: Path) -> STLayout | None:
    """The modules of a sentence-transformers directory (None when it has no ``modules.json``).

    Raises :class:`InputError` for a module type mineshaft cannot run.
    """
    model_dir = Path(model_dir)
    if not (model_dir / "modules.json").is_file():
        if (model_dir / "1_Pooling" / "config.json").is_file():  # Pooling files without modules.json
            return STLayout(model_dir, [("Pooling", model_dir / "1_Pooling")], pooling=read_pooling_modes(model_dir / "1_Pooling"))
        return None
    modules = _read_json(model_dir / "modules.json")
    layout = STLayout(model_dir)
    for i, module in enumerate(modules):
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        path = model_dir / module.get("path", "")
        if kind not in _ST_TYPES or (kind == "Transformer") != (i == 0):
            raise InputError(f"{model_dir}: sentence-transformers module {module.get('type')!r} (#{i}) is not supported "
                             f"(mineshaft runs {', '.join(_ST_TYPES)}, with the Transformer first)")
        if kind == "Transformer":
            layout.transformer = path
            for cfg_name in ("sentence_bert_config.json", "sentence_xlnet_config.json"):
                if (path / cfg_name).is_file():
                    cfg = _read_json(path / cfg_name)
                    layout.max_length = cfg.get("max_seq_length")
                    layout.do_lower_case = bool(cfg.get("do_lower_case", False))
                    break
            continue
        if not layout.steps and kind != "Pooling":
            raise InputError(f"{model_dir}: sentence-transformers module {kind} before Pooling is not supported")
        if kind == "Dense" and _read_json(path / "config.json").get("module_input_name", "sentence_embedding") != "sentence_embedding":
            raise InputError(f"{model_dir}: a Dense module on token embeddings is not supported")
        layout.steps.append((kind, path))
        if kind == "Pooling":
            layout.pooling = read_pooling_modes(path)
            layout.include_prompt = bool(_read_json(path / "config.json").get("include_prompt", True))
    st_cfg = model_dir / "config_sentence_transformers.json"
    if st_cfg.is_file():
        cfg = _read_json(st_cfg)
        layout.prompts = {k: v for k, v in (cfg.get("prompts") or {}).items() if isinstance(v, str)}
        layout.default_prompt_name = cfg.get("default_prompt_name")
    return layout


def read_pooling_modes(pool_dir: Path) -> tuple[str, ...]:
    """Pooling modes of a Pooling module directory (new ``pooling_mode`` or legacy flags)."""
    cfg = _read_json(pool_dir / "config.json")
    if "pooling_mode" in cfg:
        modes = cfg["pooling_mode"]
        modes = (modes,) if isinstance(modes, str) else tuple(modes)
    else:
        # sentence-transformers' defaults: mean pooling unless the file says otherwise
        modes = tuple(mode for key, mode in _LEGACY_POOLING.items() if cfg.get(key, key == "pooling_mode_mean_tokens"))
    bad = [m for m in modes if m not in POOLING_MODES]
    if bad or not modes:
        raise InputError(f"{pool_dir}: unknown pooling mode {bad[0] if bad else None!r} (mineshaft runs {', '.join(POOLING_MODES)})")
    return modes


def read_pooling(model_dir: Path) -> tuple[str, int | None]:
    """Pooling mode (several joined by '+') and max sequence length of a sentence-transformers directory."""
    layout = read_sentence_transformers(Path(model_dir))
    if layout is None:
        return "mean", None
    return "+".join(layout.pooling), layout.max_length


def load_dense(path: Path, device: torch.device) -> torch.nn.Sequential:
    """A sentence-transformers Dense module: ``activation(linear(x))``."""
    cfg = _read_json(path / "config.json")
    linear = torch.nn.Linear(int(cfg["in_features"]), int(cfg["out_features"]), bias=bool(cfg.get("bias", True)))
    if (path / "model.safetensors").is_file():
        from safetensors.torch import load_file

        state = load_file(str(path / "model.safetensors"))
    elif (path / "pytorch_model.bin").is_file():
        state = torch.load(path / "pytorch_model.bin", map_location="cpu", weights_only=True)
    else:
        raise InputError(f"{path}: Dense module without weights (model.safetensors or pytorch_model.bin)")
    try:
        linear.load_state_dict({k.removeprefix("linear."): v.float() for k, v in state.items()}, strict=True)
    except RuntimeError as exc:
        raise InputError(f"{path}: Dense weights do not fit its config ({str(exc).splitlines()[0]})") from None
    act_name = str(cfg.get("activation_function", "torch.nn.modules.activation.Tanh"))
    act_cls = getattr(torch.nn, act_name.rsplit(".", 1)[-1], None) if act_name.startswith("torch.") else None
    if not (isinstance(act_cls, type) and issubclass(act_cls, torch.nn.Module)):
        raise InputError(f"{path}: Dense activation {act_name!r} is not supported (mineshaft runs torch.nn activations)")
    return torch.nn.Sequential(linear, act_cls()).eval().to(device)


class HFEncoder(Encoder):
    """Any Hugging Face encoder model (a local directory) as a sentence encoder.

    ``prompt``: the name of a prompt the model declares, or literal text put before every input;
    None (default) takes the model's ``default_prompt_name``, else its ``query`` prompt (the one
    E5-style models want for symmetric tasks such as mining and STS), else none. ``""`` is no prompt.
    Both sides of a mining run get the same prompt.
    """

    def __init__(
        self,
        model: str | os.PathLike,
        device: str | None = "auto",
        max_length: int | None = None,
        pooling: str | None = None,
        prefix: str = "",
        precision: str = "auto",
        name: str | None = None,
        prompt: str | None = None,
    ):
        from transformers import AutoModel, AutoTokenizer

        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        self.path = str(model)
        self.name = name or (Path(self.path).name if Path(self.path).exists() else self.path)
        self.device = pick_device(device)
        local = Path(self.path)
        self.layout = read_sentence_transformers(local) if local.is_dir() else None
        if self.layout is not None and not any(kind == "Pooling" for kind, _ in self.layout.steps):
            raise InputError(f"{self.path}: its modules.json has no Pooling module (mineshaft needs one sentence vector per text)")
        src = str(self.layout.transformer) if self.layout is not None else self.path
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(src)
            self.model = AutoModel.from_pretrained(src)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"cannot load model {self.path!r}: {first}") from None
        self.model.eval().to(self.device)
        self.precision = resolve_precision(precision, self.device, cpu_bf16=True)
        if self.precision == "fp16":
            self.model.half()
        layout = self.layout
        self.pooling = pooling or "+".join(layout.pooling if layout else ("mean",))
        modes = tuple(self.pooling.split("+"))
        if any(m not in POOLING_MODES for m in modes):
            raise InputError(f"unknown pooling {self.pooling!r} (use one of {', '.join(POOLING_MODES)})")
        self.modes = modes
        self.dense = {i: load_dense(path, self.device) for i, (kind, path) in enumerate(layout.steps if layout else [])
                      if kind == "Dense"}
        tok_max = getattr(self.tokenizer, "model_max_length", None)
        tok_max = tok_max if isinstance(tok_max, int) and tok_max < 100_000 else None
        model_max = getattr(self.model.config, "max_position_embeddings", 512) or 512
        st_max = layout.max_length if layout else None
        self.max_length = int(max_length or st_max or tok_max or min(model_max, 512))
        hidden = int(self.model.config.hidden_size)
        self.dim = self._out_dim(hidden)
        self.lower = bool(layout and layout.do_lower_case)
        self.prompt_name, self.prompt = self._pick_prompt(prompt)
        self.prompt = prefix + self.prompt
        self.prompt_length = 0
        if self.prompt and layout is not None and not layout.include_prompt:
            self.prompt_length = len(self.tokenizer(self.prompt)["input_ids"]) - 1  # without the closing special token
        if self.prompt:
            info(f"{self.name}: every input starts with the prompt {self.prompt!r}"
                 + (f" ({self.prompt_name!r} of the model's prompts)" if self.prompt_name else ""))
        self.truncated = 0

    def _pick_prompt(self, prompt: str | None) -> tuple[str | None, str]:
        prompts = self.layout.prompts if self.layout else {}
        if prompt is None:
            name = self.layout.default_prompt_name if self.layout else None
            if name is None and prompts.get("query"):
                name = "query"
            return (name, prompts.get(name, "")) if name else (None, "")
        if prompt in prompts:
            return prompt, prompts[prompt]
        return None, prompt

    def _out_dim(self, hidden: int) -> int:
        dim = len(self.modes) * hidden
        for i in sorted(self.dense):
            dim = self.dense[i][0].out_features
        return dim

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        # characters are a close enough proxy to group batches, at no tokenization cost
        return np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))

    def _tokenize(self, texts: Sequence[str]) -> dict:
        texts = [self.prompt + t for t in texts] if self.prompt else list(texts)
        if self.lower:
            texts = [t.lower() for t in texts]
        return self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")

    def _sentence(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pooling and the modules after it (Dense, Normalize), in the model's order, in float32."""
        hidden = hidden.float()
        pool_mask = mask
        if self.prompt_length:
            pool_mask = mask.clone()
            pool_mask[:, : self.prompt_length] = 0
        x = torch.cat([pool(hidden, pool_mask, m) for m in self.modes], dim=-1)
        steps = self.layout.steps if self.layout else [("Pooling", None)]
        pooled = False
        for i, (kind, _) in enumerate(steps):
            if kind == "Pooling":
                pooled = True
            elif kind == "Dense" and pooled:
                x = self.dense[i](x)
            elif kind == "Normalize" and pooled:
                x = torch.nn.functional.normalize(x, dim=-1)
        return x

    def _prepare(self, texts: Sequence[str]) -> dict:
        """The tokenized batch in pinned memory (called only when tokenizing ahead, on a GPU)."""
        return {k: v.pin_memory() for k, v in self._tokenize(texts).items()}

    @property
    def tokenize_ahead(self) -> bool:
        return self.device.type == "cuda"

    def _encode_batch(self, texts: Sequence[str], prepared: dict | None = None) -> np.ndarray:
        batch = self._tokenize(texts) if prepared is None else prepared
        if batch["input_ids"].shape[1] == self.max_length:
            # count inputs that hit the cap (cheap: the padded batch is already at the limit)
            self.truncated += int((batch["attention_mask"].sum(1) == self.max_length).sum())
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        with torch.inference_mode(), torch.autocast(self.device.type, torch.bfloat16, enabled=self.precision == "bf16"):
            hidden = self.model(**batch).last_hidden_state
            return self._sentence(hidden, batch["attention_mask"]).float().cpu().numpy()

    def forward_train(self, texts: Sequence[str]) -> torch.Tensor:
        """Sentence vectors with gradients, normalized (for training a student)."""
        batch = self._tokenize(texts).to(self.device)
        hidden = self.model(**batch).last_hidden_state
        return torch.nn.functional.normalize(self._sentence(hidden, batch["attention_mask"]), dim=-1)

    #: whether a student's token table is frozen unless asked otherwise (the trainer reads it)
    default_freeze_embeddings = False

    def token_embedding(self) -> torch.nn.Parameter:
        """The token-embedding table (what ``--freeze-embeddings`` freezes)."""
        return self.model.get_input_embeddings().weight

    def save_pretrained(self, directory: str | os.PathLike, dtype: torch.dtype | None = None,
                        frozen_table: bool = False) -> Path:
        """A transformers model directory plus the sentence-transformers files (Transformer, Pooling,
        any Dense modules, Normalize, prompts), so that ``SentenceTransformer(directory)`` loads it too.
        The token table is always written (``frozen_table`` is accepted for the trainer's one interface)."""
        directory = Path(directory)
        model = self.model
        if dtype is not None and dtype != model.dtype:
            import copy

            model = copy.deepcopy(model).to(dtype)
        model.save_pretrained(directory, safe_serialization=True)
        for weights in directory.glob("*.safetensors"):
            honour_umask(weights)  # safetensors writes them 0600
        self.tokenizer.save_pretrained(directory)
        dense = [path for kind, path in (self.layout.steps if self.layout else []) if kind == "Dense"]
        layout = self.layout
        save_sentence_transformers_files(
            directory, int(self.model.config.hidden_size), self.pooling, self.max_length, dense=dense,
            prompts=layout.prompts if layout else None, default_prompt_name=layout.default_prompt_name if layout else None,
            include_prompt=layout.include_prompt if layout else True, do_lower_case=self.lower)
        return directory


def save_sentence_transformers_files(directory: Path, dim: int, pooling: str, max_length: int,
                                     dense: Sequence[Path] = (), prompts: dict | None = None,
                                     default_prompt_name: str | None = None, include_prompt: bool = True,
                                     do_lower_case: bool = False) -> None:
    """``modules.json``, ``1_Pooling/``, copies of the ``Dense`` folders, ``N_Normalize/``,
    ``sentence_bert_config.json`` and (with prompts) ``config_sentence_transformers.json``."""
    import shutil

    modes = pooling.split("+")
    pool_cfg = {"word_embedding_dimension": int(dim),
                **{key: mode in modes for key, mode in _LEGACY_POOLING.items()}, "include_prompt": include_prompt}
    (directory / "1_Pooling").mkdir(parents=True, exist_ok=True)
    (directory / "1_Pooling" / "config.json").write_text(json.dumps(pool_cfg, indent=2) + "\n")
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    for src in dense:
        n = len(modules)
        if Path(src).resolve() != (directory / f"{n}_Dense").resolve():
            shutil.copytree(src, directory / f"{n}_Dense", dirs_exist_ok=True)
        modules.append({"idx": n, "name": str(n), "path": f"{n}_Dense", "type": "sentence_transformers.models.Dense"})
    n = len(modules)
    modules.append({"idx": n, "name": str(n), "path": f"{n}_Normalize", "type": "sentence_transformers.models.Normalize"})
    (directory / "modules.json").write_text(json.dumps(modules, indent=2) + "\n")
    (directory / f"{n}_Normalize").mkdir(exist_ok=True)
    (directory / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": int(max_length), "do_lower_case": do_lower_case}, indent=2) + "\n")
    if prompts:
        (directory / "config_sentence_transformers.json").write_text(json.dumps(
            {"prompts": prompts, "default_prompt_name": default_prompt_name}, indent=2) + "\n")


def pool(hidden: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Pool token states ``(B, L, H)`` to sentence vectors ``(B, H)``, ignoring padding (either side),
    the way sentence-transformers' Pooling does for each of :data:`POOLING_MODES`."""
    if mode == "cls":  # the first non-padding token
        first = mask.to(torch.int).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), first]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "max":
        return hidden.masked_fill(m == 0, torch.finfo(hidden.dtype).min).max(dim=1).values
    if mode in ("mean", "mean_sqrt_len_tokens"):
        total = m.sum(1).clamp(min=1e-9)
        return (hidden * m).sum(1) / (total if mode == "mean" else total.sqrt())
    if mode == "weightedmean":  # weights 1..n over the real tokens
        pad = mask.to(torch.int32).argmax(dim=1).view(-1, 1, 1)  # left padding shifts the positions
        w = m * (torch.arange(1, hidden.shape[1] + 1, device=hidden.device, dtype=hidden.dtype).view(1, -1, 1) - pad)
        return (hidden * w).sum(1) / w.sum(1).clamp(min=1e-9)
    if mode == "lasttoken":  # the last non-padding token
        seq = mask.shape[1]
        values, idx = mask.flip(1).max(1)
        last = torch.where(values == 0, seq - 1, seq - 1 - idx)
        return (hidden * m)[torch.arange(hidden.shape[0], device=hidden.device), last]
    raise InputError(f"unknown pooling {mode!r} (use one of {', '.join(POOLING_MODES)})")
