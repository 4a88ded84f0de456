"""Test helpers shipped with serkit: seeded synthetic audio, dummy manifests, asset paths.

Like Lightning's ``demos/boring_classes.py`` and audformat's ``testing`` module, these let users
test code that builds on serkit without corpora.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from serkit.data.manifest import Utterance, write_jsonl
from serkit.typing import PathLike

EMOTIONS = ("angry", "happy", "neutral", "sad")


def pseudo_wave(seconds: float = 1.0, *, seed: int = 0, sample_rate: int = 16000, f0: float | None = None) -> np.ndarray:
    """A seeded speech-like signal: a harmonic tone with vibrato plus a little noise, float32 (S,)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    f0 = f0 or float(rng.uniform(100, 250))
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 4 * t))) / sample_rate
    x = sum(np.sin(k * phase) / k for k in range(1, 6))
    env = 0.5 * (1 - np.cos(2 * np.pi * np.minimum(t / max(seconds, 1e-3), 1)))
    x = 0.3 * x * env + 0.01 * rng.standard_normal(n)
    return x.astype(np.float32)


def create_audio_files(folder: PathLike, n: int = 8, *, seconds: float = 1.0, seed: int = 0,
                       speakers: int = 4, emotions: tuple[str, ...] = EMOTIONS) -> list[Utterance]:
    """Write ``n`` seeded WAV files and return a manifest for them (speakers and emotions cycle).

    The emotion changes the pitch so that a model can learn it from the audio.
    """
    import soundfile as sf

    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        emo = emotions[i % len(emotions)]
        spk = f"spk{(i // len(emotions)) % speakers}"
        f0 = 100.0 + 40.0 * emotions.index(emo)
        x = pseudo_wave(seconds, seed=seed + i, f0=f0)
        p = d / f"utt{i:03d}.wav"
        sf.write(p, x, 16000, subtype="PCM_16")
        out.append(Utterance(id=f"utt{i:03d}", path=str(p), speaker=spk, corpus="synthetic",
                             duration=seconds, gender="f" if int(spk[3:]) % 2 else "m", emotion=emo,
                             text="hello world"))
    write_jsonl(out, d / "manifest.jsonl")
    return out


def assets_dir() -> Path:
    """The repository's ``tests/assets`` folder (4 EmoDB clips), when running from a checkout."""
    return Path(__file__).resolve().parents[2] / "tests" / "assets"


def save_tiny_checkpoint(path: PathLike, *, labels: tuple[str, ...] = EMOTIONS, n_mels: int = 16,
                         avd: bool = False, seed: int = 0) -> Path:
    """Write a random-weight tiny ``compact_cnn`` checkpoint in serkit's checkpoint format.

    For tests of inference and export without a trained model.

    Args:
        path: ``.pt`` file to write.
        labels: class names.
        n_mels: log-Mel bands of its feature config.
        avd: add an A/V/D head (and ``avd_stats``).
        seed: weight seed.
    """
    import dataclasses

    import torch

    from serkit import __version__
    from serkit.config import FeatureConfig, to_dict
    from serkit.models.compact_cnn import build_compact_cnn, tiny_config

    torch.manual_seed(seed)
    mcfg = dataclasses.replace(tiny_config(), avd=avd)
    model = build_compact_cnn(mcfg, input_dim=n_mels, num_classes=len(labels))
    model.set_input_stats(torch.full((n_mels,), -6.0), torch.full((n_mels,), 3.0))
    model.eval()
    ck = {
        "config": {"data": {}, "features": to_dict(FeatureConfig(name="logmel", n_mels=n_mels)),
                   "model": to_dict(mcfg), "train": {}, "eval": {}},
        "state_dict": model.state_dict(), "label_names": list(labels), "serkit_version": __version__,
        "input_dim": n_mels,
    }
    if avd:
        ck["avd_stats"] = {"mean": [3.0, 3.0, 3.0], "std": [1.0, 0.5, 0.8]}
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ck, p)
    return p
