"""The sharded embedding store, the out-of-core corpus and resumable encoding."""

from __future__ import annotations

import numpy as np
import pytest

from mineshaft.encode import encode_to_store
from mineshaft.encoders import EncoderSpec
from mineshaft.encoders.base import Encoder
from mineshaft.errors import InputError
from mineshaft.mining.corpus import Corpus, number_signature
from mineshaft.store import EmbeddingStore


class CountingEncoder(Encoder):
    """A tiny deterministic encoder that counts what it was asked to encode."""

    name, dim = "counting", 4

    def __init__(self):
        self.calls = 0

    def _encode_batch(self, texts):
        self.calls += len(texts)
        return np.array([[len(t), t.count("a") + 1, 1.0, sum(map(ord, t)) % 7] for t in texts], np.float32)


def test_encode_to_store_resumes_and_notices_changed_input(tmp_path):
    texts = [f"sentence {i} " + "a" * (i % 5) for i in range(103)]
    (tmp_path / "counting").mkdir()  # names the encoder: a directory (its files make the encoder digest)
    (tmp_path / "counting" / "config.json").write_text("{}")
    spec = EncoderSpec(str(tmp_path / "counting"), dtype="float32")
    enc = CountingEncoder()
    store = encode_to_store(texts, tmp_path / "s", spec, shard_size=10, encoder=enc)
    assert enc.calls == 103 and store.index["n_shards"] == 11 and store.index["rows"] == 103
    full = store.load()
    # a killed run: shard 3 and 7 lost their markers
    store.marker_path(3).unlink()
    store.marker_path(7).unlink()
    enc2 = CountingEncoder()
    store = encode_to_store(texts, tmp_path / "s", spec, shard_size=10, encoder=enc2)
    assert enc2.calls == 20
    np.testing.assert_array_equal(store.load(), full)
    # changed input in shard 5 only: that shard alone is re-encoded
    texts[55] = "changed"
    enc3 = CountingEncoder()
    encode_to_store(texts, tmp_path / "s", spec, shard_size=10, encoder=enc3)
    assert enc3.calls == 10
    # a different shard size is a different store: start afresh
    enc4 = CountingEncoder()
    encode_to_store(texts, tmp_path / "s", spec, shard_size=20, encoder=enc4)
    assert enc4.calls == 103


def test_one_run_writes_a_store_at_a_time(tmp_path):
    """Two encode runs into one folder at once made a store of two encoders that mine took as one."""
    first = EmbeddingStore(tmp_path / "s").open({"x": 1})
    with pytest.raises(InputError, match="another mineshaft run is writing this store"):
        EmbeddingStore(tmp_path / "s").open({"x": 1})
    first.release()
    EmbeddingStore(tmp_path / "s").open({"x": 1}).release()


def _finished(path, shards: int = 3, digest: str = "d1") -> EmbeddingStore:
    store = EmbeddingStore(path).open({"digest": digest})
    for i in range(shards):
        store.write_shard(i, np.full((4, 3), i, np.float32), f"fp{i}", encoder=digest)
    store.write_index([4] * shards)
    store.release()
    return store


def test_reading_a_store_checks_each_shard(tmp_path):
    """A shard of another encoder than the manifest's, one cut short or overwritten: refused naming the shard
    (they were read as the store's, or failed with numpy's advice to allow pickles)."""
    mixed = _finished(tmp_path / "mixed")
    mixed.write_shard(1, np.ones((4, 3), np.float32), "fp1", encoder="d2")
    with pytest.raises(InputError, match="shard 1 was made by another encoder than the store's manifest names"):
        list(mixed.shards())
    for name, spoil in (("cut", lambda p: p.write_bytes(p.read_bytes()[:100])),
                        ("junk", lambda p: p.write_bytes(b"garbage\n"))):
        store = _finished(tmp_path / name)
        spoil(store.shard_path(2))
        with pytest.raises(InputError, match=r"shard-000002.npy: cannot read this shard \(cut short, or not a .npy"):
            list(store.shards())
        assert store.is_done(2) and not store.is_done(2, "fp2", "d1")  # a resumed run encodes it again
    short = _finished(tmp_path / "short")
    np.save(short.shard_path(0), np.ones((2, 3), np.float32))
    with pytest.raises(InputError, match="holds 2 rows where the store's index says 4"):
        list(short.shards())


