"""The per-sentence vector cache: runs share the sentences they have in common, only new ones are encoded."""

from __future__ import annotations

import numpy as np

from mineshaft.sentence_cache import SentenceCache, cached_vectors, sentence_keys


def _fake_encoder(calls: list):
    def encode(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return np.array([[len(t), sum(map(ord, t)) % 97, 1.0] for t in texts], np.float32)
    return encode


def test_second_run_encodes_only_its_new_sentences(tmp_path):
    calls: list = []
    enc = _fake_encoder(calls)
    first = ["a dog", "a cat", "le chat"]
    assert np.array_equal(cached_vectors(first, tmp_path, enc), enc(first))
    calls.clear()
    second = ["le chien", "a cat", "a dog", "ein Hund"]
    got = cached_vectors(second, tmp_path, enc)
    assert calls == [["le chien", "ein Hund"]]  # only what the first run did not see
    assert np.array_equal(got, enc(second))
    want = enc(second[::-1])
    calls.clear()
    assert np.array_equal(cached_vectors(second[::-1], tmp_path, enc), want)
    assert calls == []  # all cached
    assert len(list(tmp_path.glob("part-*.keys.npy"))) == 2


def test_a_part_without_keys_is_ignored_and_keys_are_stable(tmp_path):
    calls: list = []
    enc = _fake_encoder(calls)
    cached_vectors(["x", "y"], tmp_path, enc)
    for k in tmp_path.glob("part-*.keys.npy"):
        k.unlink()  # as if the run died between writing the rows and the keys
    calls.clear()
    cached_vectors(["x"], tmp_path, enc)
    assert calls == [["x"]]
    assert sentence_keys(["x", "y"]).dtype == np.uint64
    assert np.array_equal(sentence_keys(["x", "y"]), sentence_keys(["x", "y"]))
    assert len(set(sentence_keys([f"s{i}" for i in range(10_000)]).tolist())) == 10_000
    assert len(SentenceCache(tmp_path).keys) == 1


def test_teacher_embeddings_share_sentences_across_runs(tmp_path):
    """Through the trainer's teacher: another subset of the same sentences is read back, identical."""
    from mineshaft.training.teacher import teacher_embeddings

    texts = ["The cat sleeps.", "I like tea.", "The cat sleeps.", "Where is the station?"]
    a = teacher_embeddings("minilm", texts, tmp_path, "cpu", 8)
    assert a.shape == (4, 384) and np.array_equal(a[0], a[2])
    b = teacher_embeddings("minilm", ["Where is the station?", "I like tea."], tmp_path, "cpu", 8)
    assert np.array_equal(b, a[[3, 1]])
    (part,) = [p for p in tmp_path.rglob("part-*.keys.npy")]
    assert len(np.load(part)) == 3  # the second call added no part
