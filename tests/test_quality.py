"""Warnings with numbers: the input's language, the encoder's recorded figure there, and a better shipped one."""

from __future__ import annotations

import json
import statistics

import pytest
import yaml

from mineshaft import language_id, languages, quality
from mineshaft.encoders import models_dir
from conftest import run_cli

SHIPPED = ["mineshaft-use-soft", "mineshaft-use-50", "use", "use-numpy", "minilm"]


def flores_lines(shared_data, name: str, n: int = 24) -> list[str]:
    with (shared_data / "eval" / "flores200" / f"{name}.devtest").open(encoding="utf-8") as fh:
        return [line.rstrip("\n") for _, line in zip(range(n), fh)]


def mine(tmp_path, shared_data, src: str, *options: str):
    """``mineshaft mine`` on the first lines of FLORES-200 ``src`` and English; (exit status, stderr)."""
    (tmp_path / "src.txt").write_text("\n".join(flores_lines(shared_data, src)) + "\n", encoding="utf-8")
    (tmp_path / "en.txt").write_text("\n".join(flores_lines(shared_data, "eng_Latn")) + "\n", encoding="utf-8")
    r = run_cli("mine", str(tmp_path / "src.txt"), str(tmp_path / "en.txt"), "-o", str(tmp_path / "out.tsv"),
                "--threads", "1", *options)
    return r.returncode, r.stderr.decode()


def figure(encoder: str, lang: str) -> float:
    value = quality.retrieval_figures(encoder).get(lang)
    assert value is not None, (encoder, lang)
    return value


# ----------------------------------------------------------------------------- the records


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_encoder_records_its_figures_per_language(name):
    figures = quality.retrieval_figures(name)
    assert figures is not None and set(figures.sets) == {"tatoeba", "flores"}
    for set_name in ("tatoeba", "flores"):
        values = figures.sets[set_name]
        assert len([v for v in values.values() if v is not None]) == 50, (name, set_name)
        assert values["zh-tw"] is None  # never measured apart from zh: recorded as such
        assert all(v is None or 0 <= v <= 100 for v in values.values())


def test_records_say_where_their_figures_come_from():
    records = [json.loads((models_dir() / m / quality.QUALITY_FILE).read_text(encoding="utf-8"))["retrieval"]
               for m in ("mineshaft-use-soft", "mineshaft-use-50")]
    builtin = json.loads(quality.BUILTIN_FILE.read_text(encoding="utf-8"))["encoders"]
    records += [builtin["use"]["retrieval"], builtin["minilm"]["retrieval"]]
    for record in records:
        for entry in record.values():
            assert {"set", "metric", "date", "source", "command", "languages"} <= set(entry)
    assert quality.retrieval_figures("use-numpy").sets == quality.retrieval_figures("use").sets  # same weights


