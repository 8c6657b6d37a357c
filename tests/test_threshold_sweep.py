"""benchmarks/threshold_sweep.py: the tasks hide exactly the gold, and a pair outside it counts as an own-row
paraphrase only when the distractor's own English says nearly the same words."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("threshold_sweep", ROOT / "benchmarks" / "threshold_sweep.py")
threshold_sweep = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(threshold_sweep)


def _pairs(n: int, tag: str) -> list[tuple[str, str]]:
    return [(f"{tag} english {i}", f"{tag} xx {i}") for i in range(n)]


def test_tasks_hide_the_gold_and_name_each_sentence_own_english():
    gold, others = _pairs(50, "g"), _pairs(200, "o")
    own_of = dict((x, e) for e, x in gold + others)
    for p, xs, es, g, own in threshold_sweep.tasks(40, gold, others, overlaps=(1.0, 0.5, 0.05)):
        assert len(xs) == len(es) == len(own) == 40
        assert g == {(i, i) for i in range(round(p * 40))}
        assert [own_of[x] for x in xs] == own  # each xx sentence's own English
        english = set(es)
        gold_rows = {i for i, _ in g}
        assert not any(own[i] in english for i in range(40) if i not in gold_rows)  # no distractor's translation


def test_own_row_paraphrase():
    para = threshold_sweep.own_row_paraphrase
    assert para("Have you ever been to that restaurant?", "Have you ever gone to that restaurant?")
    assert not para("Turn off the radio now.", "Turn on the radio, please.")
    assert not para("", "Anything")
    assert para("I'm tired.", "I'm tired!")


def test_document_splits_find_their_documents_in_the_training_data(shared_data):
    """dev-doc and dev-news read document-ordered rows by source tag: each tag must still be in its file."""
    for lang, path, tag in threshold_sweep.DEV_DOC + threshold_sweep.DEV_NEWS:
        gold = threshold_sweep.doc_gold(shared_data / path, tag)
        assert len(gold) >= 500, (lang, path, tag, len(gold))
        assert all(en and xx for en, xx in gold)
    assert not any(path.startswith("eval/") for _, path, _ in threshold_sweep.DEV_DOC + threshold_sweep.DEV_NEWS)
