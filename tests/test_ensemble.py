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
