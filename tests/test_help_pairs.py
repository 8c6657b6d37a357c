"""benchmarks/help_pairs.py: help paragraphs aligned by id, Mozilla strings aligned by file and id, from real layouts."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("help_pairs", ROOT / "benchmarks" / "help_pairs.py")
help_pairs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(help_pairs)

PAGE = """<html><body><h1 id="hd_id3150445"><a name="x"></a>Inserting Tables</h1>
<p id="par_id3154255" class="paragraph">Use the <emph>Navigator</emph> for rearranging
  and editing the subdocuments.</p><p id="other">Not a help paragraph at all here.</p>
<p id="par_id1000"><img src="a.png"/>Choose the cell range you want to sort.</p></body></html>"""

PAGE_SL = """<html><body><h1 id="hd_id3150445">Vstavljanje tabel</h1>
<p id="par_id3154255">Uporabite <emph>Krmarja</emph> za preurejanje in urejanje poddokumentov.</p>
<p id="par_id1000">Choose the cell range you want to sort.</p></body></html>"""


def test_help_paragraphs_by_id_with_inline_markup_flattened():
    found = help_pairs.help_paragraphs(PAGE)
    assert found == {"hd_id3150445": "Inserting Tables",
                     "par_id3154255": "Use the Navigator for rearranging and editing the subdocuments.",
                     "par_id1000": "Choose the cell range you want to sort."}


def test_help_pairs_align_pages_by_path_and_id_and_drop_untranslated(tmp_path):
    for lang, page in (("en-US", PAGE), ("sl", PAGE_SL)):
        (tmp_path / lang / "text" / "swriter").mkdir(parents=True)
        (tmp_path / lang / "text" / "swriter" / "a.html").write_text(page, encoding="utf-8")
    (tmp_path / "en-US" / "text" / "swriter" / "only-english.html").write_text(PAGE, encoding="utf-8")
    pairs = help_pairs.help_pairs(tmp_path / "en-US", tmp_path / "sl")
    # the heading has 2 English words (too short); the untranslated paragraph is not a pair
    assert pairs == [("Use the Navigator for rearranging and editing the subdocuments.",
                      "Uporabite Krmarja za preurejanje in urejanje poddokumentov.")]


def test_ftl_messages_attributes_and_continuations():
    text = """# comment
sanitize-title = Clear recent history
item-cookies =
    .label = Cookies and site data
    .description = May sign you out of sites
      or empty shopping carts
-brand = Firefox
"""
    assert help_pairs.ftl_messages(text) == {
        "sanitize-title": "Clear recent history", "item-cookies": "",
        "item-cookies.label": "Cookies and site data",
        "item-cookies.description": "May sign you out of sites or empty shopping carts", "-brand": "Firefox"}


def test_mozilla_strings_match_english_omni_and_a_language_pack(tmp_path):
    omni, pack = tmp_path / "omni.ja", tmp_path / "langpack-sq@firefox-esr.mozilla.org.xpi"
    with zipfile.ZipFile(omni, "w") as z:
        z.writestr("localization/en-US/browser/sanitize.ftl", "sanitize-title = Clear your recent history now\n")
        z.writestr("chrome/en-US/locale/en-US/global/dom/dom.properties",
                   "# c\nBlocked=The page was blocked from loading\nFmt=Loaded %S files\n")
    with zipfile.ZipFile(pack, "w") as z:
        z.writestr("browser/localization/sq/browser/sanitize.ftl", "sanitize-title = Spastroni historikun tuaj\n")
        z.writestr("chrome/sq/locale/sq/global/dom/dom.properties",
                   "Blocked=Faqja u bllokua nga ngarkimi\nFmt=U ngarkuan %S kartela\n")
    english = help_pairs.mozilla_strings([omni], "en-US")
    other = help_pairs.mozilla_strings([pack], "sq")
    assert english[("browser/sanitize.ftl", "sanitize-title")] == "Clear your recent history now"
    assert sorted(help_pairs.aligned(english, other)) == [
        ("Clear your recent history now", "Spastroni historikun tuaj"),
        ("The page was blocked from loading", "Faqja u bllokua nga ngarkimi")]  # the %S string is not a pair


def test_language_pack_locale_from_its_file_name():
    assert help_pairs.language_pack_locale([Path("langpack-hy-AM@firefox-esr.mozilla.org.xpi")], "hy-am") == "hy-AM"
    assert help_pairs.language_pack_locale([], "sq") == "sq"


def test_help_paragraphs_keep_the_default_switch_case_and_drop_repeated_ids():
    page = """<p id="par_id1">Press Shift+<span id="swlns1" class="switchinline"><span hidden="true" id="MACx" class="MAC">
Command</span><span hidden="true" id="defaultx">Ctrl</span></span>+N to open a new document.</p>
<p id="par_id2">PV is the current value.</p><p id="par_id2">Exact number of days in month.</p>"""
    assert help_pairs.help_paragraphs(page) == {"par_id1": "Press Shift+Ctrl+N to open a new document."}


def test_aligned_refuses_english_copies_placeholders_and_plural_lists():
    english = {1: "The certificate for this site has expired.", 2: "Time: #1 second;Time: #1 seconds",
               3: "Close all the open windows now"}
    other = {1: "The certificate for this site has expired .", 2: "Aeg: #1 sekund;Aeg: #1 sekundit",  # 1: a copy
             3: "Sulge kõik avatud aknad kohe"}
    assert help_pairs.aligned(english, other) == [("Close all the open windows now", "Sulge kõik avatud aknad kohe")]
