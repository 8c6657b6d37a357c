"""`mineshaft models`: the shipped encoders, the short names and the hub cache's models with their facts
(read from the model folders' cards and languages.json), and one model's card."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from conftest import run_cli
from mineshaft import catalog
from mineshaft.encoders import models_dir
from mineshaft.model_card import (REQUIRED_KEYS, CardMetric, CardResult, card_front_matter, headline_figures,
                                  read_card, split_front_matter)

SHIPPED = sorted(p.name for p in models_dir().iterdir() if (p / "config.json").is_file())


def fake_hub_cache(root: Path) -> Path:
    """A hub cache holding one small sentence-transformers model (files only: no network, no weights worth loading)."""
    repo = root / "models--acme--tiny-st"
    snap = repo / "snapshots" / "0123abcd"
    (snap / "1_Pooling").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    (snap / "config.json").write_text(json.dumps({"hidden_size": 32, "model_type": "bert"}))
    (snap / "model.safetensors").write_bytes(b"\0" * 1000)
    (snap / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    (snap / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 32}))
    (snap / "README.md").write_text("---\nlanguage:\n- de\n- en\nlicense: mit\n---\n# tiny\n\nA tiny model.\n")
    return root


def test_models_lists_every_shipped_encoder_with_languages_and_figures(tmp_path):
    cache = fake_hub_cache(tmp_path / "hub")
    r = run_cli("models", env={"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    rows = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}
    for name in SHIPPED + ["use", "use-numpy", "minilm", "acme/tiny-st"]:
        assert name in rows, out
    assert "(default)" in rows["mineshaft-50"] and "(default)" not in rows["mineshaft-use-soft"]
    # the figures of each shipped card's front matter (its own tables), and of the short names' data file
    assert rows["mineshaft-use-soft"].split()[-6:] == ["91.9", "(7)", "99.9", "(7)", "91.74", "(7)"]
    assert rows["mineshaft-use-50"].split()[-6:] == ["73.6", "(50)", "81.4", "(50)", "88.25", "(7)"]
    assert rows["mineshaft-50"].split()[-6:] == ["75.6", "(50)", "88.5", "(50)", "91.74", "(7)"]
    assert rows["mineshaft-50"].split()[2:5] == ["shipped", "52", "512"]  # a routed model: its parts' dimension
    assert rows["use"].split()[-6:] == ["91.5", "(7)", "99.9", "(7)", "91.38", "(7)"]
    assert rows["use-numpy"].split()[-3:] == ["—", "—", "—"]
    # languages (count in the row, codes below), dimension, size
    assert rows["mineshaft-use-50"].split()[1:4] == ["shipped", "52", "512"]
    assert rows["minilm"].split()[2:4] == ["1", "384"]
    assert rows["acme/tiny-st"].split()[1:6] == ["hub", "cache", "2", "32", "0.0"]
    assert "  mineshaft-use-soft: ar de en es fr it ja ko nl pl pt ru th tr zh zh-tw" in out
    assert "  acme/tiny-st: de en" in out


def test_models_prints_a_shipped_card():
    r = run_cli("models", "mineshaft-use-50")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode() == (models_dir() / "mineshaft-use-50" / "README.md").read_text(encoding="utf-8")
    r = run_cli("models", "default")
    assert r.returncode == 0 and r.stdout.decode().startswith("---\n") and "# mineshaft-50" in r.stdout.decode()


def test_models_short_name_without_a_card_shows_its_recorded_facts():
    r = run_cli("models", "use")
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    assert out.startswith("# use\n") and "- dimension: 512" in out and "- BUCC-style F1: 91.38" in out


def test_unknown_model_is_one_line_listing_the_known_ones(tmp_path):
    r = run_cli("models", "no-such-model", env={"HF_HUB_CACHE": str(tmp_path / "empty")})
    assert r.returncode == 2 and r.stdout == b""
    err = r.stderr.decode().strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith("mineshaft: error: unknown model 'no-such-model' (known: default, ")
    for name in SHIPPED + ["use", "use-numpy", "minilm"]:
        assert name in err


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_card_front_matter(name):
    """Each shipped card starts with YAML front matter that parses, has the required keys, lists the languages of
    its languages.json and records its headline figures in a well-formed model-index."""
    folder = models_dir() / name
    meta, body = read_card(folder / "README.md")
    assert all(key in meta for key in REQUIRED_KEYS), sorted(meta)
    assert body.lstrip().startswith(f"# {name}\n")
    assert meta["language"] == json.loads((folder / "languages.json").read_text())["languages"]
    assert meta["license"] and meta["base_model"] and meta["datasets"] and "mineshaft" in meta["tags"]
    [model] = meta["model-index"]
    assert model["name"] == name and model["results"]
    for result in model["results"]:
        assert result["task"]["type"] and result["dataset"]["type"] and result["dataset"]["name"]
        assert all(isinstance(m["value"], (int, float)) and m["type"] and m["name"] for m in result["metrics"])
    figures = headline_figures(meta)
    assert set(figures) == {"tatoeba", "flores", "bucc"}
    assert all(0 < f.value <= 100 and f.of for f in figures.values())


def test_card_front_matter_renders_what_the_parser_reads():
    results = [CardResult("tatoeba", "Tatoeba", [CardMetric("accuracy", 80.5, "top-1 accuracy xx→en, mean of 3 languages"),
                                                 CardMetric("accuracy", 70.0, "deu")], config="xx-en"),
               CardResult("bucc-style", "BUCC-style", [CardMetric("f1", 90.25, "F1, mean of 2 pairs")], config="xx-en")]
    text = card_front_matter("m", ["de", "en", "zh-tw"], base_model="use", datasets=["d"], tags=["mineshaft"],
                             results=results)
    assert text.startswith("---\n") and text.endswith("---\n")
    meta, body = split_front_matter(text + "# m\n")
    assert body == "# m\n" and all(key in meta for key in REQUIRED_KEYS)
    assert meta["language"] == ["de", "en", "zh-tw"]
    figures = headline_figures(meta)
    assert (figures["tatoeba"].value, figures["tatoeba"].of) == (80.5, 3) and figures["bucc"].format() == "90.25 (2)"
    assert "flores" not in figures


def test_figures_come_from_the_folders_card(tmp_path):
    """A model folder's figures are its card's: change the card and the listing changes."""
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"hidden_size": 16}))
    results = [CardResult("flores200", "FLORES", [CardMetric("accuracy", 42.5, "top-1 accuracy xx→en, mean of 9 languages")],
                          config="xx-en")]
    (folder / "README.md").write_text(card_front_matter("my-model", ["fr"], results=results) + "# my-model\n")
    entry = catalog.find_model(str(folder))
    assert entry.figures["flores"].value == 42.5 and entry.languages == ["fr"] and entry.dimension == 16
    assert "tatoeba" not in entry.figures


def test_listing_makes_no_network_call(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "hub_cache_dir", lambda: tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("network call")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    entries = catalog.list_models() + catalog.cached_entries(fake_hub_cache(tmp_path / "hub"))
    assert {"mineshaft-use-soft", "use", "minilm", "acme/tiny-st"} <= {e.name for e in entries}


def test_a_folders_languages_json_gives_its_languages(tmp_path):
    """A model folder made by `route` or `extend-vocab` records its languages in languages.json (no card's front
    matter): `models DIR` shows them, in its card and in --json."""
    routed = tmp_path / "rt1"
    routed.mkdir()
    (routed / "config.json").write_text(json.dumps({"architecture": "routed", "known": {"encoder": "use",
                                                    "languages": ["de"]}, "others": {"encoder": "use-numpy"}}))
    extended = tmp_path / "ev1"
    extended.mkdir()
    (extended / "config.json").write_text(json.dumps({"architecture": "use-dan-cnn", "head_dim": 512}))
    (extended / "README.md").write_text("# ev1\n\nA card without front matter.\n")
    for folder in (routed, extended):
        (folder / "languages.json").write_text(json.dumps({"languages": ["de", "en", "hy"], "source": "test"}))
    res = run_cli("models", str(routed))
    assert res.returncode == 0 and "- languages: de en hy\n" in res.stdout.decode(), res.stdout.decode()
    res = run_cli("models", str(extended), "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["languages"] == ["de", "en", "hy"], res.stderr.decode()
