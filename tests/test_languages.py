"""Language awareness: an encoder's languages, and the warning on input it does not know."""

from __future__ import annotations

import json

import pytest

from mineshaft import languages
from mineshaft.encoders import models_dir
from tests.conftest import SHARED, run_cli

TEXTS = {
    "bn": ["আমি বাংলায় কথা বলি।", "আজ আবহাওয়া খুব ভালো।", "সে প্রতিদিন সকালে বই পড়ে।"],
    "hy": ["Ես խոսում եմ հայերեն։", "Այսօր եղանակը շատ լավ է։", "Նա ամեն առավոտ գիրք է կարդում։"],
    "de": ["Ich spreche Deutsch.", "Heute ist das Wetter sehr schön.", "Sie liest jeden Morgen ein Buch."],
    "ru": ["Я говорю по-русски.", "Сегодня очень хорошая погода.", "Она читает книгу каждое утро."],
    "ja": ["私は日本語を話します。", "今日はとても良い天気です。", "彼女は毎朝本を読みます。"],
    "zh": ["我会说中文。", "今天天气很好。", "她每天早上看书。"],
    "ar": ["أنا أتكلم العربية.", "الطقس جميل جدا اليوم.", "هي تقرأ كتابا كل صباح."],
    "th": ["ฉันพูดภาษาไทย", "วันนี้อากาศดีมาก", "เธออ่านหนังสือทุกเช้า"],
}


@pytest.fixture
def warnings(monkeypatch):
    seen: list[str] = []
    monkeypatch.setattr(languages.progress, "warn", seen.append)
    return seen


@pytest.fixture
def no_figures(monkeypatch):
    """The checks of an encoder without recorded figures (an own model): scripts and unknown pieces only."""
    monkeypatch.setattr(languages.quality, "retrieval_figures", lambda *_: None)


def test_records_of_shipped_and_short_names():
    assert languages.encoder_languages("use")["languages"] == list(languages.USE_LANGUAGES)
    assert languages.encoder_languages("minilm")["languages"] == ["en"]
    shipped = json.loads((models_dir() / "mineshaft-use-soft" / languages.LANGUAGES_FILE).read_text())
    assert shipped["languages"] == list(languages.USE_LANGUAGES)
    assert languages.encoder_languages("mineshaft-use-soft")["languages"] == list(languages.USE_LANGUAGES)
    default = languages.encoder_languages("default")["languages"]  # the routed default: USE's and 36 more
    assert set(languages.USE_LANGUAGES) < set(default) and {"cs", "hy", "el", "hi"} < set(default)
    assert languages.encoder_languages("sentence-transformers/LaBSE") is None  # hub ids: no record


def test_scripts_of_letters():
    assert languages.char_script("a") == "Latin" and languages.char_script("Ж") == "Cyrillic"
    assert languages.char_script("中") == "Han" and languages.char_script("ー") == "Katakana"
    assert languages.char_script("ক") == "Bengali" and languages.char_script("1") is None
    assert languages.language_scripts("jpn") == languages.language_scripts("ja")


@pytest.mark.parametrize("lang, script", [("bn", "Bengali"), ("hy", "Armenian")])
def test_warns_on_unknown_script_with_use(warnings, no_figures, lang, script):
    r = languages.check_input_languages("use", TEXTS[lang], f"x.{lang}")
    assert r["warned"] and r["script_share"] > 0.9 and r["unknown_rate"] > 0.3
    assert len(warnings) == 1
    assert warnings[0].startswith(f"x.{lang}: ") and f"{script} script" in warnings[0]
    assert "which use was not trained on (it knows: ar de en es" in warnings[0]


@pytest.mark.parametrize("lang", ["de", "ru", "ja", "zh", "ar", "th"])
def test_no_script_or_piece_warning_on_languages_use_knows(warnings, no_figures, lang):
    r = languages.check_input_languages("use", TEXTS[lang], lang)
    assert not r["warned"] and r["script_share"] == 0 and r["unknown_rate"] < languages.UNKNOWN_RATE
    assert warnings == []


