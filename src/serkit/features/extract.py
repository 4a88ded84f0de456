"""Batch feature extraction with an on-disk cache and per-speaker standardisation.

The cache key is the feature config (minus settings applied after extraction) plus the file's
content hash and the segment times, so renaming a file keeps its cache entry and editing it
invalidates it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from serkit.checkpoint_file import find_checkpoint, resolve_bundled
from serkit.config import FeatureConfig
from serkit.data import audio
from serkit.data.manifest import Utterance
from serkit.errors import AudioError, CheckpointError, ConfigError, UnknownKeyError
from serkit.features import functional as F
from serkit.features.npy_store import load_npy, save_npy
from serkit.features.smile import SMILE_FEATURES, smile_extract
from serkit.typing import PathLike

log = logging.getLogger(__name__)

FEATURE_NAMES = ("logmel", "spectrogram", "mfcc", *SMILE_FEATURES, "raw", "cpc", "ssl")
#: Features that give one vector per utterance (the rest give (T, F) frames).
UTTERANCE_LEVEL = ("egemaps", "compare")
#: Frame-level features at a 10 ms hop with their default settings, which ``features.append`` can add.
APPENDABLE = ("logmel", "spectrogram", "mfcc", "egemaps_lld", "compare_lld")


def default_cache_dir() -> Path:
    """``$SERKIT_CACHE`` or ``~/.cache/serkit``."""
    return Path(os.environ.get("SERKIT_CACHE") or Path.home() / ".cache" / "serkit")


def compute_features(signal: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Features of one 16 kHz mono signal.

    Args:
        signal: ``(S,)`` float32.
        cfg: feature config.

    Returns:
        ``(D,)`` for utterance-level features, ``(T, F)`` for frame-level, ``(S,)`` for raw.
    """
    if cfg.name not in FEATURE_NAMES:
        raise UnknownKeyError("feature", cfg.name, FEATURE_NAMES)
    if cfg.max_seconds is not None:
        signal = signal[: int(cfg.max_seconds * audio.SAMPLE_RATE)]
    if cfg.append:
        return _appended(signal, cfg)
    if cfg.name == "raw":
        return signal.astype(np.float32)
    if cfg.name in SMILE_FEATURES:
        return smile_extract(signal, cfg.name)
    if cfg.name == "cpc":  # frozen CPC encoder pretrained by serkit (serkit pretrain cpc)
        from serkit.features.cpc import cpc_features

        return cpc_features(signal, cfg)
    if cfg.name == "ssl":  # frozen Hugging Face wav2vec2 / HuBERT / WavLM from a local folder
        from serkit.features.ssl import ssl_features

        return ssl_features(signal, cfg)
    x = torch.from_numpy(np.ascontiguousarray(signal))
    kw = {"n_fft": cfg.n_fft, "win_length": cfg.win_length, "hop_length": cfg.hop_length}
    with torch.no_grad():
        if cfg.name == "logmel":
            y = F.log_mel(x, n_mels=cfg.n_mels, **kw)
        elif cfg.name == "mfcc":
            y = F.mfcc(x, n_mfcc=cfg.n_mfcc, n_mels=cfg.n_mels, **kw)
        else:
            y = torch.log(F.spectrogram(x, **kw) + 1e-6)
        if cfg.deltas:
            d1 = F.deltas(y)
            y = torch.cat([y, d1, F.deltas(d1)], dim=-1)  # (T, 3F)
    return y.numpy().astype(np.float32)


