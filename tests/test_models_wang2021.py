"""Wang et al. 2021 CNN-BiLSTM-transformer model (cnn_bilstm_tf)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from _model_checks import (
    check_backward_reaches_every_parameter,
    check_overfits_one_batch,
    check_padding_invariance,
    random_batch,
)
from serkit.errors import ConfigError, UnknownKeyError
from serkit.models import MODELS, model_config_from_dict
from serkit.models.base import count_parameters
from serkit.models.cnn_bilstm_tf import CnnBilstmTfConfig, build_cnn_bilstm_tf, tiny_config


def _model(num_classes: int = 4, **kw):
    return build_cnn_bilstm_tf(dataclasses.replace(tiny_config(), **kw), input_dim=24, num_classes=num_classes)


@pytest.mark.parametrize("aggregation", ["attention", "recurrence"])
def test_tiny_config_builds_with_shapes(aggregation):
    assert MODELS["cnn_bilstm_tf"] == (CnnBilstmTfConfig, build_cnn_bilstm_tf)
    m = _model(aggregation=aggregation).eval()
    out = m(*random_batch())
    assert out.logits.shape == (4, 4) and torch.isfinite(out.logits).all()
    assert out.embeddings["before_transformer"].shape == (4, 4 * 8)
    assert out.embeddings["after_transformer"].shape == (4, 4 * 8)
    assert (out.attn is None) == (aggregation == "recurrence")
    assert not torch.allclose(out.embeddings["before_transformer"], out.embeddings["after_transformer"])


def test_zero_transformer_layers():
    m0 = _model(num_transformer_layers=0).eval()
    out = m0(*random_batch())
    torch.testing.assert_close(out.embeddings["before_transformer"], out.embeddings["after_transformer"])
    assert count_parameters(m0) < count_parameters(_model(num_transformer_layers=2))


@pytest.mark.parametrize("aggregation", ["attention", "recurrence"])
def test_backward_reaches_every_parameter(aggregation):
    check_backward_reaches_every_parameter(_model(aggregation=aggregation), *random_batch())


def test_overfits_one_batch():
    check_overfits_one_batch(_model(), *random_batch(), num_classes=4)


@pytest.mark.parametrize("aggregation", ["attention", "recurrence"])
def test_padded_batch_equals_one_by_one(aggregation):
    check_padding_invariance(_model(aggregation=aggregation), *random_batch(b=3, t=37))


def test_token_order_does_not_matter_without_positional_encoding():
    m = _model().eval()
    z0 = torch.randn(2, 4, 8)
    perm = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        torch.testing.assert_close(m.transformer(z0)[:, perm], m.transformer(z0[:, perm]), atol=1e-5, rtol=1e-5)


def test_one_frame_is_handled_and_zero_frames_raise():
    m = _model().eval()
    assert torch.isfinite(m(torch.randn(1, 1, 24), torch.tensor([1])).logits).all()
    with pytest.raises(ValueError, match="lengths must lie"):
        m(torch.randn(1, 4, 24), torch.tensor([0]))


def test_bad_configs_give_clear_errors():
    with pytest.raises(UnknownKeyError, match="attention"):
        _model(aggregation="mean")
    with pytest.raises(ConfigError, match="must divide"):
        _model(transformer_heads=3)
    with pytest.raises(ConfigError, match=">= 0"):
        _model(num_transformer_layers=-1)
    with pytest.raises(ConfigError, match="token_dim"):
        _model(token_dim=4096)
    with pytest.raises(UnknownKeyError, match="num_layers"):
        model_config_from_dict({"name": "cnn_bilstm_tf", "num_layers": 5})