@pytest.mark.parametrize("lang", ["de", "ru", "ja", "zh", "th"])
def test_no_warning_on_languages_use_reads_well(warnings, lang):
    r = languages.check_input_languages("use", TEXTS[lang], lang)
    assert not r["warned"] and r["figure"] >= languages.quality.WEAK_ACCURACY, r
    assert warnings == []


def test_a_trained_language_below_the_bar_still_warns_with_its_figure(warnings):
    """USE v3 was trained on Arabic, but finds 77.7% of its Tatoeba translations: under the bar, and no
    shipped encoder is clearly better (mineshaft-use-50: 80.0)."""
    r = languages.check_input_languages("use", TEXTS["ar"], "ar.txt")
    assert r["warned"] and r["language"] == "ar" and r["figure"] == 77.7
    assert warnings == ["ar.txt looks like Arabic (ar); use finds 77.7% of Arabic sentences' English translations on "
                        "Tatoeba (top-1); no shipped encoder does clearly better (mineshaft-use-50: 80.0%)"]


def test_unknown_pieces_warn_in_a_known_script(warnings, no_figures):
    # Latin script, but USE's vocabulary lacks many Vietnamese letters
    vi = ["Tôi nói tiếng Việt.", "Hôm nay thời tiết rất đẹp.", "Cô ấy đọc sách mỗi buổi sáng."]
    r = languages.check_input_languages("use", vi, "vi.txt")
    assert r["script_share"] == 0 and r["warned"]
    assert "unknown to use's vocabulary" in warnings[0]


def test_no_record_no_check(tmp_path, warnings):
    assert languages.check_input_languages(str(tmp_path), TEXTS["bn"], "bn") is None
    assert warnings == []


def test_no_warning_on_the_50_languages_with_a_model_that_lists_them(tmp_path, warnings):
    train = SHARED / "train"
    files = sorted(train.glob("en-*.tsv"))
    if len(files) < 50:
        pytest.skip(f"the 50 training languages are not at {train}")
    langs = [f.name[3:-4] for f in files]
    assert all(languages.language_scripts(x) for x in langs + ["en"]), "a language without scripts"
    (tmp_path / languages.LANGUAGES_FILE).write_text(json.dumps({"languages": ["en"] + langs}))
    for f in files:
        with f.open(encoding="utf-8") as fh:
            texts = [line.split("\t")[1] for _, line in zip(range(300), fh)]
        r = languages.check_input_languages(str(tmp_path), texts, f.name)
        assert r is not None and not r["warned"], (f.name, r)
    assert warnings == []


def test_checked_stream_is_unchanged_and_read_once(warnings):
    lines = iter(["", *TEXTS["bn"], "tail"])
    assert list(languages.checked(lines, "use", "stdin")) == ["", *TEXTS["bn"], "tail"]
    assert len(warnings) == 1


def test_cli_encode_warns_once_on_bengali(tmp_path):
    src = tmp_path / "bn.txt"
    train = SHARED / "train" / "en-bn.tsv"
    if train.is_file():
        with train.open(encoding="utf-8") as fh:
            lines = [line.split("\t")[1] for _, line in zip(range(20), fh)]
    else:
        lines = TEXTS["bn"]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = run_cli("encode", str(src), "-o", str(tmp_path / "bn.npy"), "--encoder", "use", "-q", "--shard-size", "8")
    assert r.returncode == 0, r.stderr
    err = r.stderr.decode()
    # one warning: the recorded figure, not also the script's (both would say the same)
    assert err.count("warning:") == 1 and "Bengali script" not in err, err
    assert f"{src} looks like Bengali (bn); use finds 0.7% of Bengali sentences' English translations" in err, err


def test_languages_of_pair_file_names():
    assert languages.pair_file_languages(["en-de.tsv", "/x/en-bn.tsv", "eng_hye.txt"]) == ["bn", "de", "en", "hy"]
    assert languages.pair_file_languages(["en-de.tsv", "my-pairs.tsv"]) is None  # cannot tell: record nothing