def _appended(signal: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """``features.append``: ``cfg.name``'s frames with each appended set's frames beside them."""
    bad = [a for a in cfg.append if a not in APPENDABLE]
    off_hop = cfg.name in ("logmel", "spectrogram", "mfcc") and cfg.hop_length != 160
    if bad or off_hop or cfg.name in (*UTTERANCE_LEVEL, "raw", "ssl"):  # SSL encoders give 20 ms frames
        raise ConfigError(f"features.append joins frame-level features at 10 ms: features.name must be one at a "
                          f"160-sample hop (not {cfg.name!r}, hop {cfg.hop_length}) and each appended set one of "
                          f"{list(APPENDABLE)}, got {list(cfg.append)}")
    parts = [compute_features(signal, replace(cfg, append=(), max_seconds=None))]
    parts += [compute_features(signal, FeatureConfig(name=a)) for a in cfg.append]
    t = min(len(p) for p in parts)  # encoders and openSMILE differ by a few edge frames
    return np.concatenate([p[:t] for p in parts], axis=1).astype(np.float32)


def _cache_config(cfg: FeatureConfig) -> str:
    # standardisation is applied after the cache; trimming changes the utterance's segment times (the key)
    d = asdict(replace(cfg, speaker_norm=False))
    d.pop("trim", None)
    if not d["append"]:
        d.pop("append")  # caches made before the setting existed stay valid
    try:  # the file itself for a CPC checkpoint (bundled:cpc, a run folder) or an encoder folder
        enc = (find_checkpoint if cfg.name == "cpc" else resolve_bundled)(cfg.encoder) if cfg.encoder else None
    except CheckpointError:
        enc = None  # extraction raises the helpful error
    if enc is not None and enc.exists():
        # a re-trained encoder at the same path must not reuse the old features
        st = os.stat(enc)
        d["encoder_stamp"] = [st.st_size, st.st_mtime_ns]
    return json.dumps(d, sort_keys=True)


class FeatureCache:
    """Feature arrays on disk under ``root/<config hash>/<key>.npy``.

    Args:
        root: cache folder.
        cfg: feature config whose hash names the sub-folder.
    """

    def __init__(self, root: PathLike, cfg: FeatureConfig) -> None:
        self.cfg = cfg
        h = hashlib.sha1(_cache_config(cfg).encode()).hexdigest()[:12]
        self.dir = Path(root) / "features" / f"{cfg.name}-{h}"
        self._file_hash: dict[tuple[str, float, int], str] = {}

    def _content_hash(self, path: str) -> str:
        if not os.path.isfile(path):
            audio.info(path)  # raises the AudioError that names the file and the fix
        st = os.stat(path)
        k = (path, st.st_mtime, st.st_size)
        if k not in self._file_hash:
            hsh = hashlib.sha1()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    hsh.update(block)
            self._file_hash[k] = hsh.hexdigest()
        return self._file_hash[k]

    def key(self, u: Utterance) -> str:
        """Cache key of an utterance: content hash and segment times."""
        return hashlib.sha1(f"{self._content_hash(u.path)}|{u.start}|{u.duration}".encode()).hexdigest()

    def get(self, u: Utterance) -> np.ndarray | None:
        """The cached array, or None."""
        return load_npy(self.dir / f"{self.key(u)}.npy")

    def put(self, u: Utterance, x: np.ndarray) -> None:
        """Store an array atomically (write then rename)."""
        save_npy(self.dir / f"{self.key(u)}.npy", x)


def load_utterance(u: Utterance, *, min_duration: float = audio.MIN_DURATION) -> np.ndarray:
    """Audio of one manifest row (its ``start`` / ``duration`` segment)."""
    return audio.load(u.path, start=u.start, duration=u.duration, min_duration=min_duration)


def extract_features(utts: Sequence[Utterance], cfg: FeatureConfig, *, cache_dir: PathLike | None = None,
                     progress: bool = True, skip_errors: bool = False,
                     desc: str | None = None) -> tuple[list[np.ndarray | None], dict[str, str]]:
    """Features for many utterances, cached, with a progress bar.

    Args:
        utts: utterances.
        cfg: feature config.
        cache_dir: cache root (default :func:`default_cache_dir`); ``False``-y string "" disables.
        progress: show a tqdm bar.
        skip_errors: record bad files and go on instead of raising.
        desc: progress-bar label.

    Returns:
        (features in input order, None for failed ones; ``{utterance id: error message}``).

    Raises:
        AudioError: a bad file when ``skip_errors`` is False.
    """
    cache = FeatureCache(cache_dir or default_cache_dir(), cfg) if cache_dir != "" else None
    out: list[np.ndarray | None] = []
    errors: dict[str, str] = {}
    for u in tqdm(utts, desc=desc or f"features {cfg.name}", disable=not progress, unit="utt"):
        try:
            x = cache.get(u) if cache else None
            if x is None:
                x = compute_features(load_utterance(u), cfg)
                if cache:
                    cache.put(u, x)
            out.append(x)
        except AudioError as e:
            if not skip_errors:
                raise
            log.warning("skipping %s", e)
            errors[u.id] = str(e)
            out.append(None)
    if cfg.speaker_norm:
        out = speaker_standardise(out, [u.speaker for u in utts])
    return out, errors


def speaker_standardise(feats: Sequence[np.ndarray | None], speakers: Sequence[str],
                        eps: float = 1e-8) -> list[np.ndarray | None]:
    """Z-normalise each feature dimension per speaker (over utterances, or over all frames).

    Uses only each speaker's unlabelled audio, so it is legitimate for test speakers too (the
    usual "speaker normalisation" of the EmoDB literature). Reports note that it was applied.

    Args:
        feats: ``(D,)`` or ``(T, D)`` arrays (None entries are passed through).
        speakers: speaker of each entry.
    """
    groups: dict[str, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for i, (x, s) in enumerate(zip(feats, speakers, strict=True)):
        if x is not None:
            groups[s].append((i, x))
    out = list(feats)
    for items in groups.values():
        stack = np.concatenate([np.atleast_2d(x) for _, x in items], axis=0)  # (N or sum T, D)
        mu = stack.mean(0)
        sd = stack.std(0) + eps
        for i, x in items:
            out[i] = ((x - mu) / sd).astype(np.float32)
    return out
