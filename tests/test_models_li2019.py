"""Li et al. 2019 CNN-BLSTM-attention model with the gender head (cnn_blstm_attn)."""

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
from serkit.models.cnn_blstm_attn import CnnBlstmAttnConfig, build_cnn_blstm_attn, tiny_config


def _model(num_classes: int = 4, **kw):
    return build_cnn_blstm_attn(dataclasses.replace(tiny_config(), **kw), input_dim=24, num_classes=num_classes)


def test_registered_and_tiny_config_builds_with_shapes():
    assert MODELS["cnn_blstm_attn"] == (CnnBlstmAttnConfig, build_cnn_blstm_attn)
    m = _model().eval()
    x, lengths = random_batch()
    out = m(x, lengths)
    assert out.logits.shape == (4, 4) and out.aux["gender"].shape == (4, 2)
    assert out.embedding.shape == (4, 2 * 2 * 16)
    assert out.attn.shape == (4, 2, 12)  # (B, H, T/4)
    assert torch.isfinite(out.logits).all()
    torch.testing.assert_close(out.attn.sum(-1), torch.ones(4, 2))


def test_gender_head_is_optional():
    m = _model(gender_head=False)
    out = m(*random_batch())
    assert "gender" not in out.aux
    assert not any(n.startswith("gender") for n, _ in m.named_parameters())


def test_backward_reaches_every_parameter():
    check_backward_reaches_every_parameter(_model(), *random_batch(), use_gender=True)


def test_overfits_one_batch():
    check_overfits_one_batch(_model(), *random_batch(), num_classes=4)


def test_padded_batch_equals_one_by_one():
    check_padding_invariance(_model(), *random_batch(b=3, t=37))


def test_one_frame_is_handled_and_zero_frames_raise():
    m = _model().eval()
    out = m(torch.randn(2, 1, 24), torch.tensor([1, 1]))
    assert out.logits.shape == (2, 4) and torch.isfinite(out.logits).all()
    with pytest.raises(ValueError, match="lengths must lie"):
        m(torch.randn(2, 5, 24), torch.tensor([5, 0]))
    with pytest.raises(ValueError, match="expected 24 features"):
        m(torch.randn(2, 5, 20), torch.tensor([5, 5]))


def test_bad_configs_give_clear_errors():
    with pytest.raises(UnknownKeyError, match="lstm_units"):
        model_config_from_dict({"name": "cnn_blstm_attn", "lstm_units": 3})
    with pytest.raises(ConfigError, match="one value per block"):
        _model(channels=(4, 8, 8))
    with pytest.raises(ConfigError, match="odd"):
        _model(kernel_size=4)
    with pytest.raises(ConfigError, match="attn_heads"):
        _model(attn_heads=0)
    with pytest.raises(ConfigError, match="must be an integer"):
        model_config_from_dict({"name": "cnn_blstm_attn", "lstm_hidden": "big"})
