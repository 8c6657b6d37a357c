"""Option values checked where a user meets them: one line on stderr, exit 2, before torch is imported or anything
is read or encoded (``--threads``, ``--device``, ``--precision``, ``--max-length``, language codes, ``--work-dir``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import ROOT, run_cli

SAMPLE = ROOT / "mineshaft" / "data"
DE, EN = str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en")


def refused(*args: str) -> tuple[str, list[str]]:
    """Run ``mineshaft ARGS``; it must exit 2 with one line on stderr. Returns that line and the modules imported
    (Python's import-time log), so a test can tell that torch never loaded."""
    r = run_cli(*args, env={"PYTHONPROFILEIMPORTTIME": "1"})
    lines = r.stderr.decode().splitlines()
    modules = [line.split("|")[-1].strip() for line in lines if line.startswith("import time:")]
    said = [line for line in lines if line.strip() and not line.startswith("import time:")]
    assert r.returncode == 2, (args, r.returncode, said)
    assert len(said) == 1 and said[0].startswith("mineshaft: error: "), (args, said)
    return said[0], modules


def no_torch(modules: list[str]) -> bool:
    return not any(m == "torch" or m.startswith("torch.") for m in modules)


@pytest.fixture
def texts(tmp_path: Path) -> Path:
    (tmp_path / "exists.tsv").write_text("x\n")
    (tmp_path / "pairs.tsv").write_text("Ein Satz.\tA sentence.\n")
    (tmp_path / "en-de.tsv").write_text("A sentence.\tEin Satz.\n")
    return tmp_path


# --------------------------------------------------------------------------- --threads: torch loads when the model does
@pytest.mark.parametrize("case", ["mine missing", "mine output exists", "mine memory", "encode missing",
                                  "score missing", "eval missing"])
def test_threads_leaves_errors_before_torch(texts, case):
    t = str(texts)
    args, says = {
        "mine missing": (["mine", f"{t}/missing.de", EN], "no such file"),
        "mine output exists": (["mine", DE, EN, "-o", f"{t}/exists.tsv"], "exists"),
        "mine memory": (["mine", DE, EN, "--memory", "0"], "--memory"),
        "encode missing": (["encode", f"{t}/missing.de", "-o", f"{t}/x.npy"], "no such file"),
        "score missing": (["score", f"{t}/missing.tsv"], "no such file"),
        "eval missing": (["eval", "--tatoeba", f"{t}/missing"], "no such file"),
    }[case]
    line, modules = refused(*args, "--threads", "1")
    assert says in line and no_torch(modules), line
    assert (texts / "exists.tsv").read_text() == "x\n"


# --------------------------------------------------------------------------- --device and --precision, without torch
@pytest.mark.parametrize("command", ["mine", "encode", "score", "eval", "train"])
@pytest.mark.parametrize("option, says", [(["--device", "tpu"], "unknown device 'tpu'"),
                                          (["--device", "cuda:x"], "unknown device 'cuda:x'"),
                                          (["--precision", "fp16", "--device", "cpu"], "fp16 needs a GPU")])
def test_device_and_precision_refused_before_torch(texts, command, option, says):
    t = str(texts)
    args = {"mine": ["mine", DE, EN], "encode": ["encode", DE, "-o", f"{t}/x.npy"],
            "score": ["score", f"{t}/pairs.tsv"], "eval": ["eval", "--tatoeba", f"{t}/missing"],
            "train": ["train", "--pairs", f"{t}/en-de.tsv", "--out", f"{t}/model", "--dev-size", "0"]}[command]
    line, modules = refused(*args, *option, "--threads", "1")
    assert says in line and no_torch(modules), line
    assert not (texts / "x.npy").exists() and not (texts / "model").exists()


@pytest.mark.parametrize("command", [["mine", DE, EN], ["encode", DE, "-o", "x.npy"]])
def test_unknown_precision_refused_before_torch(command):
    line, modules = refused(*command, "--precision", "bogus")
    assert "unknown precision 'bogus'" in line and "fp32" in line and no_torch(modules)


def test_max_length_below_the_start_and_end_tokens_is_refused(tmp_path):
    line, modules = refused("encode", DE, "-o", str(tmp_path / "x.npy"), "--max-length", "1")
    assert "--max-length" in line and no_torch(modules)
    assert not (tmp_path / "x.npy").exists()


# --------------------------------------------------------------------------- language codes
@pytest.mark.parametrize("option", ["--src-lang", "--tgt-lang"])
def test_a_language_the_identifier_never_names_is_refused(tmp_path, option):
    line, modules = refused("mine", DE, EN, "-o", str(tmp_path / "p.tsv"), option, "xx")
    assert f"{option} xx" in line and "py3langid" in line and " de " in line and no_torch(modules)
    assert not (tmp_path / "p.tsv").exists()


def test_a_regional_variant_points_to_the_code_the_identifier_names():
    line, _ = refused("mine", DE, EN, "--tgt-lang", "zh-tw")
    assert "give --tgt-lang zh" in line


def test_language_spellings_that_normalize_are_accepted(texts):
    # 'deu' and 'EN' are de and en: the run goes on to the next check (the output exists), not a language error
    line, _ = refused("mine", DE, EN, "-o", f"{texts}/exists.tsv", "--src-lang", "deu", "--tgt-lang", "EN",
                      "--normalize-punct", "deu")
    assert "exists" in line, line


def test_filter_keeps_the_language_given_in_another_spelling():
    from mineshaft.mining.filters import PairFilter

    rules = PairFilter(src_lang="deu", tgt_lang="EN")
    assert (rules.src_lang, rules.tgt_lang) == ("de", "en")
    assert rules.apply([("Das ist ein Haus am See.", "This is a house by the lake.", 2.0)]) == [True]


@pytest.mark.parametrize("code", ["zz", "d3", "german"])
def test_normalize_punct_refuses_what_is_no_language_code(tmp_path, code):
    line, modules = refused("encode", DE, "-o", str(tmp_path / "x.npy"), "--normalize-punct", code)
    assert f"--normalize-punct {code}" in line and "ISO 639-1" in line and no_torch(modules)


def test_the_identifiers_languages_are_read_from_its_model():
    from mineshaft.language_id import _identifier, identifier_languages
    from mineshaft.scripts import normalize_language

    langs = identifier_languages()
    assert {"de", "en", "sq", "hy", "sl"} <= langs and "zxx" not in langs and len(langs) > 90
    for text in ("Der Hund schläft im Garten.", "Qeni fle në kopsht.", "Pes spi na vrtu.", "Շունը քնած է այգում։"):
        assert normalize_language(_identifier()(text)) in langs, text


# --------------------------------------------------------------------------- work directories
@pytest.mark.parametrize("case", ["a file", "under a file", "cannot be made"])
def test_work_directory_problems_are_one_line_errors(texts, case):
    if case == "cannot be made" and not Path("/proc/self").is_dir():
        pytest.skip("needs /proc")
    work = {"a file": texts / "exists.tsv", "under a file": texts / "exists.tsv" / "work",
            "cannot be made": Path("/proc/mineshaft-work")}[case]
    before = sorted(os.listdir(texts))
    line, modules = refused("mine", DE, EN, "-o", f"{texts}/p.tsv", "--work-dir", str(work))
    assert f"--work-dir {work}" in line and "Error" not in line and no_torch(modules), line
    assert sorted(os.listdir(texts)) == before and (texts / "exists.tsv").read_text() == "x\n"


@pytest.mark.parametrize("args", [["mine", DE, EN, "-o", "/proc/mineshaft-pairs.tsv"],
                                  ["encode", DE, "-o", "/proc/mineshaft.npy"],
                                  ["encode", DE, "-o", "/proc/mineshaft-store/"],
                                  ["score", DE, "-o", "/proc/mineshaft-scored.tsv"]], ids=lambda a: a[0] + a[-1][-1])
def test_an_output_folder_that_cannot_be_written_in_is_refused_before_any_work(args):
    """(It was found out after the encoding and the search, as an OSError naming a temporary file.)"""
    if not Path("/proc/self").is_dir():
        pytest.skip("needs /proc")
    line, modules = refused(*args)
    assert "/proc" in line and ("cannot write in it" in line or "cannot be made in /proc" in line), line
    assert no_torch(modules), line


def test_keep_work_with_pairs_on_stdout_needs_a_work_dir(tmp_path):
    line, modules = refused("mine", DE, EN, "--keep-work")
    assert "--keep-work with the pairs on stdout needs --work-dir" in line and no_torch(modules), line
    line, _ = refused("mine", DE, EN, "--keep-work", "-o", "/dev/null")
    assert "--keep-work with the pairs on /dev/null, a device or pipe, needs --work-dir" in line, line


def test_an_ivf_index_too_big_for_the_text_is_refused_before_encoding(texts):
    """The sentences are counted when the text is read: faiss's 39 vectors a list is checked then, not after both
    sides were encoded (and not under a k-NN progress bar)."""
    line, modules = refused("mine", DE, EN, "-q", "--index", "IVF32,Flat", "-o", str(texts / "p.tsv"))
    assert line.startswith("mineshaft: error: --index 'IVF32,Flat' needs at least 1248 database vectors to train, "
                           "have "), line
    assert no_torch(modules), line


def test_encode_of_a_blank_input_is_refused_before_the_model_loads(tmp_path):
    blank = tmp_path / "blank.txt"
    blank.write_text("\n \n\t\n")
    line, modules = refused("encode", str(blank), "-o", str(tmp_path / "x.npy"))
    assert line == f"mineshaft: error: {blank}: no non-empty lines to encode (3 empty lines)" and no_torch(modules)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blank.txt"]


# --------------------------------------------------------------------------- warnings name their step
def test_a_warning_during_a_step_names_it(capsys):
    from mineshaft import progress

    for side in ("src", "tgt"):
        with progress.task(f"encoding {side}", total=None):
            progress.warn("3 of 3 inputs were longer than 2 tokens and were truncated")
    progress.warn("after the steps")
    err = capsys.readouterr().err.splitlines()
    assert err == ["warning: encoding src: 3 of 3 inputs were longer than 2 tokens and were truncated",
                   "warning: encoding tgt: 3 of 3 inputs were longer than 2 tokens and were truncated",
                   "warning: after the steps"]


@pytest.mark.slow
def test_mine_truncation_warnings_name_each_side(tmp_path):
    r = run_cli("mine", DE, EN, "-o", str(tmp_path / "p.tsv"), "--max-length", "2", "-q")
    warnings = [line for line in r.stderr.decode().splitlines() if "truncated" in line]
    assert r.returncode == 0 and len(warnings) == 2 and len(set(warnings)) == 2, warnings
    assert "encoding src" in warnings[0] and "encoding tgt" in warnings[1]
