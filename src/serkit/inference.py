"""Predictor: the single inference API (files, folders, long recordings, live streams).

A :class:`Predictor` wraps a trained model (a serkit checkpoint run by torch, or an exported
``.onnx`` file run by ONNX Runtime) with its own feature config and label names. Audio is read
block-wise (:func:`serkit.data.audio.stream`), cut into speech segments by voice-activity
detection (:mod:`serkit.vad`, at most ``max_window`` seconds each), and every segment is
classified; a file's label is the argmax of the duration-weighted mean of its segment scores.
Memory stays flat in the length of the input: only the open segment and one batch of closed
segments are held at a time.

Result of one file (``predict_file``), also the JSON line of ``serkit predict --format json``::

    {"file": "a.wav", "duration": 3.1, "label": "angry", "scores": {"angry": 0.8, ...},
     "segments": [{"start": 0.2, "end": 2.9, "label": "angry", "scores": {...}}, ...],
     "arousal": 0.4, "valence": -0.2, "dominance": 0.3}   # A/V/D only when the model has them

Models that read a transcript with the audio (the KS-Transformer with ``modalities`` ``text`` or
``both``) take it as ``text=`` (one per file: every speech segment of the file is paired with
it), or from a CTC model (``text_from="ctc:RUN_DIR"``: each segment is transcribed by that
model's greedy CTC head first). Their results add ``text`` (the transcript read) and
``text_source`` (``given`` or ``ctc``); segments transcribed by CTC carry their own ``text``. A
file without a transcript is an error naming the file and the three ways to give one.

Classical models (``linear_svm`` on eGeMAPS / ComParE functionals, saved by ``serkit train``)
score each speech segment's functionals; their ``scores`` are the softmax of the SVM margins, not
calibrated probabilities, and the result says so with ``"score_kind": "svm_margin_softmax"``.

No speech is not an emotion: segments the segmenter finds no speech in (silence, noise; see
:mod:`serkit.vad` for the VAD and the speech check) are not classified, and a file without any
speech gives ``{"file": ..., "duration": ..., "label": null, "no_speech": true, "segments": []}``
with no scores. That is a result, not an error.

Examples:
    >>> import numpy as np, torch, tempfile, pathlib
    >>> from serkit.testing import save_tiny_checkpoint
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> p = Predictor.from_checkpoint(save_tiny_checkpoint(d / "m.pt"))
    >>> from serkit.testing import pseudo_wave
    >>> r = p.predict_signal(pseudo_wave(1.5, f0=150.0))
    >>> sorted(r), round(sum(r["scores"].values()), 3)
    (['duration', 'label', 'scores', 'segments'], 1.0)
    >>> p.predict_signal(np.random.default_rng(0).standard_normal(16000).astype("float32") * 0.1)
    {'duration': 1.0, 'label': None, 'no_speech': True, 'segments': []}
"""

from __future__ import annotations

import inspect
import itertools
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from serkit.adapt import (
    HYBRID_LEVELS,
    REFERENCE_KEY,
    AdaptConfig,
    RunningStats,
    SpeakerStats,
    balance_bias,
    groups_of,
    map_representation,
    map_to_reference,
    model_level,
    resolve_speakers,
)
from serkit.config import FeatureConfig, from_dict
from serkit.data import audio
from serkit.data.avd import AVD_NAMES, AvdStats, destandardise_avd
from serkit.errors import (
    AudioError,
    CheckpointError,
    ConfigError,
    InferenceError,
    ModelNotFoundError,
    SerkitError,
)
from serkit.features.extract import UTTERANCE_LEVEL
from serkit.models.checkpoint import find_checkpoint, load_checkpoint
from serkit.models.ensemble import EnsembleConfig
from serkit.models.ks_transformer import KsTransformerConfig
from serkit.typing import PathLike
from serkit.vad import Segment, SegmentConfig, Segmenter, segment_blocks

log = logging.getLogger(__name__)

#: names accepted by :meth:`Predictor.load` besides paths
BUNDLED = ("default",)
DIGITS = 5
#: ``score_kind`` of classical models' results (their scores are not probabilities)
SVM_SCORE_KIND = "svm_margin_softmax"


