"""serkit: speech emotion recognition with honest, speaker-independent protocols.

The public API, name by name. Heavy modules (torch models, inference) load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it (imported lazily so ``import serkit`` stays fast)
_API = {
    "AudioError": "serkit.errors",
    "ConfigError": "serkit.errors",
    "SpeakerOverlapError": "serkit.errors",
    "UnknownKeyError": "serkit.errors",
    "ExperimentConfig": "serkit.config",
    "Utterance": "serkit.data.manifest",
    "read_jsonl": "serkit.data.manifest",
    "write_jsonl": "serkit.data.manifest",
    "load_audio": "serkit.data.audio",
    "load_corpus": "serkit.data.corpora",
    "make_folds": "serkit.data.splits",
    "recipe_folds": "serkit.data.splits",
    "load_recipe": "serkit.experiment",
    "recipe_from_dict": "serkit.experiment",
    "build_model": "serkit.models",
    "Checkpoint": "serkit.models.checkpoint",
    "load_checkpoint": "serkit.models.checkpoint",
    "extract_features": "serkit.features.extract",
    "run_experiment": "serkit.experiment",
    "Report": "serkit.eval.report",
    "CharVocab": "serkit.data.vocab",
    "SslEncoder": "serkit.features.ssl",
    "character_error_rate": "serkit.eval.metrics",
    "Predictor": "serkit.inference",
    "export_onnx": "serkit.export",
}
_ALIASES = {"load_audio": "load"}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module(_API[name]), _ALIASES.get(name, name))
    raise AttributeError(f"module 'serkit' has no attribute {name!r}")