def test_one_reading_of_a_pair_file_name_everywhere(tmp_path):
    """en_de.tsv, en-de.tsv, de-en.tsv, en-de.tsv.gz, eng-deu.txt: German and English for languages.json and
    train, German for the text extend-vocab learns from (and the other side of a BUCC-style prefix)."""
    from mineshaft.evaluate import bucc_language
    from mineshaft.training.vocab import read_texts

    names = ["en_de.tsv", "en-de.tsv", "de-en.tsv", "en-de.tsv.gz", "/data/eng-deu.txt", "de_en.tsv", "EN-DE.tsv"]
    for name in names:
        assert languages.pair_file_languages([name]) == ["de", "en"], name
        assert languages.pair_file_language(name) == "de", name
    assert languages.pair_file_codes("de-en.tsv") == ("de", "en")
    assert languages.pair_file_codes("en-zh-tw.tsv") == ("en", "zh-tw")
    assert languages.pair_file_language("bn.tsv") == "bn" and languages.pair_file_language("de-fr.tsv") is None
    assert languages.pair_file_language("eng-deu", spelled=True) == "deu"
    assert languages.pair_file_codes("my-pairs.tsv") is None
    for name in ("en_de.tsv", "de-en.tsv", "en-de.tsv", "my-pairs.tsv"):
        (tmp_path / name).write_text("Hello\tHallo\n", encoding="utf-8")
    got = read_texts([tmp_path / n for n in ("en_de.tsv", "de-en.tsv", "en-de.tsv", "my-pairs.tsv")])
    assert got == {"de": ["Hallo", "Hallo", "Hallo"], "my-pairs": ["Hallo"]}
    assert bucc_language("eval/bucc-style/de-en") == bucc_language("x/en-de") == "de"
    assert bucc_language("xx-en") == "xx"  # not language codes: the first part, as before


def test_a_trained_model_records_the_start_and_the_trained_languages(tmp_path, warnings):
    """What `mineshaft train` writes: USE's 16 plus the pair files' languages; then Bengali input is quiet."""
    data = languages.write_languages(tmp_path, "use", ["bn", "en", "hy"], "test")
    assert set(data["languages"]) == set(languages.USE_LANGUAGES) | {"bn", "hy"}
    assert languages.check_input_languages(str(tmp_path), TEXTS["bn"], "bn")["warned"] is False
    assert warnings == []
    assert languages.write_languages(tmp_path / "x", "use", None, "test") is None  # unknown files: nothing
    assert languages.write_languages(tmp_path / "x", str(tmp_path / "x"), ["bn"], "t") is None  # unknown start
    assert not (tmp_path / "x").exists()


def test_the_warning_names_a_shipped_model_that_knows_more(tmp_path, monkeypatch, warnings, no_figures):
    import mineshaft.encoders as encoders

    (tmp_path / "wide").mkdir()
    languages.write_languages(tmp_path / "wide", "use", ["bn", "vi"], "test")
    monkeypatch.setattr(encoders.names, "models_dir", lambda: tmp_path)
    languages.check_input_languages("use", TEXTS["bn"], "bn.txt")  # a script: a model whose languages use it
    languages.check_input_languages("use", ["Tôi nói tiếng Việt.", "Hôm nay thời tiết rất đẹp."], "vi.txt")
    assert len(warnings) == 2 and all(w.endswith("; try -e wide (English and 16 other languages)") for w in warnings), warnings
    languages.check_input_languages("use", TEXTS["hy"], "hy.txt")  # Armenian: no shipped model knows it
    assert warnings[2].endswith("mined pairs may be wrong"), warnings[2]


def test_the_language_check_counts_unknown_pieces_as_extend_vocab_does():
    """One unknown-piece rate: the input check (USE's own tokenizer) and extend-vocab's table (the fast
    tokenizer of the same sp.model) give the same number."""
    from mineshaft.encoders.use_tokens import UNK_ID
    from mineshaft.languages import unknown_stats
    from mineshaft.training.vocab import backend_tokenizer

    texts = TEXTS["bn"] + TEXTS["hy"] + ["Guten Morgen, wie geht es dir?"]
    got = languages.check_input_languages("use", texts, "x")["unknown_rate"]
    want = unknown_stats(backend_tokenizer("use", None), texts, UNK_ID)["unknown"]
    assert got == pytest.approx(want) and 0.1 < got < 1
