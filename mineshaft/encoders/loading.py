"""Loading an encoder by name: the USE port, its numpy reference, or any transformers model."""

from __future__ import annotations

from pathlib import Path

from .base import Encoder
from .names import (DEFAULT_ENCODER, SHORT_NAMES, check_name, is_use_dir, minilm_path, model_path, resolve_default,
                    shipped_model)
from .precision import pick_device
from .routed import RoutedEncoder, is_routed_dir


def load_encoder(
    name: str = DEFAULT_ENCODER,
    device: str | None = "auto",
    max_length: int | None = None,
    threads: int | None = None,
    precision: str = "auto",
    prompt: str | None = None,
) -> Encoder:
    """Resolve ``name`` (short name, model directory, or hub id) to a ready encoder.

    ``precision`` (transformers): auto, fp32, bf16 (CPU autocast) or fp16 (GPU).
    ``prompt`` (sentence-transformers models): a prompt name or text; None takes the model's
    default (see :class:`~mineshaft.encoders.hf.HFEncoder`).
    """
    name = resolve_default(name)
    hub_id = None
    if name not in SHORT_NAMES:
        check_name(name)
        directory = model_path(name, fetch=True)
        if directory is not None:
            if shipped_model(name) is None and not Path(name).exists():
                hub_id = name  # the encoder keeps the id as its name, not the cache folder's
            name = str(directory)
    if is_routed_dir(name):
        return RoutedEncoder(name, lambda part: load_encoder(part, device=device, max_length=max_length,
                                                             threads=threads, precision=precision, prompt=prompt))
    if name == "use-numpy":
        from .use_numpy import USENumpyEncoder

        return USENumpyEncoder(threads=threads)
    if name == "use" or is_use_dir(name):
        from .use import USEEncoder

        dev = pick_device(device)
        enc = USEEncoder(path=None if name == "use" else name, device=str(dev), threads=threads, precision=precision)
        if max_length:
            enc.max_length = max_length
        return enc
    from .hf import HFEncoder

    path = minilm_path() if name == "minilm" else name
    return HFEncoder(path, device=device, max_length=max_length, precision=precision,
                     name="minilm" if name == "minilm" else hub_id, prompt=prompt)


__all__ = ["load_encoder"]
