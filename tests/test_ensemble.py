"""Ensemble model: merged checkpoints average their members' probabilities, also through ONNX."""

from __future__ import annotations

import numpy as np
import pytest

from serkit.errors import ConfigError
from serkit.inference import Predictor
from serkit.models.ensemble import merge_checkpoints
from serkit.testing import save_tiny_checkpoint


def test_merged_checkpoint_averages_members(tmp_path):
    a = save_tiny_checkpoint(tmp_path / "a.pt", seed=1)
    b = save_tiny_checkpoint(tmp_path / "b.pt", seed=2)
    ens = Predictor.load(merge_checkpoints([a, b], tmp_path / "ens.pt"), threads=1)
    pa, pb = Predictor.load(a, threads=1), Predictor.load(b, threads=1)
    x = np.random.default_rng(0).standard_normal((2, 60, 16)).astype(np.float32) * 3 - 6
    lens = np.array([60, 33])
    want = (pa.backend(x, lens)[0] + pb.backend(x, lens)[0]) / 2
    np.testing.assert_allclose(ens.backend(x, lens)[0], want, atol=1e-6)


def test_ensemble_exports_to_onnx(tmp_path):
    pytest.importorskip("onnxruntime")
    from serkit.export import export_onnx

    ck = merge_checkpoints([save_tiny_checkpoint(tmp_path / f"{i}.pt", seed=i) for i in range(2)], tmp_path / "e.pt")
    ox = Predictor.load(export_onnx(ck, tmp_path / "e.onnx"), threads=1)
    pt = Predictor.load(ck, threads=1)
    x = np.random.default_rng(1).standard_normal((1, 40, 16)).astype(np.float32)
    assert np.abs(ox.backend(x, np.array([40]))[0] - pt.backend(x, np.array([40]))[0]).max() < 1e-5


def test_members_must_share_labels(tmp_path):
    a = save_tiny_checkpoint(tmp_path / "a.pt")
    b = save_tiny_checkpoint(tmp_path / "b.pt", labels=("x", "y"))
    with pytest.raises(ConfigError, match="label_names"):
        merge_checkpoints([a, b], tmp_path / "e.pt")


def test_ensemble_representation_round_trip_and_adaptation_levels():
    """represent + from_representation (speaker adaptation) equals forward, for each shared level."""
    import torch

    from serkit.models.ensemble import build_ensemble, tiny_config

    m = build_ensemble(tiny_config(), input_dim=4, num_classes=3).eval()
    x, lengths = torch.randn(2, 20, 4), torch.tensor([20, 11])
    assert m.adapt_levels == ("pooled", "embedding")
    for level in m.adapt_levels:
        h = m.represent(x, lengths, level)
        assert torch.allclose(m(x, lengths).logits, m.from_representation(h, level).logits, atol=1e-6)
    with pytest.raises(ValueError, match="does not match"):
        m.from_representation(torch.zeros(2, 5), "embedding")
