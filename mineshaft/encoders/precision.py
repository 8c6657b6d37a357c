"""``--device`` and ``--precision``: the one place ``auto`` (and every explicit value) is resolved (torch is imported
only when one is).

Encoders and training differ only in what ``auto`` means, so each passes its choice:

* the USE port (:class:`~mineshaft.encoders.use.USEEncoder`): fp16 autocast on a GPU, fp32 on CPU (the vectors
  the shipped thresholds were calibrated on);
* transformers encoders (:class:`~mineshaft.encoders.hf.HFEncoder`, ``cpu_bf16=True``): fp16 on a GPU, bf16
  autocast on CPUs that compute bf16 natively (AVX512-BF16/AMX), else fp32 (bf16 autocast doubles MiniLM's
  CPU throughput with cosine >= 0.9999 to fp32);
* training (``gpu_bf16=True``): bf16 autocast on GPUs that support it, else fp16; fp32 on CPU.

fp16 needs a GPU everywhere.
"""

from __future__ import annotations

import re

from ..errors import InputError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: the ``--device`` values, checked without torch: auto, and torch's accelerator types, with an index or not
#: (cuda:N; mps on Macs; xpu, hpu, npu, xla, mtia where their torch builds run); whether one is there is torch's say
_DEVICE = re.compile(r"auto|(cpu|cuda|mps|xpu|hpu|npu|xla|mtia)(:\d+)?")
_FP16_NEEDS_GPU = "--precision fp16 needs a GPU (use bf16 or fp32 on CPU)"


def check_device(device) -> None:
    """Refuse a ``--device`` that is none of auto, cpu, cuda, cuda:N, before torch is imported (whether a GPU is
    there is for :func:`pick_device` to say). A ``torch.device`` passes."""
    if device is None or not isinstance(device, str):
        return
    if not _DEVICE.fullmatch(device):
        raise InputError(f"unknown device {device!r} (use auto, cpu, cuda or cuda:N, or a torch device type "
                         "such as mps or xpu)")


def check_precision(precision: str, device=None) -> None:
    """Refuse an unknown ``--precision``, and fp16 on a device that is explicitly no GPU, before torch is imported
    (``device`` None or auto: decided when the device is)."""
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r} (use one of {', '.join(PRECISIONS)})")
    kind = None if device in (None, "auto") else getattr(device, "type", None) or str(device).split(":")[0]
    if precision == "fp16" and kind is not None and kind != "cuda":
        raise InputError(_FP16_NEEDS_GPU)


def resolve_precision(precision: str, device, *, cpu_bf16: bool = False, gpu_bf16: bool = False) -> str:
    """``precision`` (auto, fp32, bf16, fp16) on ``device`` (a ``torch.device`` or its name) → fp32, bf16 or fp16.

    ``cpu_bf16``: ``auto`` on a CPU with native bf16 is bf16 (else fp32); ``gpu_bf16``: ``auto`` on a GPU with
    bf16 support is bf16 (else fp16)."""
    check_precision(precision)
    kind = getattr(device, "type", None) or str(device).split(":")[0]
    if precision == "fp16" and kind != "cuda":
        raise InputError(_FP16_NEEDS_GPU)
    if precision != "auto":
        return precision
    import torch

    if kind == "cuda":
        return "bf16" if gpu_bf16 and torch.cuda.is_bf16_supported() else "fp16"
    if cpu_bf16 and (getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
                     or getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()):
        return "bf16"
    return "fp32"


def pick_device(device: str | None):
    """``auto``/None → cuda when available, else cpu; anything else is passed to torch (a ``torch.device``)."""
    check_device(device)
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise InputError(f"unknown device {device!r} (use auto, cpu, cuda or cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} asked for, but no CUDA GPU is available")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise InputError(f"device {device!r} asked for, but this machine has {torch.cuda.device_count()} CUDA "
                         f"GPU(s): cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return dev


__all__ = ["PRECISIONS", "resolve_precision", "pick_device", "check_device", "check_precision"]