def _softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(B, C)`` logits, float32."""
    from scipy.special import softmax

    return softmax(z, axis=-1).astype(np.float32)


def result_json(result: dict[str, Any]) -> str:
    """One result (a file's, a window's or an error object) as the JSON text serkit emits.

    The one serialisation of prediction results: ``serkit predict --format json`` writes it one
    line per file or window, and ``serkit serve`` answers with it, so both give the same bytes.

    Args:
        result: a dict from :meth:`Predictor.predict_file`, :meth:`Predictor.predict_stream`
            or an error object ``{file, error}``.

    Returns:
        compact JSON text on one line (non-ASCII characters kept).
    """
    return json.dumps(result, ensure_ascii=False)


def bundled_dir(name: str = "default") -> Path:
    """Folder of a model shipped inside the package (``serkit/assets/<name>``)."""
    return Path(__file__).resolve().parent / "assets" / name


#: read size of :meth:`Predictor.predict_file`, in seconds of the source
FILE_BLOCK_SECONDS = 30.0
#: errors that fail one file of a batch (recorded as ``{file, error}``) without stopping the rest
FILE_ERRORS = (SerkitError, OSError, ValueError, RuntimeError)


def error_record(path: PathLike, exc: BaseException) -> dict[str, str]:
    """The ``{file, error}`` result of a file that failed (the JSON line of ``serkit predict``)."""
    msg = str(exc) if isinstance(exc, SerkitError) else f"{path}: {type(exc).__name__}: {exc}"
    return {"file": str(path), "error": msg}


def model_input_stats(model) -> tuple[np.ndarray, np.ndarray] | None:
    """A model's global input standardisation ``(mean (F,), std (F,))`` (its ``in_mean`` /
    ``in_std`` buffers), if that is all its normaliser does. Speaker adaptation maps features onto
    these; :func:`serkit.export.export_onnx` stores them in the ONNX metadata.

    None for models without one and for models that also normalise each utterance
    (``input_norm: utterance``): mapping features onto global statistics cannot reach those.
    """
    m, s = getattr(model, "in_mean", None), getattr(model, "in_std", None)
    if m is None or s is None or getattr(getattr(model, "cfg", None), "norm_mode", "global") != "global":
        return None
    return m.detach().float().cpu().numpy(), s.detach().float().cpu().numpy()


class _TorchBackend:
    """Runs an ``nn.Module`` on padded features; returns (probs (B, C), avd (B, 3) | None).

    ``temperature`` (the checkpoint's, fitted by :mod:`serkit.train.calibration`) divides the
    logits before the softmax; 1.0 leaves them as trained.
    """

    kind = "torch"

    def __init__(self, model, *, temperature: float = 1.0, device: str | None = None) -> None:
        import torch

        if not temperature > 0:
            raise ConfigError(f"temperature must be > 0, got {temperature}; re-fit it with train.calibration=temperature")
        self.torch = torch
        self.temperature = float(temperature)
        self.device = torch.device(device or "cpu")
        self.model = model.eval().to(self.device)
        #: greedy CTC frame ids of the last call's items (models with a CTC head), else None
        self.last_ctc: list[list[int]] | None = None
        #: the model's normaliser takes a speaker's statistics itself (``forward(..., norm_stats=)``)
        self.takes_norm_stats = "norm_stats" in inspect.signature(model.forward).parameters
        #: intermediate representations speaker adaptation can map (``represent`` / ``from_representation``)
        self.rep_levels: tuple[str, ...] = tuple(getattr(model, "adapt_levels", ()))

    def represent(self, x: np.ndarray, lengths: np.ndarray, level: str) -> np.ndarray:
        """``(B, D)`` representation at ``level`` of padded features (speaker adaptation statistics)."""
        t = self.torch
        with t.inference_mode():
            h = self.model.represent(t.from_numpy(x).to(self.device), t.from_numpy(lengths).to(self.device), level)
        return h.float().cpu().numpy()

    def input_stats(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The model's global input standardisation ``(mean (F,), std (F,))``, if that is all its normaliser
        does (see :func:`model_input_stats`)."""
        return model_input_stats(self.model)

    def __call__(self, x: np.ndarray, lengths: np.ndarray, *,
                 norm_stats: tuple[np.ndarray, np.ndarray] | None = None,
                 text: tuple[np.ndarray, np.ndarray] | None = None,
                 rep: tuple[Any, ...] | None = None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Probabilities (and A/V/D); ``rep = (level, fn)`` maps the representation at ``level`` by ``fn``
        (numpy ``(B, D) -> (B, D)``) before the model's remaining layers (speaker adaptation);
        ``text = (features (B, L, D), lengths (B,))`` feeds models that read transcripts."""
        t = self.torch
        with t.inference_mode():
            kw: dict[str, Any] = {} if norm_stats is None else {
                "norm_stats": (t.from_numpy(norm_stats[0]), t.from_numpy(norm_stats[1]))}
            if self.device.type != "cpu":
                kw = {k: tuple(v.to(self.device) for v in vs) for k, vs in kw.items()}
            if text is not None:  # multimodal models: token features (B, L, D) and their lengths (B,)
                kw["text"] = t.from_numpy(text[0]).to(self.device)
                kw["text_lengths"] = t.from_numpy(text[1]).to(self.device)
            xt, lt = t.from_numpy(x).to(self.device), t.from_numpy(lengths).to(self.device)
            if rep is None:
                out = self.model(xt, lt, **kw)
            else:
                h = self.model.represent(xt, lt, rep[0], **kw).float().cpu().numpy()
                out = self.model.from_representation(t.from_numpy(rep[1](h)).to(self.device), rep[0])
            probs = t.softmax(out.logits.float() / self.temperature, -1).cpu().numpy() if out.logits is not None else None
            avd = out.avd.float().cpu().numpy() if out.avd is not None else None
            self.last_ctc = None
            if "ctc" in out.aux:
                from serkit.models.w2v2_ctc import greedy_ctc

                self.last_ctc = greedy_ctc(*out.aux["ctc"])
        return probs, avd


class _LinearBackend:
    """Runs a classical model (:class:`serkit.models.classical.LinearScorer`) on utterance-level
    feature vectors ``(B, D)``; returns (softmax of the margins (B, C), None)."""

    kind = "linear"

    def __init__(self, scorer) -> None:
        self.scorer = scorer
        self.takes_norm_stats = False
        self.last_ctc = None

    def input_stats(self) -> None:
        """Classical models take no speaker statistics (their scaler is part of the model)."""
        return None

    def __call__(self, x: np.ndarray, lengths: np.ndarray | None = None) -> tuple[np.ndarray, None]:
        return _softmax(self.scorer.decision_function(x)), None  # margins (B, C)


def text_model_config(model_config: Any) -> KsTransformerConfig | None:
    """The config of the part of a model that reads transcripts, or None for audio-only models.

    A KS-Transformer with ``modalities`` ``text`` or ``both`` reads them; an ensemble reads them
    when a member does (members must then share one text encoder).

    Raises:
        ConfigError: ensemble members with different text encoders or token limits.
    """
    if isinstance(model_config, KsTransformerConfig):
        return model_config if model_config.text_encoder and model_config.modalities != "audio" else None
    if isinstance(model_config, EnsembleConfig):
        from serkit.models import model_config_from_dict

        found = [c for c in (text_model_config(model_config_from_dict(m)) for m in model_config.members) if c]
        if len({(c.text_encoder, c.max_text_tokens) for c in found}) > 1:
            raise ConfigError("ensemble members read transcripts with different text encoders "
                              f"{sorted({str(c.text_encoder) for c in found})}; merge members that share one")
        return found[0] if found else None
    return None


class _OnnxBackend:
    """Runs an exported model with ONNX Runtime (inputs ``x``, ``lengths``; outputs ``probs`` [, ``avd``])."""

    kind = "onnx"

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            from serkit.errors import MissingDependencyError

            raise MissingDependencyError("onnxruntime", "onnx") from None
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.outputs = [o.name for o in self.session.get_outputs()]
        meta = self.session.get_modelmeta().custom_metadata_map
        if "serkit" not in meta:
            raise ModelNotFoundError(f"{path}: ONNX file has no serkit metadata; export it with serkit export")
        self.meta = json.loads(meta["serkit"])
        self.takes_norm_stats = False
        self.rep_levels: tuple[str, ...] = ()  # the graph ends in probabilities: no representation to map

    def input_stats(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The model's global input standardisation from the export metadata (``input_stats``), if any."""
        st = self.meta.get("input_stats")
        if not st:
            return None
        return np.asarray(st["mean"], np.float32), np.asarray(st["std"], np.float32)

    def __call__(self, x: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        try:
            outs = self.session.run(None, {"x": x, "lengths": lengths})
        except Exception as e:  # noqa: BLE001 - ONNX Runtime's own exception types; one file's error line
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise InferenceError(f"ONNX Runtime failed on an input of {x.shape[1]} frames ({first}); the graph "
                                 "probably froze a length when it was exported: export it again with serkit "
                                 "export (which checks other lengths), or predict with the torch checkpoint") from None
        res = dict(zip(self.outputs, outs, strict=False))
        return res.get("probs"), res.get("avd")


class Predictor:
    """Emotion predictions for signals, files, batches of files and live streams.

    Build it with :meth:`load` (bundled name, run folder, checkpoint or ``.onnx``) or
    :meth:`from_checkpoint`.

    Args:
        backend: callable ``(x (B, T, F) float32, lengths (B,) int64) -> (probs (B, C), avd (B, 3) | None)``.
        features: the model's feature config.
        label_names: class names, in logit order.
        avd_stats: ``{"mean": [3], "std": [3]}`` to undo the training standardisation of A/V/D.
        segment: segmentation settings (VAD, max window).
        batch_size: segments per forward pass.
        threads: torch intra-op threads to use (None leaves torch's setting); one thread per
            stream is fastest for a single stream on a shared CPU.
        name: shown in reports.
        vocab: the checkpoint's CTC vocabulary (``CharVocab.to_dict()``), for ``transcribe``.
        transcribe: add each segment's greedy CTC transcript (``"text"``) and the file's joined
            text; needs a model with a CTC head (e.g. ``w2v2_ctc`` trained with
            ``train.loss_weights.ctc > 0``) run by torch.
        text_model: the config of the model's text path (:func:`text_model_config`), for models
            that read a transcript with the audio; None for audio-only models.
        text_from: a Predictor with a CTC head (``transcribe=True``) whose segment transcripts
            feed ``text_model`` when no transcript is given.
        adapt_reference: the checkpoint's representation reference for speaker adaptation
            (:func:`serkit.adapt.add_reference`), or None.

    Raises:
        ConfigError: ``transcribe`` with a model that has no CTC head (or an ONNX model);
            utterance-level features with a neural model or frame-level ones with a classical one.
    """

    def __init__(self, backend, features: FeatureConfig, label_names: Sequence[str], *,
                 avd_stats: AvdStats | None = None, segment: SegmentConfig | None = None,
                 batch_size: int = 16, threads: int | None = None, name: str = "model",
                 vocab: dict[str, Any] | None = None, transcribe: bool = False,
                 text_model: KsTransformerConfig | None = None, text_from: Predictor | None = None,
                 adapt_reference: dict[str, Any] | None = None) -> None:
        if transcribe and (not vocab or getattr(backend, "kind", "") != "torch"):
            raise ConfigError(f"{name}: --transcribe needs a torch checkpoint of a model with a CTC head "
                              "(w2v2_ctc trained with train.loss_weights.ctc > 0, e.g. "
                              "configs/cai2021/emodb_scratch_w2v2.yaml); this model has none")
        linear = getattr(backend, "kind", "") == "linear"
        if features.name in UTTERANCE_LEVEL and not linear:
            raise ConfigError(f"features.name={features.name} gives one vector per utterance; the Predictor "
                              "needs frame-level features (logmel, mfcc, ...) or raw waves")
        if linear and features.name not in UTTERANCE_LEVEL:
            raise ConfigError(f"{name}: a classical model needs utterance-level features {list(UTTERANCE_LEVEL)}, "
                              f"its checkpoint says features.name={features.name}")
        if features.speaker_norm:
            log.warning("%s was trained with per-speaker feature standardisation, which single files "
                        "cannot provide; predictions use unnormalised features", name)
        if threads:
            import torch

            torch.set_num_threads(int(threads))
        self.backend = backend
        self.features = replace(features, max_seconds=None)
        self.label_names = list(label_names)
        self.avd_stats = avd_stats
        self.segment = segment or SegmentConfig()
        self.vocab = None
        if transcribe and vocab is not None:
            from serkit.data.vocab import CharVocab

            self.vocab = CharVocab.from_dict(vocab)
        self.batch_size = batch_size
        self.name = name
        self.text_model = text_model
        self.text_from = text_from
        if text_from is not None and text_model is None:
            raise ConfigError(f"{name}: --text-from gives transcripts, but this model reads none (only a "
                              "ks_transformer with modalities text or both does); drop --text-from")
        if text_from is not None and text_from.vocab is None:
            raise ConfigError(f"{text_from.name}: --text-from ctc:RUN_DIR needs a model with a CTC head "
                              "(w2v2_ctc trained with train.loss_weights.ctc > 0, e.g. "
                              "configs/cai2021/emodb_scratch_w2v2.yaml)")
        self.adapt_reference = adapt_reference

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_checkpoint(cls, path: PathLike, **kwargs: Any) -> Predictor:
        """A torch Predictor from a serkit checkpoint (file or run folder).

        Args:
            path: ``.pt`` file holding ``{config, state_dict, label_names, input_dim, ...}``, or
                a run folder with ``model.pt`` / ``checkpoint.pt``.
            **kwargs: ``segment``, ``batch_size``, ``threads`` (see the class), ``device``
                (``"cpu"`` by default, ``"cuda"`` on a GPU worker), and ``text_from``
                (``"ctc:RUN_DIR"`` or a CTC Predictor) for models that read a transcript.

        Raises:
            CheckpointError: no checkpoint there, or not a serkit checkpoint (a ModelNotFoundError).
        """
        device = kwargs.pop("device", None)
        text_from = kwargs.pop("text_from", None)
        ck = load_checkpoint(path)
        from serkit.models import CLASSICAL, PRETRAINED_ENCODERS

        if ck.model_config.name in PRETRAINED_ENCODERS:
            raise CheckpointError(f"{path}: a self-supervised {ck.model_config.name} encoder (serkit pretrain), not an "
                                  f"emotion model; name it in a recipe (features.encoder: {path}) and train one with "
                                  "serkit train or serkit evaluate --out DIR")
        if ck.model_config.name in CLASSICAL:
            backend: Any = _LinearBackend(ck.build_model())
        else:
            backend = _TorchBackend(ck.build_model(), temperature=ck.temperature, device=device)
        if isinstance(text_from, str | Path):
            text_from = cls._ctc_predictor(text_from, kwargs)
        return cls(backend, ck.features, ck.label_names, avd_stats=ck.avd_stats, name=str(path), vocab=ck.vocab,
                   text_model=text_model_config(ck.model_config), text_from=text_from,
                   adapt_reference=ck.extra.get(REFERENCE_KEY), **kwargs)

    @classmethod
    def _ctc_predictor(cls, source: PathLike, kwargs: dict[str, Any]) -> Predictor:
        """The CTC Predictor of a ``text_from`` setting: ``ctc:RUN_DIR`` (or the path alone)."""
        spec = str(source)
        path = spec[4:] if spec.startswith("ctc:") else spec
        if not path.strip():
            raise ConfigError(f"--text-from must be ctc:RUN_DIR (a w2v2_ctc run with a CTC head), got {spec!r}")
        kw = {k: v for k, v in kwargs.items() if k in ("segment", "batch_size", "threads")}
        return cls.from_checkpoint(find_checkpoint(path), transcribe=True, **kw)

    @classmethod
    def from_onnx(cls, path: PathLike, *, threads: int | None = None, **kwargs: Any) -> Predictor:
        """An ONNX Runtime Predictor from a file written by :func:`serkit.export.export_onnx`.

        Args:
            path: ``.onnx`` file.
            threads: intra-op threads of ONNX Runtime and torch (the feature front-end).
            **kwargs: ``segment``, ``batch_size`` (see the class).
        """
        kwargs.pop("device", None)  # ONNX Runtime runs on the CPU provider
        if kwargs.pop("text_from", None) is not None:
            raise ConfigError(f"{path}: an ONNX export reads audio only; --text-from needs a torch checkpoint")
        b = _OnnxBackend(Path(path), threads=threads)
        kwargs["threads"] = threads
        m = b.meta
        return cls(b, from_dict(FeatureConfig, m["features"], where="features"), m["label_names"],
                   avd_stats=m.get("avd_stats"), name=str(path), **kwargs)

    @classmethod
    def load(cls, name_or_path: PathLike | None = None, **kwargs: Any) -> Predictor:
        """A Predictor from a bundled model name, run folder, checkpoint or ``.onnx`` file.

        Args:
            name_or_path: ``"default"`` (or None) for the model shipped with serkit, else a path.
            **kwargs: ``segment``, ``batch_size``, ``threads``, ``transcribe``, ``text_from``
                (see :meth:`from_checkpoint`).

        Raises:
            ModelNotFoundError: unknown name or path; the message lists the bundled names.
        """
        if name_or_path is None or str(name_or_path) in BUNDLED:
            d = bundled_dir(str(name_or_path or "default"))
            if not (d / "model.pt").is_file():
                raise ModelNotFoundError(f"bundled model {str(name_or_path or 'default')!r} is missing from {d}; "
                                         "reinstall serkit or pass --model RUN_DIR")
            return cls.from_checkpoint(d / "model.pt", **kwargs)
        p = find_checkpoint(name_or_path)
        if p.suffix == ".onnx":
            return cls.from_onnx(p, **kwargs)
        return cls.from_checkpoint(p, **kwargs)

    # ----------------------------------------------------------------- model facts
    @property
    def needs_text(self) -> bool:
        """The model reads a transcript with the audio (give ``text=`` or build with ``text_from``)."""
        return self.text_model is not None

    @property
    def has_avd(self) -> bool:
        """The model predicts arousal, valence and dominance (results carry those fields)."""
        return self.avd_stats is not None or "avd" in getattr(self.backend, "outputs", ())

    def _check_text(self, text: str | None, file: PathLike | None) -> None:
        """Raise if this model needs a transcript for ``file`` and has no way to get one."""
        if not self.needs_text or self.text_from is not None or (text is not None and str(text).strip()):
            return
        cfg = self.text_model
        what = "an empty transcript" if text is not None else "no transcript"
        hint = ""
        if cfg is not None and cfg.transcripts.startswith("ctc:"):
            hint = f" (it was trained with model.transcripts={cfg.transcripts}: --text-from {cfg.transcripts} matches that)"
        where = str(file) if file is not None else "signal"
        raise InferenceError(
            f"{where}: model {self.name} ({cfg.name if cfg else '?'}, modalities={cfg.modalities if cfg else '?'}) "
            f"reads a transcript with the audio and got {what}; give one with --text \"...\" (one file), a "
            "CSV or JSONL manifest with path and text columns (serkit predict manifest.csv), or --text-from "
            f"ctc:RUN_DIR to transcribe the audio with a CTC model{hint}; in Python: predict_file(path, "
            "text=...) or Predictor.load(model, text_from='ctc:RUN_DIR')")

    def _text_features(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Padded token features ``(B, L, D)`` and lengths ``(B,)`` of one batch of transcripts."""
        from serkit.features.text import encode_for_prediction

        cfg = self.text_model
        if cfg is None or cfg.text_encoder is None:
            raise ConfigError(f"{self.name}: this model reads no transcripts")
        feats = encode_for_prediction(texts, encoder=cfg.text_encoder, max_tokens=cfg.max_text_tokens)
        lens = np.array([len(f) for f in feats], dtype=np.int64)
        pad = np.zeros((len(feats), int(lens.max()), feats[0].shape[1]), dtype=np.float32)
        for i, f in enumerate(feats):
            pad[i, : len(f)] = f
        return pad, lens

    # ----------------------------------------------------------------- core
    def _features(self, x: np.ndarray) -> np.ndarray:
        from serkit.features.extract import compute_features

        return compute_features(x, self.features)

    def _classify(self, segs: Sequence[Segment], stats: SpeakerStats | None = None,
                  feats: Sequence[np.ndarray] | None = None, text: str | None = None,
                  raw: bool = False) -> list[dict[str, Any]]:
        """Scores of a few segments in one padded forward pass (with a speaker's statistics if given).

        ``text``: the transcript paired with every segment (models that read one); without it
        such a model gets each segment's CTC transcript from ``text_from``. ``raw``: each dict
        also holds the unrounded ``probs`` array (internal use).
        """
        if feats is None:
            feats = [self._features(s.samples) for s in segs]
        texts: list[str] | None = None
        if self.needs_text:
            if text is not None and str(text).strip():
                texts = [str(text).strip()] * len(segs)
            elif self.text_from is not None:
                texts = [r.get("text", "") for r in self.text_from._classify(segs)]
            else:
                self._check_text(text, None)
        if getattr(self.backend, "kind", "") == "linear":  # one functionals vector (D,) per segment
            probs, _ = self.backend(np.stack(feats).astype(np.float32))
            out = []
            for i, s in enumerate(segs):
                out.append({"start": s.start, "end": s.end, "label": self.label_names[int(np.argmax(probs[i]))],
                            "scores": {c: round(float(v), DIGITS) for c, v in zip(self.label_names, probs[i], strict=False)}})
                if raw:
                    out[-1]["probs"] = probs[i]
            return out
        norm_stats: tuple[np.ndarray, np.ndarray] | None = None
        rep: tuple[Any, ...] | None = None
        ref: dict[str, Any] = {}
        if stats is not None and stats.level != "input":
            ref = (self.adapt_reference or {})[stats.level]
            if not stats.head:
                rep = (stats.level, lambda h: map_representation(h, stats, ref))
        elif stats is not None:
            if self.backend.takes_norm_stats:
                norm_stats = (np.tile(stats.mean, (len(feats), 1)), np.tile(stats.std, (len(feats), 1)))
            else:
                g_mean, g_std = self.backend.input_stats()
                feats = [map_to_reference(f, stats, g_mean, g_std) for f in feats]
        lens = np.array([len(f) for f in feats], dtype=np.int64)
        shape = (len(feats), int(lens.max()), *feats[0].shape[1:])
        pad = np.zeros(shape, dtype=np.float32)
        for i, f in enumerate(feats):
            pad[i, : len(f)] = f
        kw: dict[str, Any] = {}
        if norm_stats is not None:
            kw["norm_stats"] = norm_stats
        if rep is not None:
            kw["rep"] = rep
        if texts is not None:
            kw["text"] = self._text_features(texts)
        if stats is not None and stats.head:  # the speaker-normalised head (serkit.adapt.fit_head), its logits at T = 1
            h = map_representation(self._represent(segs, pad, lens, stats.level), stats, ref)
            probs, avd = _softmax(h @ np.asarray(ref["head"]["weight"], np.float32).T
                                  + np.asarray(ref["head"]["bias"], np.float32)), None
        else:
            probs, avd = self.backend(pad, lens, **kw)
        if probs is not None and stats is not None and stats.bias is not None:  # AdaptConfig.balance
            probs = _softmax(np.log(np.maximum(probs, 1e-12)) + stats.bias)
        out = []
        for i, s in enumerate(segs):
            r: dict[str, Any] = {"start": s.start, "end": s.end}
            if probs is not None:
                if raw:
                    r["probs"] = probs[i]
                r["label"] = self.label_names[int(np.argmax(probs[i]))]
                r["scores"] = {c: round(float(v), DIGITS) for c, v in zip(self.label_names, probs[i], strict=False)}
            if avd is not None:
                r.update(self._avd(avd[i]))
            if self.vocab is not None and self.backend.last_ctc is not None:
                r["text"] = self.vocab.decode_ctc(self.backend.last_ctc[i])
            elif texts is not None and text is None:  # transcribed by text_from: each segment its own
                r["text"] = texts[i]
            out.append(r)
        return out

    def _avd(self, v: np.ndarray) -> dict[str, float]:
        v = destandardise_avd(v, self.avd_stats)
        return {k: round(float(x), DIGITS) for k, x in zip(AVD_NAMES, v, strict=False)}

    def _segments(self, blocks: Iterable[np.ndarray], segmenter: Segmenter,
                  stats: SpeakerStats | None = None, text: str | None = None) -> Iterator[dict[str, Any]]:
        """Classified speech segments, in batches, as they close (no speech: nothing is classified)."""
        pending: list[Segment] = []
        for b in blocks:
            pending += segmenter.push(b)
            if len(pending) >= self.batch_size:
                yield from self._classify(pending, stats, text=text)
                pending = []
        pending += segmenter.flush()
        if pending:
            yield from self._classify(pending, stats, text=text)

    def _result_notes(self, text: str | None) -> dict[str, Any]:
        """Fields every result of this model adds: what its scores are, which transcript it read."""
        out: dict[str, Any] = {}
        if getattr(self.backend, "kind", "") == "linear":
            out["score_kind"] = SVM_SCORE_KIND
        if self.needs_text:
            given = text is not None and bool(str(text).strip())
            out["text_source"] = "given" if given else "ctc"
            if given:
                out["text"] = str(text).strip()
        return out

    def _aggregate(self, segs: list[dict[str, Any]], duration: float) -> dict[str, Any]:
        out: dict[str, Any] = {"duration": round(duration, 3)}
        if not segs:  # no speech is not an emotion: no label, no scores
            out.update(label=None, no_speech=True, segments=[])
            return out
        w = np.array([max(s["end"] - s["start"], 1e-3) for s in segs])
        w = w / w.sum()
        if "scores" in segs[0]:
            p = sum(wi * np.array([s["scores"][c] for c in self.label_names]) for wi, s in zip(w, segs, strict=False))
            out["label"] = self.label_names[int(np.argmax(p))]
            out["scores"] = {c: round(float(v), DIGITS) for c, v in zip(self.label_names, p, strict=False)}
        out["segments"] = segs
        if "text" in segs[0]:  # --transcribe / --text-from: the segments' transcripts in time order
            out["text"] = " ".join(s["text"] for s in segs if s["text"])
        if "arousal" in segs[0]:
            for k in AVD_NAMES:
                out[k] = round(float(sum(wi * s[k] for wi, s in zip(w, segs, strict=False))), DIGITS)
        return out

    # ----------------------------------------------------------------- public
    def predict_signal(self, x: np.ndarray, sample_rate: int = audio.SAMPLE_RATE, *,
                       stats: SpeakerStats | None = None, text: str | None = None) -> dict[str, Any]:
        """Predict one in-memory signal.

        Args:
            x: ``(S,)`` or ``(S, channels)`` samples (float in [-1, 1] or integer PCM).
            sample_rate: its rate in Hz (resampled to 16 kHz).
            stats: a speaker's statistics to normalise with (see :meth:`speaker_stats`); the
                caller checks :meth:`adaptation` first.
            text: its transcript, for models that read one (:attr:`needs_text`); ignored by
                audio-only models.

        Returns:
            ``{duration, label, scores, segments[, arousal, valence, dominance][, text, text_source]}``.

        Raises:
            AudioError: empty, too short or non-finite signal.
            InferenceError: the model needs a transcript and none was given (nor ``text_from``).
        """
        self._check_text(text, None)
        y = audio.resample(audio.to_mono_float32(np.asarray(x)), int(sample_rate))
        audio.check_signal(y)
        segs = list(self._segments([y], Segmenter(self.segment), stats, text=self._given(text)))
        return {**self._aggregate(segs, y.size / audio.SAMPLE_RATE), **self._result_notes(text)}

    def _given(self, text: str | None) -> str | None:
        """The transcript a text model is given (None: none given, or the model reads none)."""
        return str(text).strip() if self.needs_text and text is not None and str(text).strip() else None

    def predict_file(self, path: PathLike, *, block_seconds: float = FILE_BLOCK_SECONDS,
                     stats: SpeakerStats | None = None, text: str | None = None) -> dict[str, Any]:
        """Predict one audio file of any length (read block-wise; memory flat in its length).

        Args:
            path: WAV, FLAC, OGG or MP3 file.
            block_seconds: read size in seconds.
            stats: a speaker's statistics to normalise with (see :meth:`speaker_stats`); the
                result then carries no adaptation fields (those come from :meth:`predict_batch`).
            text: the file's transcript, for models that read one (:attr:`needs_text`): every
                speech segment of the file is paired with it. Ignored by audio-only models.

        Returns:
            ``{file, duration, label, scores, segments[, arousal, valence, dominance][, text, text_source]}``.

        Raises:
            AudioError: unreadable, empty, too short or corrupt file.
            InferenceError: the model needs a transcript and none was given (nor ``text_from``).
        """
        self._check_text(text, path)
        return self.predict_blocks(audio.stream(path, block_seconds=block_seconds), file=path, stats=stats, text=text)

    def predict_blocks(self, blocks: Iterable[np.ndarray], *, file: PathLike,
                       stats: SpeakerStats | None = None, text: str | None = None) -> dict[str, Any]:
        """Predict one file from its decoded blocks (as :func:`serkit.data.audio.stream` yields them).

        :meth:`predict_file` is this over ``audio.stream(file)``; a pipeline that decodes in
        another process (``serkit predict --engine ray``) passes the same blocks and gets the
        same result.

        Args:
            blocks: ``(S_block,)`` float32 blocks at 16 kHz.
            file: the file they came from (named in the result and in errors).
            stats: a speaker's statistics (see :meth:`predict_file`).
            text: the file's transcript (see :meth:`predict_file`).

        Returns:
            ``{file, duration, label, scores, segments[, arousal, valence, dominance][, text, text_source]}``.

        Raises:
            AudioError: the blocks hold less than the minimum duration.
            InferenceError: the model needs a transcript and none was given (nor ``text_from``).
        """
        self._check_text(text, file)
        seg = Segmenter(self.segment)
        segs = list(self._segments(blocks, seg, stats, text=self._given(text)))
        duration = seg.total_samples / audio.SAMPLE_RATE
        if duration < audio.MIN_DURATION:
            raise AudioError(file, f"is {duration:.3f} s long, shorter than the {audio.MIN_DURATION:g} s minimum",
                             f"give at least {audio.MIN_DURATION:g} s of speech")
        return {"file": str(file), **self._aggregate(segs, duration), **self._result_notes(text)}

    # ----------------------------------------------------------------- speaker adaptation
    def adapt_level(self, config: AdaptConfig | None = None) -> tuple[str, bool]:
        """``(level, match_std)`` adaptation uses with ``config`` (``auto``: the checkpoint reference's
        chosen level and variant if it has one, else ``input``)."""
        cfg = config or AdaptConfig()
        ref = self.adapt_reference or {}
        level = cfg.level
        if level == "auto":
            stored = str(ref.get("level", "input"))
            level = stored if model_level(stored) in getattr(self.backend, "rep_levels", ()) else "input"
        match_std = cfg.match_std if cfg.match_std is not None else bool(ref.get("match_std", False))
        return level, match_std

    def adapt_head(self, config: AdaptConfig | None = None) -> bool:
        """Adaptation classifies with the reference's speaker-normalised head (representation levels only)."""
        cfg = config or AdaptConfig()
        level = self.adapt_level(cfg)[0]
        if level == "input":
            return False
        if level in HYBRID_LEVELS:  # always classified by its head
            return True
        return bool(cfg.head if cfg.head is not None else (self.adapt_reference or {}).get("head", False))

    def adaptation_unsupported(self, config: AdaptConfig | None = None) -> str | None:
        """Why this model cannot take a speaker's statistics, or None if it can (see :mod:`serkit.adapt`)."""
        level, _ = self.adapt_level(config)
        if level != "input":
            if model_level(level) not in getattr(self.backend, "rep_levels", ()):
                return (f"{self.name}: adaptation at the {level!r} representation needs a torch checkpoint of a model "
                        "with represent/from_representation (e.g. compact_cnn); ONNX files adapt input features only")
            if level not in (self.adapt_reference or {}):
                return (f"{self.name}: the checkpoint has no training reference for the {level!r} representation; "
                        "store one with: python -m serkit.adapt CHECKPOINT")
            if self.adapt_head(config) and "head" not in (self.adapt_reference or {})[level]:
                return (f"{self.name}: the checkpoint's reference has no speaker-normalised head; store it again "
                        "with: python -m serkit.adapt CHECKPOINT")
            return None
        if self.backend.takes_norm_stats or self.backend.input_stats() is not None:
            return None
        if getattr(self.backend, "kind", "") == "onnx":
            return (f"{self.name}: this ONNX file carries no global input statistics (metadata input_stats): "
                    "either it was exported by an older serkit (re-export it with serkit export) or its model "
                    "normalises each utterance inside the graph, where a speaker's statistics cannot reach; "
                    "predict with the .pt checkpoint to adapt")
        return f"{self.name}: the model has no input normaliser that takes a speaker's statistics"

    def _accumulate(self, acc: RunningStats, segs: Sequence[Segment], level: str,
                    feats: Sequence[np.ndarray] | None = None) -> None:
        """Add segments to a speaker's statistics: feature frames (``input``) or one representation each."""
        if feats is None:
            feats = [self._features(s.samples) for s in segs]
        if level == "input":
            for s, f in zip(segs, feats, strict=True):
                acc.update(f, seconds=s.end - s.start)
            return
        for i in range(0, len(feats), self.batch_size):
            chunk = feats[i:i + self.batch_size]
            lens = np.array([len(f) for f in chunk], dtype=np.int64)
            pad = np.zeros((len(chunk), int(lens.max()), *chunk[0].shape[1:]), dtype=np.float32)
            for j, f in enumerate(chunk):
                pad[j, : len(f)] = f
            h = self._represent(segs[i:i + self.batch_size], pad, lens, level)
            for j, s in enumerate(segs[i:i + self.batch_size]):
                acc.update(h[j:j + 1], seconds=s.end - s.start)

    def _represent(self, segs: Sequence[Segment], pad: np.ndarray, lens: np.ndarray, level: str) -> np.ndarray:
        """``(B, D)`` representation of padded segment features at ``level``; a hybrid level
        (:data:`serkit.adapt.HYBRID_LEVELS`) appends each segment's openSMILE functionals."""
        if level not in HYBRID_LEVELS:
            return self.backend.represent(pad, lens, level)
        from serkit.features.extract import compute_features

        smile = FeatureConfig(name=HYBRID_LEVELS[level][1])
        return np.concatenate([self.backend.represent(pad, lens, model_level(level)),
                               np.stack([compute_features(s.samples, smile) for s in segs])], axis=1)

    def speaker_stats(self, paths: Iterable[PathLike], *, speaker: str = "speaker",
                      max_seconds: float | None = None,
                      errors: dict[str, str] | None = None,
                      config: AdaptConfig | None = None) -> SpeakerStats | None:
        """Statistics over the speech (VAD segments) of one speaker's files, at the adaptation level.

        ``input``: the model-input feature frames; a representation level: one vector per speech
        segment (see :mod:`serkit.adapt`). Only audio is read, never labels. VAD is used even when
        this Predictor cuts fixed windows.

        Args:
            paths: the speaker's files.
            speaker: the group's name, stored in the result.
            max_seconds: stop once this much speech has been counted (whole segments).
            errors: if given, unreadable files are recorded here (path -> message) and skipped;
                otherwise their error is raised.
            config: adaptation settings (level, variant; see :meth:`adapt_level`).

        Returns:
            the statistics, or None when the files hold no speech.
        """
        level, match_std = self.adapt_level(config)
        acc = RunningStats()
        cfg = replace(self.segment, vad=True)
        used: list[tuple[PathLike, int]] = []  # (file, segments counted): the speech the statistics came from
        for p in paths:
            if max_seconds is not None and acc.seconds >= max_seconds:
                break
            try:
                before = acc.n
                segs, got = [], acc.seconds
                for seg in segment_blocks(audio.stream(p), cfg):
                    segs.append(seg)
                    got += seg.end - seg.start
                    if max_seconds is not None and got >= max_seconds:
                        break
                self._accumulate(acc, segs, level)
                acc.files += acc.n > before
                used.append((p, len(segs)))
            except (SerkitError, OSError, ValueError, RuntimeError) as e:
                if errors is None:
                    raise
                log.debug("speaker statistics: skipping %s", p, exc_info=True)
                errors[str(p)] = str(e)
        if not acc.n:
            return None
        st = acc.stats(speaker, level=level, match_std=match_std, head=self.adapt_head(config))
        if config is not None and config.balance:
            st = replace(st, bias=self._balance_bias(used, st))
        return st

    def _balance_bias(self, used: Sequence[tuple[PathLike, int]], stats: SpeakerStats) -> np.ndarray:
        """``AdaptConfig.balance``: the bias that balances the adapted scores of the same speech segments."""
        cfg = replace(self.segment, vad=True)
        logp, dur = [], []
        for p, n in used:
            segs = list(itertools.islice(segment_blocks(audio.stream(p), cfg), n))
            for i in range(0, len(segs), self.batch_size):
                for r in self._classify(segs[i:i + self.batch_size], stats, raw=True):
                    logp.append(np.log(np.maximum(r["probs"], 1e-12)))
                    dur.append(max(r["end"] - r["start"], 1e-3))
        return balance_bias(np.array(logp), np.array(dur))

    def segment_representations(self, path: PathLike, level: str) -> list[np.ndarray]:
        """The ``(D,)`` representation at ``level`` of each speech (VAD) segment of a file (reads audio only)."""
        segs = list(segment_blocks(audio.stream(path), replace(self.segment, vad=True)))
        acc: list[np.ndarray] = []

        class _Rows:  # collects the rows _accumulate adds
            def update(self, h: np.ndarray, *, seconds: float) -> None:
                acc.append(np.asarray(h[0], np.float32))

        if segs:
            self._accumulate(_Rows(), segs, level)  # type: ignore[arg-type]
        return acc

    def adaptation(self, stats: SpeakerStats | None, speaker: str, *,
                   config: AdaptConfig | None = None) -> dict[str, Any]:
        """The JSON fields that say whether (and with what) a file was adapted.

        Returns:
            ``{"speaker", "adapted", "speaker_seconds"[, "reason"]}``; ``adapted`` is False (with a
            reason) when the model cannot be adapted or the speaker has too little speech.
        """
        cfg = config or AdaptConfig()
        out: dict[str, Any] = {"speaker": speaker, "adapted": False,
                               "speaker_seconds": stats.seconds if stats is not None else 0.0}
        why = self.adaptation_unsupported(cfg)
        if why is None and stats is None:
            why = f"no speech found in the files of speaker {speaker!r}"
        elif why is None and stats is not None and stats.seconds < cfg.min_seconds:
            why = (f"only {stats.seconds:.1f} s of speech from speaker {speaker!r}; adaptation needs at least "
                   f"{cfg.min_seconds:g} s (give more of the speaker's files)")
        if why is None:
            out["adapted"] = True
            out["adapt_level"] = self.adapt_level(cfg)[0]
            if cfg.balance:
                out["balanced"] = True
        else:
            out["reason"] = why
        return out

    def _predict_safe(self, p: PathLike, stats: SpeakerStats | None = None, text: str | None = None) -> dict[str, Any]:
        try:
            return self.predict_file(p, stats=stats, text=text)
        except FILE_ERRORS as e:
            log.debug("failed on %s", p, exc_info=True)
            return error_record(p, e)

    def predict_batch(self, paths: Iterable[PathLike], *, speakers: Any = None,
                      adapt: AdaptConfig | None = None, texts: Any = None) -> Iterator[dict[str, Any]]:
        """Predict many files; a file that fails yields ``{file, error}`` and the rest go on.

        Args:
            paths: audio files.
            speakers: speaker adaptation (None: none, and results are as without it):
                ``"folder"`` (each file's parent folder is its speaker), ``"file"`` (each file is
                its own speaker: its speech gives the statistics), a mapping file -> speaker (e.g.
                :func:`serkit.adapt.read_speaker_map`), or one speaker name per file (None = not
                adapted). Each speaker's statistics come from the speech of all its files, read
                once before its first file is predicted; a bad file is left out of them.
            adapt: adaptation settings (minimum speech).
            texts: transcripts for models that read one (:attr:`needs_text`): a mapping file ->
                transcript (e.g. a manifest's text column) or one transcript (or None) per file.
                A text model's file without one is an error line (unless ``text_from``).

        Yields:
            one result dict per file, in input order; with ``speakers``, each also has
            ``speaker``, ``adapted``, ``speaker_seconds`` and, when not adapted, ``reason``.
        """
        paths = list(paths)
        if texts is None:
            text_of: list[str | None] = [None] * len(paths)
        elif hasattr(texts, "get"):
            text_of = [texts.get(str(p)) for p in paths]
        else:
            text_of = list(texts)
            if len(text_of) != len(paths):
                raise ConfigError(f"texts has {len(text_of)} transcripts for {len(paths)} files; give one per file")
        if speakers is None:
            for p, t in zip(paths, text_of, strict=True):
                yield self._predict_safe(p, text=t)
            return
        names = resolve_speakers(paths, speakers)
        members = groups_of(names)
        done: dict[str, int] = {}
        cache: dict[str, tuple[SpeakerStats | None, dict[str, Any]]] = {}
        for p, g, t in zip(paths, names, text_of, strict=True):
            if g is None:
                r = self._predict_safe(p, text=t)
                if "error" not in r:
                    r.update(speaker=None, adapted=False, speaker_seconds=0.0, reason="no speaker given for this file")
                yield r
                continue
            if g not in cache:
                st = None if self.adaptation_unsupported(adapt) else \
                    self.speaker_stats([paths[j] for j in members[g]], speaker=g, errors={}, config=adapt)
                cache[g] = (st, self.adaptation(st, g, config=adapt))
            st, info = cache[g]
            r = self._predict_safe(p, st if info["adapted"] else None, t)
            if "error" not in r:
                r.update(info)
            yield r
            done[g] = done.get(g, 0) + 1
            if done[g] == len(members[g]):
                del cache[g]  # memory stays flat in the number of speakers

    def predict_stream(self, blocks: Iterable[np.ndarray], *, adapt: AdaptConfig | bool | None = None,
                       text: str | None = None) -> Iterator[dict[str, Any]]:
        """Predict a live stream: yield one dict per segment (window) as soon as it closes.

        Args:
            blocks: ``(S_block,)`` float32 blocks at 16 kHz, e.g. from
                :func:`serkit.data.audio.read_pcm_stream`.
            adapt: treat the stream as one speaker and normalise with running statistics of its
                speech so far (this window included); ``True`` for the default settings. Windows
                before ``min_seconds`` of speech are not adapted and say so.
            text: a transcript paired with every window, for models that read one (else each
                window's CTC transcript from ``text_from``).

        Yields:
            ``{start, end, label, scores[, arousal, ...]}`` per segment, in time order; with
            ``adapt``, also ``adapted``, ``speaker_seconds`` and, when not adapted, ``reason``.
        """
        self._check_text(text, "stream")
        given = self._given(text)
        segmenter = Segmenter(self.segment)
        cfg = AdaptConfig() if adapt is True else (adapt or None)
        acc = RunningStats() if cfg is not None else None

        def classify(closed: list[Segment]) -> list[dict[str, Any]]:
            if acc is None or cfg is None:
                return self._classify(closed, text=given)
            feats = [self._features(s.samples) for s in closed]
            level, match_std = self.adapt_level(cfg)
            if level == "input" or not self.adaptation_unsupported(cfg):
                self._accumulate(acc, closed, level, feats)
            st = acc.stats("stream", level=level, match_std=match_std, head=self.adapt_head(cfg)) if acc.n else None
            info = self.adaptation(st, "stream", config=cfg)
            info.pop("speaker")
            if not info["adapted"] and acc.seconds < cfg.min_seconds and not self.adaptation_unsupported(cfg):
                info["reason"] = (f"only {acc.seconds:.1f} s of speech so far; adaptation starts after "
                                  f"{cfg.min_seconds:g} s")
            out = self._classify(closed, st if info["adapted"] else None, feats, text=given)
            return [{**r, **info} for r in out]

        for b in blocks:
            closed = segmenter.push(b)
            if closed:
                yield from classify(closed)
        closed = segmenter.flush()
        if closed:
            yield from classify(closed)


def predict_utterances(predictor: Predictor, utts: Sequence[Any]) -> list[dict[str, Any]]:
    """Run a Predictor end to end over manifest utterances, as ``serkit predict`` runs files.

    Whole-file utterances go through :meth:`Predictor.predict_file`; a ``start`` / ``duration``
    segment of a longer recording is read and given to :meth:`Predictor.predict_signal`. Each
    utterance's manifest transcript (``text``) goes with it, for models that read one. A bad
    utterance gives ``{"id", "error"}`` and the rest go on.

    Args:
        predictor: the model.
        utts: :class:`serkit.data.manifest.Utterance` rows.

    Returns:
        one result per utterance, in order, each with its ``id``.
    """
    from serkit.features.extract import load_utterance

    out = []
    for u in utts:
        try:
            if not u.start and u.duration is None:
                r = predictor.predict_file(u.path, text=u.text)
            else:
                r = predictor.predict_signal(load_utterance(u), text=u.text)
        except (SerkitError, OSError, ValueError, RuntimeError) as e:
            r = {"error": str(e) if isinstance(e, SerkitError) else f"{u.path}: {type(e).__name__}: {e}"}
        out.append({"id": u.id, **r})
    return out


def end_to_end_scores(cfg: Any, run_dir: PathLike, *, data_root: PathLike | None = None,
                      threads: int | None = None) -> dict[str, dict[str, float]]:
    """Score every fold model of a ``serkit evaluate --out`` run end to end on its test utterances.

    Each fold's ``checkpoint.pt`` is loaded by :class:`Predictor` and run over the fold's test
    utterances exactly as ``serkit predict`` runs files (voice-activity segments, at most
    ``max_window`` seconds each, duration-weighted mean of the segment scores). Utterances the
    predictor rejects (e.g. no speech found) count as wrong.

    Args:
        cfg: the run's recipe (``ExperimentConfig``).
        run_dir: the run folder (``fold_<name>/checkpoint.pt``).
        data_root: corpus root override.
        threads: torch threads of the predictor.

    Returns:
        ``{fold name: {"e2e_ua", "e2e_wa", "e2e_f1", "e2e_failed"}}``.

    Raises:
        CheckpointError: a fold of the recipe has no model in ``run_dir``.
    """
    from serkit.data.splits import recipe_folds
    from serkit.eval.metrics import classification_scores
    from serkit.experiment import load_data

    utts, labels = load_data(cfg, data_root=data_root)
    by_id = {u.id: u for u in utts}
    out: dict[str, dict[str, float]] = {}
    for f in recipe_folds(cfg, utts):
        pred = Predictor.from_checkpoint(Path(run_dir) / f"fold_{f.name}" / "checkpoint.pt", threads=threads)
        test = [by_id[i] for i in f.test if by_id[i].emotion in labels]
        res = predict_utterances(pred, test)
        guess = [r.get("label") or "(none)" for r in res]
        sc = classification_scores([u.emotion for u in test], guess, labels)
        out[f.name] = {f"e2e_{k}": v for k, v in sc.items()}
        out[f.name]["e2e_failed"] = float(sum(g == "(none)" for g in guess))
    return out
