"""ONNX export: torch and ONNX Runtime agree within stated tolerances.

Tolerances: fp32 ONNX probabilities within 1e-5 (absolute) of torch on the same features, and
within 1e-4 end to end through the Predictor; int8 (dynamic quantisation) within 0.05 absolute
with the same arg-max label on the asset clips.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from serkit.inference import Predictor
from serkit.testing import save_tiny_checkpoint

pytest.importorskip("onnxruntime")
FP32_TOL = 1e-5
FP32_E2E_TOL = 1e-4
INT8_TOL = 0.05


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from serkit.export import export_onnx

    d = tmp_path_factory.mktemp("exp")
    ck = save_tiny_checkpoint(d / "model.pt", avd=True, seed=1)
    return ck, export_onnx(ck, d / "model.onnx"), export_onnx(ck, d / "model.int8.onnx", int8=True)


def test_onnx_parity_on_padded_features(exported):
    ck, fp32, _ = exported
    pt = Predictor.from_checkpoint(ck, threads=1)
    ox = Predictor.load(fp32, threads=1)
    assert ox.backend.kind == "onnx" and ox.label_names == pt.label_names and ox.avd_stats == pt.avd_stats
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(3, 137, 16, generator=g) * 3 - 6).numpy()
    lengths = np.array([137, 90, 12], dtype=np.int64)
    p1, a1 = pt.backend(x, lengths)
    p2, a2 = ox.backend(x, lengths)
    assert np.abs(p1 - p2).max() < FP32_TOL
    assert np.abs(a1 - a2).max() < FP32_TOL


def test_onnx_parity_end_to_end(exported, assets):
    ck, fp32, int8 = exported
    files = sorted(assets.glob("*.wav"))
    res = {k: list(Predictor.load(m, threads=1).predict_batch(files)) for k, m in
           (("torch", ck), ("fp32", fp32), ("int8", int8))}
    for a, b, c in zip(res["torch"], res["fp32"], res["int8"], strict=False):
        s1, s2, s3 = (np.array(list(r["scores"].values())) for r in (a, b, c))
        assert np.abs(s1 - s2).max() < FP32_E2E_TOL
        assert abs(a["arousal"] - b["arousal"]) < FP32_E2E_TOL
        assert np.abs(s1 - s3).max() < INT8_TOL
        assert a["label"] == b["label"]


def test_int8_is_smaller(exported):
    """int8 stores the weights in a quarter of the bytes. Compared on the weights: in a model this
    tiny the graph's node names outweigh them, so whole-file sizes differ by chance."""
    import onnx

    def weight_bytes(path):
        return sum(len(t.raw_data) for t in onnx.load(str(path)).graph.initializer)

    _, fp32, int8 = exported
    assert weight_bytes(int8) < 0.5 * weight_bytes(fp32)


def test_export_cli(tmp_path, capsys):
    from serkit.cli.main import main

    ck = save_tiny_checkpoint(tmp_path / "run" / "model.pt")
    assert main(["export", str(tmp_path / "run"), "--format", "onnx"]) == 0
    assert (tmp_path / "run" / "model.onnx").is_file()
    assert capsys.readouterr().out.strip().endswith("model.onnx")
    assert ck.is_file()
