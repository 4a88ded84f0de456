"""Export a trained model to ONNX (optionally int8 dynamic-quantised) for ONNX Runtime.

The exported graph is the network only: it takes padded features ``x (B, T, F)`` float32 and
``lengths (B,)`` int64, both with dynamic batch and length, and returns ``probs (B, C)``
(softmax of the logits divided by the checkpoint's calibration ``temperature``) and, for models
with an A/V/D head, ``avd (B, 3)``. The feature front-end stays outside, in
:mod:`serkit.features`, shared with the torch path: an STFT inside ONNX needs opset-17 DFT
support that ONNX Runtime's CPU kernels run slower than torch's, and keeping one front-end is
what makes torch/ONNX parity exact up to float rounding. The feature config, label names, A/V/D
statistics, temperature and the model's input statistics travel in the ONNX metadata (key
``serkit``), so :meth:`serkit.inference.Predictor.load` needs only the file.

Every export is checked before it is kept: ONNX Runtime and torch must agree (within
:data:`PARITY_TOL`) on padded batches whose lengths differ from the traced example, so a graph
that froze a length at trace time is refused instead of failing later on real files. Model
families whose graphs cannot be exported with dynamic lengths are refused up front
(:data:`UNSUPPORTED`), each with what to use instead.

Examples:
    >>> import tempfile, pathlib
    >>> from serkit.testing import save_tiny_checkpoint
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> out = export_onnx(save_tiny_checkpoint(d / "m.pt"), d / "m.onnx")
    >>> out.name
    'm.onnx'
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from serkit.errors import ConfigError
from serkit.typing import PathLike

log = logging.getLogger(__name__)

OPSET = 17
#: largest |torch - ONNX Runtime| probability difference accepted by the export's parity check
PARITY_TOL = 1e-4
_USE_TORCH = "predict with the torch checkpoint instead (serkit predict --model RUN_DIR)"
#: model families whose graph cannot be exported with dynamic lengths, and why
UNSUPPORTED = {
    "w2v2_ctc": "reads raw waveforms through a wav2vec2-style encoder, which this export does not trace "
                "(the graph takes feature frames)",
    "ks_transformer": "selects its key-sparse attention with torch.sort, which the ONNX exporter cannot write",
    "cpc_ccc": "its attention pooling (nn.MultiheadAttention with a padding mask) traces with the example's "
               "length frozen into a Reshape, so other lengths fail",
    "linear_svm": "is a scikit-learn model without a torch checkpoint",
    "fusion": "combines the scores of several systems (scikit-learn and torch) fitted fold by fold, with no "
              "single torch graph",
}


class ExportError(ConfigError):
    """A model that cannot be exported to ONNX (the message says why and what to do instead)."""


def check_exportable(model_name: str, feature_name: str) -> None:
    """Refuse model families and inputs that cannot become a dynamic-length ONNX graph.

    Raises:
        ExportError: naming the reason and the alternative.
    """
    if model_name in UNSUPPORTED:
        raise ExportError(f"cannot export a {model_name} model to ONNX: it {UNSUPPORTED[model_name]}; "
                          f"{_USE_TORCH}. Exportable families: compact_cnn, cnn_blstm_attn, cnn_bilstm_tf, ensembles of them")
    if feature_name == "raw":
        raise ExportError(f"cannot export {model_name} on raw waveforms (features.name=raw) to ONNX: the graph "
                          f"takes feature frames; {_USE_TORCH}")


def _wrapper(model, temperature: float, has_avd: bool):
    import torch

    class Export(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x, lengths):
            out = self.model(x, lengths)
            # calibration baked into the graph: the ONNX probs equal the torch Predictor's
            probs = torch.softmax(out.logits / temperature, dim=-1)
            return (probs, out.avd) if has_avd else probs

    return Export().eval()


def _example(features, input_dim: int, seconds: float, batch: int, seed: int):
    """Padded features of ``batch`` random signals of decreasing length (from the feature config)."""
    import torch

    from serkit.features.extract import compute_features

    rng = np.random.default_rng(seed)
    n = compute_features((rng.standard_normal(int(seconds * 16000)) * 0.1).astype(np.float32), features).shape[0]
    lengths = torch.tensor([max(1, n - i * n // (batch + 1)) for i in range(batch)], dtype=torch.long)
    x = torch.from_numpy(rng.standard_normal((batch, n, input_dim)).astype(np.float32))
    return x, lengths


def export_onnx(checkpoint: PathLike, out: PathLike, *, int8: bool = False, opset: int = OPSET) -> Path:
    """Write the model of a checkpoint (or run folder) as an ONNX file with dynamic lengths.

    Args:
        checkpoint: ``.pt`` checkpoint or run folder (see :func:`serkit.models.checkpoint.find_checkpoint`).
        out: ``.onnx`` file to write.
        int8: apply ONNX Runtime dynamic int8 quantisation (weights int8, activations
            quantised on the fly) to MatMul/Gemm/Conv.
        opset: ONNX opset.

    Returns:
        the written path.

    Raises:
        CheckpointError: no checkpoint there.
        ExportError: a model family that cannot be exported (:data:`UNSUPPORTED`), or an export
            whose ONNX Runtime outputs differ from torch (nothing is written then).
        MissingDependencyError: onnx / onnxruntime not installed (extra ``onnx``).
    """
    import torch

    from serkit.config import to_dict
    from serkit.errors import MissingDependencyError
    from serkit.inference import model_input_stats
    from serkit.models.checkpoint import load_checkpoint

    try:
        import onnx
        import onnxruntime  # noqa: F401 - the parity check needs it
    except ImportError:
        raise MissingDependencyError("onnx", "onnx") from None
    ck = load_checkpoint(checkpoint)
    features = ck.features
    check_exportable(ck.model_config.name, features.name)
    if getattr(ck.model_config, "text_encoder", None):
        raise ExportError(f"cannot export {ck.model_config.name} with a text encoder: it needs transcripts; {_USE_TORCH}")
    model = ck.build_model()
    x, lengths = _example(features, ck.input_dim, 2.0, 2, seed=0)
    with torch.no_grad():
        has_avd = model(x, lengths).avd is not None
    wrapper = _wrapper(model, float(ck.temperature or 1.0), has_avd)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp.onnx")
    names = ["probs", "avd"] if has_avd else ["probs"]
    axes = {"x": {0: "batch", 1: "frames"}, "lengths": {0: "batch"}, "probs": {0: "batch"}}
    if has_avd:
        axes["avd"] = {0: "batch"}
    with warnings.catch_warnings(), _native_stderr_to_log():  # tracer warnings: the parity check decides
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, (x, lengths), str(tmp), input_names=["x", "lengths"], output_names=names,
                          dynamic_axes=axes, opset_version=opset, dynamo=False)
    meta: dict[str, Any] = {"features": to_dict(features), "label_names": list(ck.label_names),
                            "avd_stats": ck.avd_stats, "temperature": float(ck.temperature or 1.0),
                            "model": ck.model_config.name, "source": str(checkpoint), "int8": int8}
    stats = model_input_stats(model)  # lets speaker adaptation run on ONNX models too
    if stats is not None:
        meta["input_stats"] = {"mean": stats[0].tolist(), "std": stats[1].tolist()}
    try:
        _check_parity(wrapper, tmp, features, ck.input_dim, has_avd, ck.model_config.name)
        _add_metadata(onnx, tmp, meta)
        if int8:
            _quantise(tmp, out)
            _add_metadata(onnx, out, meta)
        else:
            tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    log.debug("wrote %s", out)
    return out


@contextlib.contextmanager
def _native_stderr_to_log():
    """Route what torch's C++ exporter prints on stderr (e.g. three identical "shape inference of
    prim::PackPadded type is missing" warnings for LSTMs) to the debug log: the parity check,
    not the tracer's guesses, decides whether the graph is right."""
    import os
    import sys
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as buf:
        os.dup2(buf.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            buf.seek(0)
            text = buf.read().decode(errors="replace").strip()
            if text:
                log.debug("torch.onnx.export printed:\n%s", text)


def _check_parity(wrapper, path: Path, features, input_dim: int, has_avd: bool, name: str) -> None:
    """ONNX Runtime vs torch on batches whose lengths differ from the traced example."""
    import onnxruntime as ort
    import torch

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for seconds, batch, seed in ((3.1, 3, 1), (0.7, 1, 2)):
        x, lengths = _example(features, input_dim, seconds, batch, seed)
        with torch.no_grad():
            ref = wrapper(x, lengths)
        ref = [r.numpy() for r in (ref if has_avd else (ref,))]
        try:
            got = sess.run(None, {"x": x.numpy(), "lengths": lengths.numpy()})
        except Exception as e:  # noqa: BLE001 - ONNX Runtime raises its own exception types
            raise ExportError(f"cannot export {name} to ONNX: the exported graph fails on {x.shape[1]} frames "
                              f"({str(e).splitlines()[0][:160]}); {_USE_TORCH}") from None
        diff = max(float(np.abs(a - b).max()) for a, b in zip(ref, got, strict=True))
        if not diff <= PARITY_TOL:
            raise ExportError(f"cannot export {name} to ONNX: ONNX Runtime differs from torch by {diff:.2g} "
                              f"(> {PARITY_TOL:g}) on {x.shape[1]} frames; {_USE_TORCH}")


def _add_metadata(onnx, path: Path, meta: dict[str, Any]) -> None:
    m = onnx.load(str(path))
    for p in list(m.metadata_props):
        if p.key == "serkit":
            m.metadata_props.remove(p)
    entry = m.metadata_props.add()
    entry.key, entry.value = "serkit", json.dumps(meta)
    onnx.save(m, str(path))


class _QuietQuantiser(logging.Filter):
    """ONNX Runtime's quantiser logs through the root logger: advice to run its pre-processing
    script (serkit's graphs are already shape-inferred) and one INFO line per tensor without
    quantisation parameters. Both are noise to a user of serkit export; errors still pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "root" or record.levelno >= logging.ERROR:
            return True
        msg = record.getMessage()
        return not ("pre-process" in msg or "preprocess" in msg or record.levelno < logging.WARNING)


def _quantise(src: Path, out: Path) -> None:
    from serkit.errors import MissingDependencyError

    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        raise MissingDependencyError("onnxruntime", "onnx") from None
    root = logging.getLogger()
    f = _QuietQuantiser()
    root.addFilter(f)
    for h in root.handlers:
        h.addFilter(f)
    try:
        quantize_dynamic(str(src), str(out), weight_type=QuantType.QInt8)
    finally:
        root.removeFilter(f)
        for h in root.handlers:
            h.removeFilter(f)
