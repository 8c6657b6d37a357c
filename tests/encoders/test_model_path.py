"""One place turns an encoder name into a model folder: encoders.model_path."""

from __future__ import annotations

import re

import pytest

from mineshaft.errors import InputError

from mineshaft.encoders import DEFAULT_STUDENT, model_path, models_dir, shipped_model
from mineshaft.mining.threshold import model_dir_of
from mineshaft.training.vocab import resolve_model


def test_every_kind_of_name_resolves_in_one_place(tmp_path, monkeypatch):
    if shipped_model(DEFAULT_STUDENT) is None:
        pytest.skip("the default student is not installed")
    assert model_path("default") == model_path(DEFAULT_STUDENT) == models_dir() / DEFAULT_STUDENT
    assert model_path("use") is None and model_path("use-numpy") is None
    assert (model_path("minilm") / "config.json").is_file()
    assert model_path(str(tmp_path)) == tmp_path
    assert model_path(str(tmp_path / "missing")) is None and model_path("./missing") is None
    monkeypatch.chdir(tmp_path)
    (tmp_path / DEFAULT_STUDENT).mkdir()  # a local folder of a shipped name wins
    assert model_path(DEFAULT_STUDENT).resolve() == (tmp_path / DEFAULT_STUDENT).resolve()
    monkeypatch.chdir(tmp_path.parent)
    # the callers agree with it
    assert model_dir_of("default") == model_path("default")
    assert resolve_model("mineshaft-use-soft") == ("use", model_path("mineshaft-use-soft"))
    with pytest.raises(InputError, match="routed model"):  # the default is two encoders: extend a part
        resolve_model("default")
    assert resolve_model("use") == ("use", None)


def test_names_that_are_no_model_are_refused_with_what_they_are(tmp_path):
    from mineshaft.encoders.names import check_name

    (tmp_path / "weights.bin").write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    for name, said in (("", "the encoder name is empty"), (str(tmp_path / "weights.bin"), "is a file, not a model folder"),
                       (str(tmp_path / "empty"), "holds no model (no config.json or modules.json in it)")):
        with pytest.raises(InputError, match=re.escape(said)):
            check_name(name)
    (tmp_path / "empty" / "config.json").write_text("{}")
    check_name(str(tmp_path / "empty"))  # a folder with a config: transformers says what else is missing
    check_name("use")
