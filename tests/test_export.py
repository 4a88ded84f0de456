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


# ---------------------------------------------------------------- issue 17: every family, paths, runtime errors
def _config_families() -> list[tuple[str, str]]:
    """(model name, input kind) of every recipe in configs/ ('raw' waves, 'text' or 'frames')."""
    from pathlib import Path

    import yaml

    out = set()
    for f in sorted((Path(__file__).resolve().parents[1] / "configs").rglob("*.yaml")):
        d = yaml.safe_load(f.read_text())
        m, feats = d["model"], d.get("features") or {}
        kind = "raw" if feats.get("name") == "raw" else "text" if m.get("text_encoder") else "frames"
        out.add((m["name"], kind))
    return sorted(out)


def _tiny_family_checkpoint(path, name: str, kind: str):
    """A random-weight tiny model of a family, saved as a serkit checkpoint (the real loading path)."""
    import dataclasses
    import importlib

    from serkit.config import FeatureConfig, to_dict
    from serkit.models import MODELS
    from serkit.models.checkpoint import Checkpoint

    feats = FeatureConfig(name="raw") if kind == "raw" else FeatureConfig(name="logmel", n_mels=16)
    input_dim = 1 if kind == "raw" else 16
    if name == "linear_svm":
        mcfg, state = MODELS[name][0](), {}
    else:
        mod = importlib.import_module(MODELS[name][1].__module__)
        mcfg = mod.tiny_config()
        if name == "ks_transformer":
            mcfg = dataclasses.replace(mcfg, modalities="audio", text_encoder=None) if kind != "text" else mcfg
        state = {}
        if name not in __import__("serkit.export", fromlist=["x"]).UNSUPPORTED and kind != "raw":
            torch.manual_seed(0)
            state = MODELS[name][1](mcfg, input_dim=input_dim, num_classes=3).eval().state_dict()
    config = {"data": {}, "features": to_dict(feats), "model": to_dict(mcfg), "train": {}, "eval": {}}
    return Checkpoint(config=config, state_dict=state, label_names=["angry", "happy", "sad"],
                      input_dim=input_dim).save(path)


@pytest.mark.parametrize("name,kind", _config_families())
def test_every_config_family_exports_with_parity_or_is_refused(name, kind, tmp_path, assets):
    from serkit.export import UNSUPPORTED, ExportError, export_onnx

    ck = _tiny_family_checkpoint(tmp_path / "model.pt", name, kind)
    out = tmp_path / "model.onnx"
    if name in UNSUPPORTED or kind in ("raw", "text"):
        with pytest.raises(ExportError, match="cannot export .*(instead|torch checkpoint)"):
            export_onnx(ck, out)
        assert not out.exists() and not list(tmp_path.glob("*.onnx"))
        return
    export_onnx(ck, out)
    files = sorted(assets.glob("*.wav"))  # lengths other than the traced example's
    pt = list(Predictor.load(ck, threads=1).predict_batch(files))
    ox = list(Predictor.load(out, threads=1).predict_batch(files))
    for a, b in zip(pt, ox, strict=True):
        assert "error" not in b, b
        assert max(abs(a["scores"][c] - b["scores"][c]) for c in a["scores"]) < FP32_E2E_TOL
    # a batch of several lengths through the ONNX graph directly
    g = torch.Generator().manual_seed(3)
    x = torch.randn(3, 211, 16, generator=g).numpy()
    lengths = np.array([211, 150, 7], dtype=np.int64)
    p1, _ = Predictor.load(ck, threads=1).backend(x, lengths)
    p2, _ = Predictor.load(out, threads=1).backend(x, lengths)
    assert np.abs(p1 - p2).max() < FP32_E2E_TOL


def test_export_path_and_fold_choice(tmp_path, capsys):
    from serkit.cli.main import main

    run = tmp_path / "eval_run"
    for f in ("03", "08"):
        save_tiny_checkpoint(run / f"fold_{f}" / "checkpoint.pt", seed=int(f))
    assert main(["export", str(run), "--format", "onnx"]) == 1
    err = capsys.readouterr().err
    assert "--fold" in err and "03" in err and "08" in err
    assert main(["export", str(run), "--fold", "08", "--format", "onnx"]) == 0
    assert capsys.readouterr().out.strip() == str(run / "model.onnx")
    assert "fold_08" in Predictor.load(run / "model.onnx").backend.meta["source"]
    assert main(["export", str(run), "--fold", "99"]) == 1
    assert "its folds are ['03', '08']" in capsys.readouterr().err
    one = tmp_path / "holdout_run"  # a one-fold run (holdout): the documented RUN_DIR/model.onnx
    save_tiny_checkpoint(one / "fold_holdout" / "checkpoint.pt")
    assert main(["export", str(one), "--format", "onnx"]) == 0
    assert (one / "model.onnx").is_file() and not (one / "fold_holdout" / "model.onnx").exists()


