"""Export a trained model to ONNX (optionally int8 dynamic-quantised) for ONNX Runtime.

The exported graph is the network only: it takes padded features ``x (B, T, F)`` float32 and
``lengths (B,)`` int64 and returns ``probs (B, C)`` (softmax) and, for models with an A/V/D head,
``avd (B, 3)``. The log-Mel front-end stays outside, in :mod:`serkit.features`, shared with the
torch path: an STFT inside ONNX needs opset-17 DFT support that ONNX Runtime's CPU kernels run
slower than torch's, and keeping one front-end is what makes torch/ONNX parity exact up to
float rounding. The feature config, label names and A/V/D statistics travel in the ONNX
metadata (key ``serkit``), so :meth:`serkit.inference.Predictor.load` needs only the file.

Examples:
    >>> import tempfile, pathlib
    >>> from serkit.testing import save_tiny_checkpoint
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> out = export_onnx(save_tiny_checkpoint(d / "m.pt"), d / "m.onnx")
    >>> out.name
    'm.onnx'
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from serkit.typing import PathLike

log = logging.getLogger(__name__)

OPSET = 17


class _Wrapper:
    """Factory for the export module (kept lazy so importing serkit.export needs no torch)."""

    @staticmethod
    def build(model, has_avd: bool):
        import torch

        class Export(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, x, lengths):
                out = self.model(x, lengths)
                probs = torch.softmax(out.logits, dim=-1)
                return (probs, out.avd) if has_avd else probs

        return Export().eval()


def export_onnx(checkpoint: PathLike, out: PathLike, *, int8: bool = False, opset: int = OPSET) -> Path:
    """Write the model of a checkpoint (or run folder) as an ONNX file.

    Args:
        checkpoint: ``.pt`` checkpoint or run folder (see :func:`serkit.inference.find_checkpoint`).
        out: ``.onnx`` file to write.
        int8: apply ONNX Runtime dynamic int8 quantisation (weights int8, activations
            quantised on the fly) to MatMul/Gemm/Conv.
        opset: ONNX opset.

    Returns:
        the written path.

    Raises:
        ModelNotFoundError: no checkpoint there.
        MissingDependencyError: onnx / onnxruntime not installed (extra ``onnx``).
    """
    import torch

    from serkit.config import to_dict
    from serkit.errors import ConfigError, MissingDependencyError
    from serkit.inference import Predictor, _TorchBackend

    try:
        import onnx
    except ImportError:
        raise MissingDependencyError("onnx", "onnx") from None
    pred = Predictor.from_checkpoint(checkpoint)
    if not isinstance(pred.backend, _TorchBackend):  # pragma: no cover - from_checkpoint is torch
        raise ConfigError("export needs a torch checkpoint")
    if pred.features.name == "raw":
        raise ConfigError("export of raw-waveform models is not supported yet; export a feature-input model")
    model = pred.backend.model
    t = 200
    x = torch.from_numpy(pred._features(torch.zeros(t * 160).numpy())).unsqueeze(0)  # (1, T, F)
    x = torch.randn(2, x.shape[1], x.shape[2])
    lengths = torch.tensor([x.shape[1], x.shape[1] // 2], dtype=torch.long)
    with torch.no_grad():
        has_avd = model(x, lengths).avd is not None
    wrapper = _Wrapper.build(model, has_avd)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".fp32.onnx") if int8 else out
    names = ["probs", "avd"] if has_avd else ["probs"]
    axes = {"x": {0: "batch", 1: "frames"}, "lengths": {0: "batch"}, "probs": {0: "batch"}}
    if has_avd:
        axes["avd"] = {0: "batch"}
    torch.onnx.export(wrapper, (x, lengths), str(tmp), input_names=["x", "lengths"], output_names=names,
                      dynamic_axes=axes, opset_version=opset, dynamo=False)
    meta = {"features": to_dict(pred.features), "label_names": pred.label_names,
            "avd_stats": pred.avd_stats, "source": str(checkpoint), "int8": int8}
    stats = pred.backend.input_stats()  # global input standardisation: lets speaker adaptation run on ONNX
    if stats is not None:
        meta["input_stats"] = {"mean": stats[0].tolist(), "std": stats[1].tolist()}
    m = onnx.load(str(tmp))
    entry = m.metadata_props.add()
    entry.key, entry.value = "serkit", json.dumps(meta)
    onnx.save(m, str(tmp))
    if int8:
        try:
            from onnxruntime.quantization import QuantType, quantize_dynamic
        except ImportError:
            raise MissingDependencyError("onnxruntime", "onnx") from None
        quantize_dynamic(str(tmp), str(out), weight_type=QuantType.QInt8)
        m = onnx.load(str(out))
        if not any(p.key == "serkit" for p in m.metadata_props):
            entry = m.metadata_props.add()
            entry.key, entry.value = "serkit", json.dumps(meta)
            onnx.save(m, str(out))
        tmp.unlink()
    log.info("wrote %s", out)
    return out