def _card_metrics(name: str) -> dict[tuple[str, str], float]:
    """(dataset type, metric name) → value, from the ``model-index`` of a shipped model's card."""
    text = (models_dir() / name / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(text.split("---")[1])
    return {(r["dataset"]["type"], m["name"]): m["value"] for r in meta["model-index"][0]["results"]
            for m in r["metrics"]}


def test_the_figures_are_those_of_the_model_cards():
    """Copied, not made up: the default's per-language Tatoeba figures are its card's; mineshaft-use-50's 50
    average to its card's means; USE v3's to the means its column in that card gives (41.1, 57.2)."""
    card = _card_metrics("mineshaft-use-soft")
    for code, lang in (("deu", "de"), ("fra", "fr"), ("spa", "es"), ("rus", "ru"), ("cmn", "zh"), ("jpn", "ja"),
                       ("kor", "ko")):
        assert figure("mineshaft-use-soft", lang) == card["tatoeba", f"top-1 accuracy {code}→eng"]
    card = _card_metrics("mineshaft-use-50")
    mean50 = "top-1 accuracy xx→en, mean of 50 languages"
    for encoder, tatoeba, flores in (("mineshaft-use-50", card["tatoeba", mean50], card["flores200", mean50]),
                                     ("use", 41.1, 57.2)):
        sets = quality.retrieval_figures(encoder).sets
        for values, want in ((sets["tatoeba"], tatoeba), (sets["flores"], flores)):
            assert statistics.mean(v for v in values.values() if v is not None) == pytest.approx(want, abs=0.05)


# ----------------------------------------------------------------------------- the warnings (real entry point)


def test_czech_with_the_default_warns_with_its_figure_and_the_clearly_better_encoder(tmp_path, shared_data):
    pytest.importorskip("py3langid")  # Latin script alone does not tell Czech
    status, err = mine(tmp_path, shared_data, "ces_Latn")
    assert status == 0, err
    assert f"src ({tmp_path / 'src.txt'}): Czech (cs)" in err  # the info line naming the language
    # the default is under the bar on Czech, and mineshaft-use-50 is better by at least CLEARLY_BETTER points
    assert figure("mineshaft-use-50", "cs") >= figure("mineshaft-50", "cs") + quality.CLEARLY_BETTER
    want = (f"warning: src ({tmp_path / 'src.txt'}) looks like Czech (cs); mineshaft-50 finds "
            f"{figure('mineshaft-50', 'cs'):.1f}% of Czech sentences' English translations on Tatoeba (top-1); "
            f"mineshaft-use-50 finds {figure('mineshaft-use-50', 'cs'):.1f}% (-e mineshaft-use-50)")
    assert want in err, err
    assert err.count("warning:") == 1, err  # the English side: the encoder knows English
    assert f"tgt ({tmp_path / 'en.txt'}): English (en)" in err


@pytest.mark.slow
def test_romanian_with_the_default_says_none_does_clearly_better(tmp_path, shared_data):
    pytest.importorskip("py3langid")
    status, err = mine(tmp_path, shared_data, "ron_Latn", "-q")
    assert status == 0, err
    # under the bar, and mineshaft-use-50 better by less than CLEARLY_BETTER points
    assert figure("mineshaft-50", "ro") < figure("mineshaft-use-50", "ro") < (figure("mineshaft-50", "ro")
                                                                            + quality.CLEARLY_BETTER)
    assert (f"looks like Romanian (ro); mineshaft-50 finds {figure('mineshaft-50', 'ro'):.1f}% of Romanian "
            f"sentences' English translations on Tatoeba (top-1); no shipped encoder does clearly better "
            f"(mineshaft-use-50: {figure('mineshaft-use-50', 'ro'):.1f}%)") in err, err


def test_czech_with_mineshaft_use_soft_names_the_clearly_better_encoder(tmp_path, shared_data):
    pytest.importorskip("py3langid")
    status, err = mine(tmp_path, shared_data, "ces_Latn", "-e", "mineshaft-use-soft")
    assert status == 0, err
    want = (f"warning: src ({tmp_path / 'src.txt'}) looks like Czech (cs); mineshaft-use-soft finds "
            f"{figure('mineshaft-use-soft', 'cs'):.1f}% of Czech sentences' English translations on Tatoeba (top-1); "
            f"mineshaft-use-50 finds {figure('mineshaft-use-50', 'cs'):.1f}% (-e mineshaft-use-50)")
    assert want in err, err


@pytest.mark.slow
def test_armenian_with_mineshaft_use_50_names_the_default(tmp_path, shared_data):
    status, err = mine(tmp_path, shared_data, "hye_Armn", "-e", "mineshaft-use-50", "-q")
    assert status == 0, err
    assert err.count("warning:") == 1, err  # not also the script or unknown-piece warning
    assert (f"looks like Armenian (hy); mineshaft-use-50 finds {figure('mineshaft-use-50', 'hy'):.1f}% of Armenian "
            f"sentences' English translations on Tatoeba (top-1); mineshaft-50 finds "
            f"{figure('mineshaft-50', 'hy'):.1f}% (-e mineshaft-50)") in err, err


def test_german_with_the_default_is_quiet(tmp_path, shared_data):
    pytest.importorskip("py3langid")
    status, err = mine(tmp_path, shared_data, "deu_Latn")
    assert status == 0, err
    assert "warning:" not in err, err
    assert f"src ({tmp_path / 'src.txt'}): German (de)" in err


@pytest.mark.slow
def test_a_language_no_encoder_was_measured_on_says_unmeasured(tmp_path):
    pytest.importorskip("py3langid")  # Latin script alone does not tell Swahili
    # Article 1 of the Universal Declaration of Human Rights in Swahili
    src = tmp_path / "sw.txt"
    src.write_text("Watu wote wamezaliwa huru, hadhi na haki zao ni sawa.\n"
                   "Wote wamejaliwa akili na dhamiri, hivyo yapasa watendeane kindugu.\n", encoding="utf-8")
    r = run_cli("encode", str(src), "-o", str(tmp_path / "sw.npy"), "--threads", "1")
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert f"{src}: Swahili (sw)" in err
    assert (f"warning: {src} looks like Swahili (sw); mineshaft-50 was not measured on Swahili (no Tatoeba "
            f"figure recorded); no shipped encoder was measured on it") in err, err
    assert err.count("warning:") == 1, err


# ----------------------------------------------------------------------------- the pieces


def test_without_py3langid_a_script_of_one_language_names_it(monkeypatch):
    monkeypatch.setattr(language_id, "_identifier", lambda: None)
    found = languages.identify_language(["Ես խոսում եմ հայերեն։", "Այսօր եղանակը շատ լավ է։"])
    assert (found.language, found.method) == ("hy", "script")
    assert languages.identify_language(["私は日本語を話します。"]).language == "ja"
    assert languages.identify_language(["我会说中文。"]).language == "zh"
    latin = languages.identify_language(["Ich spreche Deutsch."])
    assert latin.language is None and "py3langid" in latin.describe("x")  # Latin script: many languages


def test_too_little_text_is_named_by_its_script_alone(tmp_path):
    found = languages.identify_language(["hello"])
    assert (found.language, found.method) == (None, "short")
    assert found.describe("x") == "x: too little text to identify its language (5 letters)"
    assert languages.identify_language(["Ես խոսում եմ"]).language == "hy"  # a script of one language still names it
    assert languages.identify_language(["hello"], min_letters=0).method == "py3langid"  # a routed model's rule
    (tmp_path / "one.txt").write_text("hello\n", encoding="utf-8")
    r = run_cli("encode", str(tmp_path / "one.txt"), "-o", str(tmp_path / "one.npy"))
    err = r.stderr.decode()
    assert r.returncode == 0 and "too little text to identify its language" in err and "warning" not in err, err


def test_the_best_alternative_is_clearly_better_or_not_named():
    cs = quality.retrieval_figures("mineshaft-use-soft")
    assert quality.language_warning(cs, "de", "German", "x") is None  # strong: no warning
    # Galician: just under the bar, the best other shipped encoder is better by less than CLEARLY_BETTER points
    assert figure("mineshaft-use-soft", "gl") < quality.WEAK_ACCURACY
    name, best = quality.best_alternative("gl", "mineshaft-use-soft")
    assert best - figure("mineshaft-use-soft", "gl") < quality.CLEARLY_BETTER
    assert quality.language_warning(cs, "gl", "Galician", "x").endswith(
        f"no shipped encoder does clearly better ({name}: {best:.1f}%)")
    # use-numpy is use's weights: never offered as the alternative to use
    assert quality.best_alternative("de", "use")[0] != "use-numpy"
    best, value = quality.best_alternative("ro", "mineshaft-50")  # better, but not clearly
    assert best == "mineshaft-use-50" and 0 < value - figure("mineshaft-50", "ro") < quality.CLEARLY_BETTER
    assert quality.best_alternative("hy", "mineshaft-use-50")[0] == "mineshaft-50"  # clearly better


def test_an_alternative_worse_on_flores_is_not_offered():
    """Clearly better on Tatoeba's short sentences is not enough: an encoder that does worse on FLORES' longer
    ones is named with both figures, and not offered as the better choice."""
    default = quality.retrieval_figures("mineshaft-50")
    name, best = quality.best_alternative("fi", "mineshaft-50")
    assert best >= figure("mineshaft-50", "fi") + quality.CLEARLY_BETTER
    own, theirs = default.get("fi", quality.LONG_SET), quality.shipped_figure(name, "fi", quality.LONG_SET)
    assert theirs < own
    assert quality.language_warning(default, "fi", "Finnish", "x").endswith(
        f"; {name} finds {best:.1f}% there but fewer on FLORES' longer sentences ({theirs:.1f}% against "
        f"mineshaft-50's {own:.1f}%), so it is not suggested")
    assert quality.best_alternative("fi", "mineshaft-50", at_least=best, long_floor=own) is None
    # where it is ahead on both, it is named as before; a FLORES tie, or no FLORES figure, does not stop it
    assert quality.shipped_figure(name, "cs", quality.LONG_SET) >= default.get("cs", quality.LONG_SET)
    assert quality.language_warning(default, "cs", "Czech", "x").endswith(f"(-e {name})")
    tie = quality.Figures("mine", {"tatoeba": {"fi": 40.0}, "flores": {"fi": theirs}})
    assert quality.language_warning(tie, "fi", "Finnish", "x").endswith(f"(-e {name})")
    short_only = quality.Figures("mine", {"tatoeba": {"fi": 40.0}})
    assert quality.language_warning(short_only, "fi", "Finnish", "x").endswith(f"(-e {name})")
