"""benchmarks/debian_pairs.py: which gettext messages become training pairs, read from a real .mo file."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("debian_pairs", ROOT / "benchmarks" / "debian_pairs.py")
debian_pairs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(debian_pairs)


def write_mo(path: Path, messages: dict[str, str]) -> None:
    """A GNU .mo catalogue (little-endian, no hash table) holding ``messages``, sorted as msgfmt sorts them."""
    keys = sorted(messages)
    ids = [k.encode() for k in keys]
    strs = [messages[k].encode() for k in keys]
    start = 7 * 4 + 16 * len(keys)
    blob, table_o, table_t = b"", [], []
    for table, items in ((table_o, ids), (table_t, strs)):
        for item in items:
            table.append((len(item), start + len(blob)))
            blob += item + b"\0"
    header = struct.pack("<7I", 0x950412DE, 0, len(keys), 28, 28 + 8 * len(keys), 0, 0)
    path.write_bytes(header + b"".join(struct.pack("<2I", *e) for e in table_o + table_t) + blob)


@pytest.mark.parametrize("text,expected", [
    ("_Open the file", "Open the file"), ("~Save as new  document", "Save as new document"),
    ("Ouvrir le fichier (_O)", "Ouvrir le fichier"), ("&Close all windows", "Close all windows"),
    ("Copied %d files", None), ("<b>Bold</b> label here", None), ("See https://example.org now", None),
    ("Two\nlines of text", None), ("Path C:\\temp here", None),
])
def test_clean_drops_accelerators_and_refuses_non_text(text, expected):
    assert debian_pairs.clean(text) == expected


@pytest.mark.parametrize("en,xx,kept", [
    ("Save the document first", "Desa primer el document", True),
    ("Save", "Desa", False),                                               # fewer than 3 words
    ("Save the document first", "save the document first", False),        # untranslated
    ("Save the document first", "D", False),                               # absurd length ratio
    ("ID 1234 5678 9012", "ID 1234 5678 9012 x", False),                   # no lower-case English
])
def test_keep_wants_a_real_translation_of_a_real_sentence(en, xx, kept):
    assert debian_pairs.keep(en, xx) is kept


def test_catalogue_pairs_reads_a_mo_file(tmp_path):
    mo = tmp_path / "app.mo"
    write_mo(mo, {"": "Content-Type: text/plain; charset=UTF-8\n",
                  "_Open the recent file": "_Obre el fitxer recent",
                  "menu\x04Close the window now": "Tanca la finestra ara",
                  "Copied %d files": "S'han copiat %d fitxers",
                  "Quit": "Surt"})
    assert sorted(debian_pairs.catalogue_pairs(mo)) == [("Close the window now", "Tanca la finestra ara"),
                                                       ("Open the recent file", "Obre el fitxer recent")]
    (tmp_path / "broken.mo").write_bytes(b"not a catalogue")
    assert debian_pairs.catalogue_pairs(tmp_path / "broken.mo") == []
    write_mo(tmp_path / "plural.mo", {"": "Content-Type: text/plain; charset=UTF-8\nPlural-Forms: nplurals=2;\n",
                                      "Open the recent file": "Obre el fitxer recent"})
    assert debian_pairs.catalogue_pairs(tmp_path / "plural.mo") == []  # gettext cannot parse it: skipped


def test_held_out_keys_match_check_leakage_normalisation(tmp_path):
    (tmp_path / "tatoeba.xx").write_text("Ｔｈｅ cat, sat on the mat!\nshort\n", encoding="utf-8")
    (tmp_path / "sts.csv").write_text('"Another held-out sentence",second cell here,3.0\n', encoding="utf-8")
    keys = debian_pairs.held_out_keys(tmp_path)
    assert debian_pairs.key("the CAT sat on the mat") in keys
    assert debian_pairs.key("another held out sentence") in keys and "short" not in keys
