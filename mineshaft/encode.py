"""Encoding pipelines: a text stream of any length to a ``.npy`` matrix or to a sharded, resumable store.

Both turn texts into rows with :func:`mineshaft.embed.embed_shard` (empty lines are zero rows).
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable, Iterable, Iterator

from . import progress
from .embed import embed_shard
from .encoders import Encoder, EncoderSpec
from .encoders.digest import describe, encoder_record
from .engines import EncodeJob, Engine, LocalEngine, get_engine
from .errors import InputError, UsageError
from .io import check_input, compression, display_name, is_blank, iter_lines
from .outputs import atomic_output, check_folder, check_output_path, is_special_file
from .languages import check_input_languages, checked
from .npy import NpyStreamWriter, remove_sidecar, write_sidecar
from .store import EmbeddingStore, say_kept


def fingerprint(texts: list[str]) -> str:
    """A digest of a shard's input, so a resumed job notices changed input."""
    h = hashlib.blake2b(digest_size=16)
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\n")
    return h.hexdigest()


def _chunks(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    it = iter(texts)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def encode_file(
    path: str | os.PathLike,
    out: str | os.PathLike,
    encoder: Encoder | None,
    spec: EncoderSpec | None = None,
    chunk_size: int = 16384,
    errors: str = "strict",
    force: bool = False,
    load: Callable[[], Encoder] | None = None,
) -> int:
    """Encode every line of ``path`` into one ``.npy`` file ``out``; returns the number of rows.

    Only ``chunk_size`` lines are held at a time. Empty lines are not encoded:
    their rows are zero vectors, so row i is always line i. Beside a file
    ``X.npy`` goes ``X.npy.mineshaft.json``: which encoder (and its digest) made it.
    Instead of ``encoder``, ``load`` (such as ``spec.load``; ``spec`` then required) is called once the first
    lines are read, so an empty or undecodable input is refused before the model loads.
    """
    if (encoder is None) == (load is None):
        raise TypeError("encode_file takes an encoder or a load function, one of them")
    if spec is None:
        if encoder is None:
            raise TypeError("encode_file needs spec with a load function")
        spec = EncoderSpec(encoder.name, dtype="float32")
    chunks = _chunks(iter_lines(path, errors=errors), chunk_size)
    first = next(chunks, None)
    if first is None:
        raise InputError(f"{display_name(path)}: empty input")
    if all(is_blank(t) for t in first):  # all blank so far: where that is the whole input, say so before loading
        second = next(chunks, None)
        if second is None:
            raise InputError(f"{display_name(path)}: no non-empty lines to encode ({len(first)} empty lines)")
        chunks = itertools.chain([second], chunks)
    encoder = encoder if encoder is not None else load()
    check_input_languages(encoder, first, display_name(path))
    rows = texts = 0
    with (atomic_output(out, mode="wb", force=force) as fh, progress.task("encoding", total=None) as advance,
          NpyStreamWriter(fh, encoder.dim, dtype=spec.dtype) as writer):
        for chunk in itertools.chain([first], chunks):
            writer.write(embed_shard(encoder, chunk, spec))
            rows += len(chunk)
            texts += sum(1 for t in chunk if not is_blank(t))
            advance(len(chunk))
        if not texts:  # all zero rows: as mine refuses it, not a result
            raise InputError(f"{display_name(path)}: no non-empty lines to encode ({rows} empty lines)")
        writer.close()
        record = str(out) != "-" and not is_special_file(out)  # a file, not stdout, /dev/null or a named pipe
        if record:
            remove_sidecar(out)  # the old record must never describe the new rows, even if killed right here
    if record:
        write_sidecar(out, {**encoder_record(spec), "normalized": True})
    progress.info(f"{rows} rows of dimension {encoder.dim} ({spec.dtype}) written to {out}")
    return rows


def encode_to_path(
    path: str | os.PathLike,
    out: str,
    spec: EncoderSpec,
    shards: bool = False,
    shard_size: int = 100_000,
    engine: str = "local",
    errors: str = "strict",
    force: bool = False,
) -> None:
    """``mineshaft encode``: a text input to a ``.npy`` file (or stdout), or to a sharded store directory
    when ``shards`` is set or ``out`` ends with ``/`` (resumable, run on ``engine``)."""
    from pathlib import Path

    check_input(path)
    if str(path).endswith(".npy"):
        raise UsageError(f"{path}: is embeddings already (a .npy file); encode reads text, one sentence a line")
    if not (shards or out.endswith("/")):
        if compression(out):
            raise UsageError(f"{out}: a .npy output is not compressed (it is memory-mapped when read); "
                             f"write {out[: -len(compression(out))]}")
        if engine != "local":
            raise UsageError(f"--engine {engine} applies to store output (--shards or a trailing /), not to a .npy file")
        check_output_path(out, force, inputs=(path,))
        encode_file(path, out, None, spec, load=spec.load, chunk_size=min(shard_size, 65536), errors=errors, force=force)
        return
    if out == "-":
        raise UsageError("a sharded store is a directory: give --out DIR, not -")
    check_folder(Path(out), out)  # not a file, and written in (a probe)
    if not force:
        check_store_output(out, spec, shard_size)
    with get_engine(engine) as runner:
        texts = checked(iter_lines(path, errors=errors), spec, display_name(path))
        try:
            store = encode_to_store(texts, out, spec, shard_size=shard_size, engine=runner, name=display_name(path))
        except (KeyboardInterrupt, SystemExit):
            say_kept(out)
            raise
    progress.info(f"{store.index['rows']} rows in {store.index['n_shards']} shards written to {out}")


def encode_to_store(
    texts: Iterable[str],
    store_dir: str | os.PathLike,
    spec: EncoderSpec,
    n_rows: int | None = None,
    shard_size: int = 100_000,
    engine: Engine | None = None,
    encoder: Encoder | None = None,
    label: str = "encoding",
    name: str | None = None,
) -> EmbeddingStore:
    """Encode ``texts`` into shards of ``shard_size`` rows under ``store_dir``, skipping finished shards.

    A shard is skipped when its completion marker matches the fingerprint of
    the same texts and the digest of the same encoder (model files, precision,
    max length, normalization, dtype), so an interrupted job resumes where it
    stopped and a changed input or encoder is re-encoded. Works with any engine (local, ray);
    ``encoder``, if given, is used instead of loading ``spec`` (local engine). No text: :class:`InputError`
    (naming the input as ``name``) before the store is touched.
    """
    texts = iter(texts)
    first = next(texts, None)
    if first is None:
        raise InputError(f"{name}: empty input" if name else "nothing to encode: empty input")
    texts = itertools.chain([first], texts)
    if engine is None:
        with LocalEngine() as local:
            return encode_to_store(texts, store_dir, spec, n_rows, shard_size, local, encoder, label, name)
    store, digest = _open_store(store_dir, spec, shard_size)
    fps: dict[int, str] = {}
    counts: list[int] = []
    skipped = 0
    try:
        # until this run's index is written the store is unfinished: an interrupted run over another input must
        # not leave the old index describing shards of two inputs
        (store.path / "index.json").unlink(missing_ok=True)
        with progress.task(label, total=n_rows) as advance:
            def jobs() -> Iterator[EncodeJob]:
                nonlocal skipped
                for i, chunk in enumerate(_chunks(texts, shard_size)):
                    fp = fingerprint(chunk)
                    fps[i] = fp
                    counts.append(len(chunk))
                    if store.is_done(i, fp, digest):
                        skipped += 1
                        advance(len(chunk))
                        continue
                    yield EncodeJob(i, chunk, fp)

            for shard, rows in engine.encode(spec, jobs(), encoder=encoder):
                store.write_shard(shard, rows, fps[shard], digest)
                advance(rows.shape[0])
        store.write_index(counts)
    finally:
        store.release()
    if skipped:
        progress.info(f"{label}: resumed, {skipped} of {len(counts)} shards were already done")
    return store


def _store_meta(spec: EncoderSpec, shard_size: int) -> dict:
    """What a store's manifest records of how its shards are made."""
    return {**encoder_record(spec), "shard_size": shard_size, "format": 2}


def check_store_output(store_dir: str | os.PathLike, spec: EncoderSpec, shard_size: int) -> None:
    """Refuse to encode into a store whose finished shards another encoder, ``--dtype`` or ``--shard-size`` made
    (the run would replace them all: an output replaced only with ``--force``). A changed input is resumed."""
    store = EmbeddingStore(store_dir)
    old = store.read_manifest()
    done = sum(1 for _ in store.path.glob("shard-*.done")) if old is not None else 0
    if not done or old.get("digest") is None:  # nothing finished, or an older store: encoded again with a warning
        return
    new = _store_meta(spec, shard_size)
    if old.get("encoder") != new["encoder"] or old.get("model") != new["model"]:
        how = f"made by {describe(old)}, not {describe(new)}"
    elif old.get("dtype") != new["dtype"]:
        how = f"stored as {old.get('dtype')}, not {new['dtype']} (--dtype)"
    elif old.get("shard_size") != shard_size:
        how = f"of {old.get('shard_size')} rows each, not {shard_size} (--shard-size)"
    elif old.get("digest") != new["digest"]:
        how = "made with other encoder settings (--precision, --max-length or --normalize-punct)"
    else:
        return
    raise UsageError(f"{store_dir}: holds {done} finished shard{'s' if done > 1 else ''} {how}; --force encodes the "
                     "store again, or write to another folder")


def _open_store(store_dir: str | os.PathLike, spec: EncoderSpec, shard_size: int) -> tuple[EmbeddingStore, str]:
    """The store for ``spec``'s shards (its finished shards kept only if made the same way) and the encoder digest."""
    meta = _store_meta(spec, shard_size)
    store = EmbeddingStore(store_dir)
    store.lock()  # before anything is said or cleared: another run may be writing it
    try:
        old = store.read_manifest()
        if old is not None and old != meta and any(store.path.glob("shard-*.done")):  # finished shards to drop
            if old.get("digest") is None:
                progress.warn(f"{store_dir}: these shards hold no encoder digest (older mineshaft): re-encoding")
            elif old.get("digest") != meta["digest"]:
                progress.warn(f"{store_dir}: encoder changed since these shards were written: re-encoding")
        return store.open(meta), meta["digest"]
    except BaseException:
        store.release()
        raise