def test_a_shorter_input_leaves_no_stale_shards(tmp_path):
    store = _finished(tmp_path / "s", shards=3)
    store.open({"digest": "d1"}).write_index([4, 4])
    assert sorted(p.name for p in store.path.glob("shard-*")) == [f"shard-00000{i}.{e}" for i in (0, 1)
                                                                   for e in ("done", "npy")]
    assert len(list(store.shards())) == 2


def test_shard_of_another_encoder_is_not_done(tmp_path):
    store = EmbeddingStore(tmp_path / "s").open({"x": 1})
    store.write_shard(0, np.ones((2, 3), np.float32), "fp", encoder="digest-a")
    assert store.is_done(0) and store.is_done(0, "fp") and store.is_done(0, "fp", "digest-a")
    assert not store.is_done(0, "fp", "digest-b") and not store.is_done(0, "other", "digest-a")


def test_incomplete_store_is_a_clear_error(tmp_path):
    store = EmbeddingStore(tmp_path / "s").open({"x": 1})
    with pytest.raises(InputError, match="incomplete"):
        list(store.shards())


def test_corpus_drops_empty_and_duplicates_and_fetches_texts(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("a\n\nbb\na\n  \nccc \nbb\n")
    c = Corpus.scan(p, dedup=True)
    assert c.rows.tolist() == [0, 2, 5] and c.dropped_empty == 2 and c.dropped_duplicates == 2
    assert c.texts() == ["a", "bb", "ccc "]
    assert c.lengths.tolist() == [1, 2, 3]  # the length clue, aligned with the rows kept (stripped)
    assert c.numbers.tolist() == [0, 0, 0] and c.numbers.dtype == np.uint32  # the number clue: no digits here
    digits = tmp_path / "d.txt"
    digits.write_text("a 1\n\nbb 2\na 1\nccc\nbb 2\n")
    d = Corpus.scan(digits, dedup=True)  # the signatures stay with their rows
    assert d.rows.tolist() == [0, 2, 4]
    assert d.numbers.tolist() == [number_signature("a 1"), number_signature("bb 2"), 0] and 0 not in d.numbers[:2]
    assert c.fetch([2, 0]) == {2: ("6", "ccc "), 0: ("1", "a")}
    c = Corpus.scan(p)
    assert c.texts() == ["a", "bb", "a", "ccc ", "bb"] and c.lengths.tolist() == [1, 2, 1, 3, 2]


def test_corpus_id_column(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("x-1\thallo\nx-2\twelt\n")
    c = Corpus.scan(p, id_column=True)
    assert c.texts() == ["hallo", "welt"] and c.fetch([1]) == {1: ("x-2", "welt")}
    p.write_text("x-1\thallo\nkein tab\n")
    with pytest.raises(InputError, match=r"c.txt:2: expected 'ID<TAB>sentence' \(--id-column\), got no tab"):
        Corpus.scan(p, id_column=True)
    p.write_text("x-1\thallo\n\tGuten Morgen.\n")  # a tab, and nothing before it
    with pytest.raises(InputError, match=r"c.txt:2: .*got an empty id before the tab"):
        Corpus.scan(p, id_column=True)


def test_dedup_takes_case_punctuation_and_spacing_for_one_sentence(tmp_path):
    """Web text repeats a sentence with another case, a final stop or a trailing space: one vector or nearly,
    which crowds the neighbourhoods as exact copies do (trailing-space copies on both sides emptied the output).
    What is inside a line counts: digits, signs, and the marks of Indic and Thai vowels and tones (a first key
    that dropped punctuation dropped them too, and took "one day" and "one donation" in Hindi for one sentence);
    a line of only punctuation is keyed by itself."""
    from mineshaft.mining.corpus import dedup_key

    p = tmp_path / "c.txt"
    p.write_text("Click here!\nclick here\nClick here \nCLICK HERE.\nPage 1\nPage 2\n…\n→\n…\nＣｌｉｃｋ ｈｅｒｅ\n",
                 encoding="utf-8")
    c = Corpus.scan(p, dedup=True)
    assert c.texts() == ["Click here!", "Page 1", "Page 2", "…", "→"] and c.dropped_duplicates == 5
    assert dedup_key(" «Hallo  Welt!» ") == dedup_key("hallo welt") != dedup_key("hallo welt 2")
    for one, other in (("एक दिन", "एक दान"), ("দিন", "দান"), ("เสือตัวนี้", "เสื้อตัวนี้"), ("x = 1", "x < 1"),
                       ("-5 °C", "5 °C"), ("كُتب", "كتب")):
        assert dedup_key(one) != dedup_key(other), (one, other)


def test_lines_of_only_invisible_characters_are_blank(tmp_path):
    """A zero-width space or a stray byte-order mark shows nothing: such a line was a sentence that could be
    paired (and encode gave it a vector)."""
    from mineshaft.io import is_blank

    assert [is_blank(t) for t in ("", " \t", "\u200b", " \u200b\ufeff ", "\xa0", "\u200f", "a", "\u200bx")] == [
        True, True, True, True, True, True, False, False]
    p = tmp_path / "c.txt"
    p.write_text("eins\n\u200b\nzwei\n\u00ad \u2060\n", encoding="utf-8")
    c = Corpus.scan(p)
    assert c.texts() == ["eins", "zwei"] and c.dropped_empty == 2


def test_corpus_of_only_empty_lines_is_an_error(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("\n \n")
    with pytest.raises(InputError, match="no non-empty lines"):
        Corpus.scan(p)


def test_one_run_uses_a_work_directory_at_a_time(tmp_path):
    """A second mine refused on a shared --work-dir deleted the first run's spooled stdin on its way out (and the
    first failed); now it is refused before it touches anything."""
    from mineshaft.mining.output import work_directory

    work = str(tmp_path / "W")
    with work_directory(work, str(tmp_path / "o.tsv"), keep=True) as w:
        (w / "src.stdin.txt").write_text("the first run's input")
        with pytest.raises(InputError, match="another mineshaft run is using this work directory"):
            with work_directory(work, str(tmp_path / "p.tsv")):
                pass
        assert (w / "src.stdin.txt").read_text() == "the first run's input"
    with work_directory(work, str(tmp_path / "p.tsv")):  # free again
        pass


def test_a_search_that_fails_lets_go_of_its_stores(tmp_path):
    """The k-NN stores were released only when collected: a kept traceback (an interactive session) held them,
    and the next mine in the process was refused as "another run"."""
    from mineshaft.mining.mine import search_source
    from mineshaft.mining.search import Searcher
    from mineshaft.mining.sources import Source

    class Broken:
        def search(self, searcher, jobs, k):
            raise KeyboardInterrupt
            yield  # a generator, as engines are

    x = np.eye(4, dtype=np.float32)
    try:
        search_source(Source.from_array(x), Searcher([x]), 2, tmp_path, Broken(), "src2tgt", {"m": 1})
    except KeyboardInterrupt as exc:
        kept = exc  # the traceback and its frames stay alive
    for part in ("sims", "ids"):
        EmbeddingStore(tmp_path / f"src2tgt-{part}").lock()
    assert kept is not None


def test_an_interrupted_run_over_another_input_leaves_the_store_unfinished(tmp_path):
    """The old index.json stayed until the new run's end: interrupted, the store read as complete, its shards from
    two inputs."""
    (tmp_path / "counting").mkdir()
    (tmp_path / "counting" / "config.json").write_text("{}")
    spec = EncoderSpec(str(tmp_path / "counting"), dtype="float32")
    encode_to_store([f"eins {i}" for i in range(40)], tmp_path / "s", spec, shard_size=10, encoder=CountingEncoder())

    class Interrupted(CountingEncoder):
        def _encode_batch(self, texts):
            if self.calls >= 10:
                raise KeyboardInterrupt
            return super()._encode_batch(texts)

    with pytest.raises(KeyboardInterrupt):
        encode_to_store([f"zwei {i}" for i in range(40)], tmp_path / "s", spec, shard_size=10, encoder=Interrupted())
    with pytest.raises(InputError, match="embedding store is incomplete"):
        list(EmbeddingStore(tmp_path / "s").shards())
