"""Model registry: ``MODELS`` maps a recipe's ``model.name`` to ``(ConfigClass, builder)``.

Classical models (scikit-learn) take utterance-level feature vectors; neural models are
``nn.Module`` builders ``build(cfg, *, num_classes, input_dim, vocab_size)``. Callers never index
``MODELS`` themselves: a recipe's model section becomes its dataclass once
(:func:`model_config_from_dict`, called by :func:`serkit.experiment.recipe_from_dict` and by
the checkpoint loader), and that dataclass becomes a model through :func:`build_model`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from serkit.config import from_dict
from serkit.errors import ConfigError, UnknownKeyError
from serkit.features.cpc import CpcConfig, build_cpc
from serkit.models.classical import LinearSvmConfig, build_linear_svm
from serkit.models.cnn_bilstm_tf import CnnBilstmTfConfig, build_cnn_bilstm_tf
from serkit.models.cnn_blstm_attn import CnnBlstmAttnConfig, build_cnn_blstm_attn
from serkit.models.compact_cnn import CompactCnnConfig, build_compact_cnn
from serkit.models.cpc_ccc import CpcCccConfig, build_cpc_ccc
from serkit.models.ensemble import EnsembleConfig, build_ensemble
from serkit.models.fusion import FusionConfig, build_fusion
from serkit.models.ks_transformer import KsTransformerConfig, build_ks_transformer
from serkit.models.pooled_mlp import PooledMlpConfig, build_pooled_mlp
from serkit.models.w2v2_ctc import W2v2CtcConfig, build_w2v2_ctc

MODELS: dict[str, tuple[type, Any]] = {
    "linear_svm": (LinearSvmConfig, build_linear_svm),
    "pooled_mlp": (PooledMlpConfig, build_pooled_mlp),
    "cnn_blstm_attn": (CnnBlstmAttnConfig, build_cnn_blstm_attn),
    "cnn_bilstm_tf": (CnnBilstmTfConfig, build_cnn_bilstm_tf),
    "cpc_ccc": (CpcCccConfig, build_cpc_ccc),
    "w2v2_ctc": (W2v2CtcConfig, build_w2v2_ctc),
    "ks_transformer": (KsTransformerConfig, build_ks_transformer),
    "compact_cnn": (CompactCnnConfig, build_compact_cnn),
    "ensemble": (EnsembleConfig, build_ensemble),
    "fusion": (FusionConfig, build_fusion),
}

#: self-supervised speech encoders pretrained by ``serkit pretrain`` (no emotion head). A
#: checkpoint's ``model`` section may name one; a recipe's may not (recipes use them through
#: ``features.encoder`` or a model's encoder path)
PRETRAINED_ENCODERS: dict[str, tuple[type, Any]] = {
    "cpc": (CpcConfig, build_cpc),
}

_NAME_OF_CONFIG = {cls: name for name, (cls, _) in (MODELS | PRETRAINED_ENCODERS).items()}

#: models trained with scikit-learn on one vector per utterance
CLASSICAL = frozenset({"linear_svm"})
#: score fusion of several member recipes (run fold by fold by :func:`serkit.experiment.run_fold`)
FUSION = frozenset({"fusion"})


def model_config_from_dict(d: Mapping[str, Any], *, encoders: bool = False) -> Any:
    """Resolve a recipe's ``model`` section to its config dataclass.

    Args:
        d: the section.
        encoders: also accept a self-supervised encoder (:data:`PRETRAINED_ENCODERS`; checkpoints only).

    Raises:
        UnknownKeyError: unknown model name or key (listing the valid ones).
        ConfigError: a recipe names a self-supervised encoder as its model.
    """
    name = d.get("name")
    if name in PRETRAINED_ENCODERS:
        if not encoders:
            raise ConfigError(f"model.name {name!r} is a self-supervised encoder without an emotion head; pretrain "
                              f"it with serkit pretrain {name} and use it as features.encoder (e.g. bundled:{name}); "
                              f"emotion models: {sorted(MODELS)}")
        return from_dict(PRETRAINED_ENCODERS[name][0], d, where="model")
    if name not in MODELS:
        raise UnknownKeyError("model", str(name), MODELS)
    return from_dict(MODELS[name][0], d, where="model")


def build_model(model_cfg: Any, *, input_dim: int | None = None, num_classes: int | None = None,
                vocab_size: int | None = None, seed: int = 0) -> Any:
    """Build the model a typed model section describes (random weights).

    Args:
        model_cfg: a model config dataclass (``ExperimentConfig.model``), e.g. ``CompactCnnConfig()``.
        input_dim: feature bins F of the input (neural models).
        num_classes: emotion classes C (neural models).
        vocab_size: CTC characters including blank, for models with a CTC head; None = no CTC head.
        seed: random state of classical (scikit-learn) models.

    Returns:
        an ``nn.Module`` for neural models, a scikit-learn estimator for classical ones, an
        unfitted :class:`serkit.models.fusion.ScoreFusion` for ``fusion``.

    Raises:
        UnknownKeyError: ``model_cfg`` is not a registered model config.
        ConfigError: a neural model without ``input_dim`` / ``num_classes``.

    Examples:
        >>> from serkit.models.compact_cnn import tiny_config
        >>> type(build_model(tiny_config(), input_dim=16, num_classes=4)).__name__
        'CompactCnn'
    """
    name = _NAME_OF_CONFIG.get(type(model_cfg))
    if name is None:
        raise UnknownKeyError("model config", type(model_cfg).__name__, [c.__name__ for c, _ in MODELS.values()])
    if name in PRETRAINED_ENCODERS:
        return PRETRAINED_ENCODERS[name][1](model_cfg)
    builder = MODELS[name][1]
    if name in CLASSICAL or name in FUSION:
        return builder(model_cfg, seed=seed)
    if input_dim is None or num_classes is None:
        raise ConfigError(f"model {name} needs input_dim and num_classes, got {input_dim} and {num_classes}")
    return builder(model_cfg, input_dim=int(input_dim), num_classes=int(num_classes), vocab_size=vocab_size)


__all__ = ["CLASSICAL", "FUSION", "MODELS", "PRETRAINED_ENCODERS", "build_model", "model_config_from_dict"]
