"""Recipe configuration: frozen dataclasses, YAML load/dump, dotted overrides, unknown-key errors.

A recipe is a YAML file with the top-level sections ``data``, ``features``, ``model`` (with a
``name``), ``train`` and ``eval``. Each section is a frozen dataclass: ``data``, ``features`` and
``eval`` are defined here; ``model`` next to each model's code (:data:`serkit.models.MODELS`) and
``train`` next to the loop (:class:`serkit.train.loop.TrainConfig`). A recipe is resolved once,
by :func:`serkit.experiment.recipe_from_dict`, and passed down typed.

Examples:
    >>> d = apply_overrides({"model": {"name": "linear_svm"}}, ["model.C=0.5", "eval.seed=3"])
    >>> d["model"]["C"], d["eval"]["seed"]
    (0.5, 3)
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from serkit.errors import ConfigError, UnknownKeyError
from serkit.typing import PathLike

SECTIONS = ("data", "features", "model", "train", "eval")


@dataclass(frozen=True)
class DataConfig:
    """Which corpus and labels.

    Attributes:
        corpus: a name in :data:`serkit.data.corpora.CORPORA` or ``"manifest"``.
        root: corpus folder; None looks in ``$SERKIT_DATA`` then ``../shared/data``.
        labels: label set of the corpus adapter (e.g. ``emodb7``, ``ravdess8``, ``4class``).
        manifest: JSONL/CSV manifest for ``corpus: manifest``.
        max_utterances: keep at most this many (stratified by speaker) for smoke runs; None = all.
    """

    corpus: str = "emodb"
    root: str | None = None
    labels: str | None = None
    manifest: str | None = None
    max_utterances: int | None = None


@dataclass(frozen=True)
class FeatureConfig:
    """Front-end settings.

    Attributes:
        name: ``logmel``, ``spectrogram``, ``mfcc``, ``egemaps`` / ``compare`` (openSMILE
            functionals, one vector per utterance), ``egemaps_lld`` / ``compare_lld`` (openSMILE
            frame-level LLDs), or ``raw`` (waveform, for encoders that learn their own front-end).
        n_mels: Mel bands.
        n_fft: FFT size in samples (16 kHz).
        win_length: analysis window in samples.
        hop_length: hop in samples (160 = 10 ms).
        n_mfcc: cepstral coefficients.
        deltas: append first and second derivatives.
        speaker_norm: standardise features per speaker (uses each speaker's unlabelled audio).
        max_seconds: crop utterances longer than this (None = keep whole).
        trim: cut every utterance to its speech span (first to last speech segment of the
            prediction segmenter, :mod:`serkit.train.trim`) before features and augmentation, so
            training sees what ``Predictor`` classifies.
        encoder: local folder or checkpoint of a pretrained encoder for ``cpc`` / ``ssl``
            features (frozen; the features are cached like any other).
        layer: encoder layer to take (None = the encoder's default / last).
        append: further frame-level feature sets (``logmel``, ``spectrogram``, ``mfcc``,
            ``egemaps_lld``, ``compare_lld``; each with its default settings) computed on the same
            wave and concatenated to ``name``'s frames, all at 10 ms, cut to the shortest; e.g.
            ``cpc`` + ``[compare_lld]`` gives the CPC context next to pitch, energy and voice quality.
    """

    name: str = "logmel"
    n_mels: int = 64
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    n_mfcc: int = 40
    deltas: bool = False
    speaker_norm: bool = False
    max_seconds: float | None = None
    trim: bool = False
    encoder: str | None = None
    layer: int | None = None
    append: tuple[str, ...] = ()


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation protocol.

    Attributes:
        protocol: ``loso`` (leave one speaker out), ``speaker_kfold`` (speaker-grouped k-fold),
            ``loso_session`` (leave one session out), ``official`` (corpus partition), ``holdout`` (the
            speakers in ``test_speakers``), ``dev`` (model selection: train without the
            ``test_speakers``, test on ``dev_speakers``),
            ``cross_corpus`` (train on ``train_corpora``, test on each of ``test_corpora``),
            ``leave_one_corpus_out`` (each corpus of a pooled ``data.corpus: a+b+c`` tested once), or
            ``random_kfold`` (speaker-DEPENDENT; needs ``speaker_dependent: true``).
        folds: k for k-fold protocols; for ``loso`` an optional cap on the number of folds run.
        seed: seed of fold assignment.
        speaker_dependent: allow splits that share speakers (the report then says so).
        official_train: partitions used for training under ``official``.
        official_test: partition used for testing under ``official``.
        test_speakers: speakers held out under ``holdout`` (one fold: train on the rest).
        dev_speakers: development speakers under ``dev`` (training speakers, never test speakers).
        train_corpora: corpora trained on under ``cross_corpus`` (empty: all but ``test_corpora``).
        test_corpora: corpora tested under ``cross_corpus`` (one fold each), or the subset held out
            in turn under ``leave_one_corpus_out`` (empty: all). Classes not shared by every
            corpus involved are dropped.
        only_folds: run only these folds (by name, e.g. ``emodb_12``): a low-level setting (e.g. to
            re-run one fold); a later ``serkit evaluate ... --out DIR --resume`` without it reports
            all folds (finished folds only predict). The report notes a partial run. To run folds
            in parallel use ``serkit evaluate --engine ray`` instead.
    """

    protocol: str = "loso"
    folds: int | None = None
    seed: int = 0
    speaker_dependent: bool = False
    official_train: tuple[str, ...] = ("Train",)
    official_test: str = "Test1"
    test_speakers: tuple[str, ...] = ()
    dev_speakers: tuple[str, ...] = ()
    train_corpora: tuple[str, ...] = ()
    test_corpora: tuple[str, ...] = ()
    only_folds: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExperimentConfig:
    """A whole recipe, every section typed.

    ``model`` is the model's own config dataclass (next to its code in :mod:`serkit.models`) and
    ``train`` is :class:`serkit.train.loop.TrainConfig` (next to the loop). This module sits
    below both in the layer order, so it does not import them: build recipes with
    :func:`serkit.experiment.recipe_from_dict` / :func:`serkit.experiment.load_recipe`, which
    resolve every section once.
    """

    data: DataConfig
    features: FeatureConfig
    model: Any
    train: Any
    eval: EvalConfig

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML/JSON ready)."""
        return to_dict(self)


def to_dict(obj: Any) -> Any:
    """Dataclasses and tuples to plain dicts and lists, recursively."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def from_dict(cls: type, d: Mapping[str, Any] | None, *, where: str = "") -> Any:
    """Build dataclass ``cls`` from a dict, raising on unknown keys and coercing simple types.

    Args:
        cls: a dataclass type.
        d: its values (missing keys take defaults).
        where: dotted prefix used in error messages.

    Raises:
        UnknownKeyError: a key is not a field; the message lists the valid ones.
        ConfigError: a value has the wrong type.
    """
    d = dict(d or {})
    hints = typing.get_type_hints(cls)
    valid = {f.name for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for k, v in d.items():
        if k not in valid:
            raise UnknownKeyError(f"key in {where or cls.__name__}", f"{where + '.' if where else ''}{k}",
                                  [f"{where + '.' if where else ''}{n}" for n in valid])
        kwargs[k] = _coerce(v, hints[k], f"{where}.{k}" if where else k)
    return cls(**kwargs)


def _coerce(v: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if v is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(v, a, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {v!r}")
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(v, Mapping):
            raise ConfigError(f"{where} must be a mapping, got {v!r}")
        return from_dict(tp, v, where=where)
    if origin in (tuple, Sequence, list):
        if isinstance(v, (str, bytes)) or not isinstance(v, (list, tuple)):
            v = [v]
        inner = args[0] if args else Any
        items = [_coerce(x, inner, where) for x in v]
        return tuple(items) if origin is not list else items
    if origin is dict or tp is dict:
        if not isinstance(v, Mapping):
            raise ConfigError(f"{where} must be a mapping, got {v!r}")
        vt = args[1] if len(args) == 2 else Any
        return {str(k): _coerce(x, vt, where) for k, x in v.items()}
    if tp is Any:
        return v
    if tp is bool:
        if isinstance(v, bool):
            return v
        raise ConfigError(f"{where} must be true or false, got {v!r}")
    if tp is int:
        if isinstance(v, bool) or not isinstance(v, int):
            if isinstance(v, float) and v.is_integer():
                return int(v)
            raise ConfigError(f"{where} must be an integer, got {v!r}")
        return v
    if tp is float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"{where} must be a number, got {v!r}")
        return float(v)
    if tp is str:
        if not isinstance(v, str):
            raise ConfigError(f"{where} must be a string, got {v!r}")
        return v
    return v


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(d: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to a nested dict, in place.

    Raises:
        ConfigError: an override is not ``key=value`` or its top-level section is unknown.
    """
    for o in overrides:
        if "=" not in o:
            raise ConfigError(f"override {o!r} must look like section.key=value, e.g. model.hidden_dim=128")
        key, _, val = o.partition("=")
        parts = key.strip().split(".")
        if parts[0] not in SECTIONS:
            raise UnknownKeyError("recipe section", parts[0], SECTIONS)
        node = d
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {o!r}: {p} is not a section")
        node[parts[-1]] = _parse_value(val)
    return d


def load_dict(path: PathLike) -> dict[str, Any]:
    """Read a recipe YAML into a dict, checking its top-level sections."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: recipe not found; see configs/ for examples")
    try:
        d = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML ({e})") from None
    if not isinstance(d, dict):
        raise ConfigError(f"{p}: a recipe must be a mapping with sections {list(SECTIONS)}")
    for k in d:
        if k not in SECTIONS:
            raise UnknownKeyError("recipe section", k, SECTIONS)
    return d


def parse_recipe(d: Mapping[str, Any], *, model_config: Callable[[Mapping[str, Any]], Any],
                 train_config: type) -> ExperimentConfig:
    """Build a typed recipe from a dict, given the resolvers of the sections defined above this layer.

    Use :func:`serkit.experiment.recipe_from_dict`, which passes
    :func:`serkit.models.model_config_from_dict` and :class:`serkit.train.loop.TrainConfig`.

    Raises:
        UnknownKeyError: unknown section or key (listing the valid ones).
        ConfigError: ``model.name`` missing, or a value of the wrong type.
    """
    for k in d:
        if k not in SECTIONS:
            raise UnknownKeyError("recipe section", k, SECTIONS)
    model = dict(d.get("model") or {"name": "linear_svm"})
    if "name" not in model:
        raise ConfigError("model.name is missing; set it to a model name, e.g. model.name=linear_svm")
    return ExperimentConfig(
        data=from_dict(DataConfig, d.get("data"), where="data"),
        features=from_dict(FeatureConfig, d.get("features"), where="features"),
        model=model_config(model),
        train=from_dict(train_config, d.get("train"), where="train"),
        eval=from_dict(EvalConfig, d.get("eval"), where="eval"),
    )


def dump_yaml(cfg: ExperimentConfig | Mapping[str, Any], path: PathLike) -> Path:
    """Write a (resolved) config as YAML."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    d = cfg.to_dict() if isinstance(cfg, ExperimentConfig) else to_dict(dict(cfg))
    p.write_text(yaml.safe_dump(d, sort_keys=False), encoding="utf-8")
    return p
