"""Model registry: ``MODELS`` maps a recipe's ``model.name`` to ``(ConfigClass, builder)``.

Classical models (scikit-learn) take utterance-level feature vectors; neural models are
``nn.Module`` builders ``build(cfg, *, num_classes, input_dim, **task_sizes)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from serkit.config import from_dict
from serkit.errors import UnknownKeyError
from serkit.models.classical import LinearSvmConfig, build_linear_svm
from serkit.models.cnn_bilstm_tf import CnnBilstmTfConfig, build_cnn_bilstm_tf
from serkit.models.cnn_blstm_attn import CnnBlstmAttnConfig, build_cnn_blstm_attn
from serkit.models.compact_cnn import CompactCnnConfig, build_compact_cnn
from serkit.models.cpc_ccc import CpcCccConfig, build_cpc_ccc
from serkit.models.ensemble import EnsembleConfig, build_ensemble
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
}

#: models trained with scikit-learn on one vector per utterance
CLASSICAL = frozenset({"linear_svm"})


def model_config_from_dict(d: Mapping[str, Any]) -> Any:
    """Resolve a recipe's ``model`` section to its config dataclass.

    Raises:
        UnknownKeyError: unknown model name or key (listing the valid ones).
    """
    name = d.get("name")
    if name not in MODELS:
        raise UnknownKeyError("model", str(name), MODELS)
    return from_dict(MODELS[name][0], d, where="model")


__all__ = ["CLASSICAL", "MODELS", "model_config_from_dict"]
