"""What is needed to load the same encoder again, in this process or another one."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from ..errors import UsageError
from ..progress import info
from ..scripts import normalize_language
from .base import Encoder
from .loading import load_encoder
from .names import check_name, resolve_default
from .precision import check_device, check_precision

#: precisions in which vectors are stored
DTYPES = ("float32", "float16")
#: ISO 639-1 language codes: what ``--normalize-punct`` takes (besides the 3-letter codes
#: :func:`~mineshaft.scripts.normalize_language` maps to them)
ISO_639_1 = frozenset((
    "aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el "
    "en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it "
    "iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt "
    "my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl "
    "sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo "
    "za zh zu").split())
#: languages Moses punctuation normalization has rules of its own for (sacremoses; ``cz`` is its spelling of cs)
PUNCT_RULES = ("en", "de", "es", "fr", "cs")


def punct_language(code: str) -> str:
    """A ``--normalize-punct`` code as sacremoses takes it: ``deu`` → ``de``, ``de-AT`` → ``de``, ``cz`` → ``cs``;
    a two-letter code that is no ISO 639-1 code is refused (sacremoses would apply its general rules to a typo
    silently); three letters pass as an ISO 639-3 code (ast, yue: the general rules)."""
    norm = normalize_language(code)
    base = normalize_language(norm.split("-")[0])  # de-at: German's rules
    base = "cs" if base == "cz" else base
    if base not in ISO_639_1 and not (len(base) == 3 and base.isascii() and base.isalpha()):
        raise UsageError(f"--normalize-punct {code}: not an ISO 639-1 or 639-3 language code, such as en or deu (Moses "
                         f"punctuation normalization has rules of its own for {', '.join(PUNCT_RULES)}, and the "
                         "same general rules for every other language)")
    return base


@dataclass(frozen=True)
class EncoderSpec:
    """An encoder by name plus how to load and run it; hashable, picklable, cheap to send to workers.

    ``name`` is resolved at once (``default`` becomes the concrete shipped model, so fingerprints
    name it) and checked (a path to nothing or an unknown hub id fails before any input is read).
    ``batch_size``, ``punct_lang`` and ``dtype`` say how texts become vectors (see :mod:`mineshaft.embed`).
    ``device``, ``precision`` and ``punct_lang`` are checked too, without torch (``punct_lang`` becomes the code
    sacremoses takes: :func:`punct_language`).
    """

    name: str
    device: str = "auto"
    max_length: int | None = None
    threads: int | None = None
    batch_size: int = 64
    punct_lang: str | None = None
    dtype: str = "float16"
    precision: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", resolve_default(self.name))
        check_name(self.name)
        check_device(self.device)  # before torch is imported, so a typo is refused at once
        check_precision(self.precision, self.device)
        if self.punct_lang:
            object.__setattr__(self, "punct_lang", punct_language(self.punct_lang))

    def load(self) -> Encoder:
        """The loaded encoder (logs its name and dimension); ``threads`` limits torch's CPU threads."""
        encoder = load_encoder(self.name, device=self.device, max_length=self.max_length, threads=self.threads,
                               precision=self.precision)
        if self.threads and "torch" in sys.modules:  # a torch encoder (transformers models take no threads)
            sys.modules["torch"].set_num_threads(int(self.threads))
        info(f"encoder: {encoder.name} (dim {encoder.dim})")
        return encoder