def test_onnx_runtime_errors_are_per_file_lines(tmp_path, assets, capsys):
    """A graph that froze a length at trace time (what the old export wrote for some models) fails
    on other lengths: each file gets a {"file", "error"} line instead of a traceback."""
    import json

    import onnx

    from serkit.cli.main import main
    from serkit.export import _add_metadata, _wrapper
    from serkit.models.checkpoint import load_checkpoint

    ck = load_checkpoint(save_tiny_checkpoint(tmp_path / "m.pt"))
    model = ck.build_model()

    class Frozen(torch.nn.Module):  # reshapes with the traced length: the trace keeps it as a constant
        def __init__(self) -> None:
            super().__init__()
            self.inner = _wrapper(model, 1.0, False)

        def forward(self, x, lengths):
            return self.inner(x.reshape(1, 120, 16), lengths[:1])

    path = tmp_path / "frozen.onnx"
    torch.onnx.export(Frozen().eval(), (torch.randn(1, 120, 16), torch.tensor([120])), str(path),
                      input_names=["x", "lengths"], output_names=["probs"],
                      dynamic_axes={"x": {0: "batch", 1: "frames"}, "lengths": {0: "batch"}}, dynamo=False)
    _add_metadata(onnx, path, {"features": {"name": "logmel", "n_mels": 16}, "label_names": ck.label_names})
    files = [str(f) for f in sorted(assets.glob("*.wav"))]
    rc = main(["predict", *files, "--model", str(path), "--format", "json"])
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert rc == 1 and [r["file"] for r in lines] == files
    assert all(set(r) == {"file", "error"} and "ONNX Runtime" in r["error"] and "serkit export" in r["error"]
               for r in lines)


def test_export_carries_temperature_and_input_stats_quietly(tmp_path, capfd):
    import onnxruntime as ort

    from serkit.export import export_onnx
    from serkit.models.checkpoint import load_checkpoint

    src = save_tiny_checkpoint(tmp_path / "m.pt")
    ck = load_checkpoint(src)
    ck.temperature = 2.5
    ck.save(src)
    capfd.readouterr()
    out = export_onnx(src, tmp_path / "m.int8.onnx", int8=True)
    err = capfd.readouterr().err
    assert "pre-processing" not in err and "PackPadded" not in err
    fp32 = export_onnx(src, tmp_path / "m.onnx")
    meta = Predictor.load(out).backend.meta
    assert meta["temperature"] == 2.5 and len(meta["input_stats"]["mean"]) == 16
    x = torch.randn(2, 90, 16)
    lengths = torch.tensor([90, 40])
    with torch.no_grad():
        ref = torch.softmax(ck.build_model()(x, lengths).logits / 2.5, -1).numpy()
    got = ort.InferenceSession(str(fp32)).run(None, {"x": x.numpy(), "lengths": lengths.numpy()})[0]
    assert np.abs(ref - got).max() < FP32_TOL


def test_export_output_is_quiet(tmp_path, caplog, capfd):
    """Issue 17: export printed ONNX Runtime's int8 pre-processing advice, per-tensor INFO lines and
    the tracer's PackPadded shape-inference warning three times."""
    import logging

    from serkit.cli.main import main

    save_tiny_checkpoint(tmp_path / "run" / "model.pt")
    with caplog.at_level(logging.INFO):
        assert main(["export", str(tmp_path / "run"), "--format", "onnx", "--int8"]) == 0
    noisy = [r.getMessage() for r in caplog.records if "Quantization parameters" in r.getMessage()
             or "pre-process" in r.getMessage()]
    assert not noisy, noisy[:3]
    assert capfd.readouterr().out.strip() == str(tmp_path / "run" / "model.int8.onnx")
    from serkit.export import export_onnx

    lstm = _tiny_family_checkpoint(tmp_path / "li2019.pt", "cnn_blstm_attn", "frames")
    capfd.readouterr()
    export_onnx(lstm, tmp_path / "li2019.onnx")
    err = capfd.readouterr().err
    assert "PackPadded" not in err and "PadPacked" not in err
