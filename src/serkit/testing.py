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


#: spectral slope of each noise colour in dB per octave (as audiomentations' AddColorNoise)
NOISE_SLOPES_DB = {"white": 0.0, "pink": -3.01, "brown": -6.02, "blue": 3.01}


def noise_wave(kind: str = "white", seconds: float = 3.0, *, level_db: float = -30.0, seed: int = 0,
               sample_rate: int = 16000) -> np.ndarray:
    """Seeded coloured noise at an RMS level in dBFS, float32 ``(S,)`` clipped to [-1, 1].

    Args:
        kind: ``white``, ``pink``, ``brown`` or ``blue`` (slopes in :data:`NOISE_SLOPES_DB`).
        seconds: duration.
        level_db: RMS level in dBFS (0 = full-scale sine's RMS + 3 dB).
        seed: seed.
        sample_rate: Hz.

    Examples:
        >>> x = noise_wave("pink", 1.0, level_db=-20.0)
        >>> x.shape, round(float(10 * np.log10(np.mean(x.astype("float64") ** 2))), 1)
        ((16000,), -20.0)
    """
    if kind not in NOISE_SLOPES_DB:
        raise ValueError(f"unknown noise kind {kind!r}; expected one of {list(NOISE_SLOPES_DB)}")
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.arange(spec.size), 1.0)
    x = np.fft.irfft(spec * f ** (NOISE_SLOPES_DB[kind] / 20 / np.log10(2)), n)
    x = x / np.sqrt(np.mean(x**2)) * 10 ** (level_db / 20)
    return np.clip(x, -1, 1).astype(np.float32)


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


def _write_wave(path: Path, seconds: float, seed: int, sample_rate: int = 16000) -> None:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, pseudo_wave(seconds, seed=seed, sample_rate=sample_rate), sample_rate, subtype="PCM_16")


#: (dialog, utterance suffix, IEMOCAP code, [V, A, D]) written per session by create_iemocap_tree
IEMOCAP_FIXTURE = (
    ("impro01", "F000", "neu", (2.5, 2.5, 2.5)),
    ("impro01", "M000", "ang", (1.5, 4.0, 4.0)),
    ("impro01", "F001", "xxx", (2.0, 3.0, 3.0)),
    ("script01_1", "F000", "exc", (4.0, 4.0, 3.5)),
    ("script01_1", "M000", "hap", (4.5, 3.5, 3.0)),
    ("script01_1", "M001", "sad", (1.5, 1.5, 2.0)),
    ("script01_1", "F001", "fru", (2.0, 3.5, 3.0)),
)


def create_iemocap_tree(root: PathLike, *, sessions: int = 2, seconds: float = 0.5) -> Path:
    """Write a miniature ``IEMOCAP_full_release`` with the release's exact layout.

    Per session ``SessionN``: ``dialog/EmoEvaluation/<dialog>.txt`` (header line, then blocks
    ``[start - end]<TAB>utt<TAB>code<TAB>[V, A, D]`` followed by the evaluators' ``C-E1:`` /
    ``A-E1:`` lines), ``dialog/EmoEvaluation/Categorical/`` (ignored by serkit),
    ``dialog/transcriptions/<dialog>.txt`` (``utt [start-end]: text``) and
    ``sentences/wav/<dialog>/<utt>.wav``. The utterances are :data:`IEMOCAP_FIXTURE`.

    Args:
        root: folder to create ``IEMOCAP_full_release`` in.
        sessions: number of sessions (1-5).
        seconds: length of each wav.

    Returns:
        the ``IEMOCAP_full_release`` folder.
    """
    rel = Path(root) / "IEMOCAP_full_release"
    for s in range(1, sessions + 1):
        ses = rel / f"Session{s}"
        prefix = f"Ses{s:02d}F"  # IEMOCAP dialog ids carry the session and the first speaker
        evals: dict[str, list[str]] = {}
        trans: dict[str, list[str]] = {}
        t = 1.0
        for k, (dialog, suffix, code, (v, a, d)) in enumerate(IEMOCAP_FIXTURE):
            dlg = f"{prefix}_{dialog}"
            utt = f"{dlg}_{suffix}"
            start, end = t, t + seconds
            t = end + 0.7
            evals.setdefault(dlg, ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""])
            evals[dlg] += [
                f"[{start:.4f} - {end:.4f}]\t{utt}\t{code}\t[{v:.4f}, {a:.4f}, {d:.4f}]",
                "C-E1:\tNeutral;\t()",
                "C-E2:\tNeutral;\t()",
                f"A-E1:\tval {int(v)}; act {int(a)}; dom  {int(d)};\t()",
                "",
            ]
            trans.setdefault(dlg, []).append(f"{utt} [{start:08.4f}-{end:08.4f}]: Sentence number {k} here.")
            _write_wave(ses / "sentences" / "wav" / dlg / f"{utt}.wav", seconds, seed=100 * s + k)
        for dlg, lines in evals.items():
            p = ses / "dialog" / "EmoEvaluation" / f"{dlg}.txt"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("\n".join(lines) + "\n", encoding="utf-8")
            cat = ses / "dialog" / "EmoEvaluation" / "Categorical" / f"{dlg}_e1_cat.txt"
            cat.parent.mkdir(parents=True, exist_ok=True)
            cat.write_text(f"{dlg}_F000 :Neutral state; ()\n", encoding="utf-8")
            tr = ses / "dialog" / "transcriptions" / f"{dlg}.txt"
            tr.parent.mkdir(parents=True, exist_ok=True)
            tr.write_text("\n".join(trans[dlg]) + "\n", encoding="utf-8")
    return rel


#: (file stem, EmoClass, EmoAct, EmoVal, EmoDom, SpkrID, Gender, Split_Set) of create_msp_podcast_tree
MSP_PODCAST_FIXTURE = (
    ("MSP-PODCAST_0001_0008", "N", 4.0, 4.2, 4.4, "127", "Female", "Train"),
    ("MSP-PODCAST_0001_0009", "A", 5.8, 2.0, 5.6, "127", "Female", "Train"),
    ("MSP-PODCAST_0002_0011", "H", 5.0, 6.0, 4.8, "3", "Male", "Train"),
    ("MSP-PODCAST_0002_0012", "S", 2.6, 2.2, 3.0, "3", "Male", "Development"),
    ("MSP-PODCAST_0003_0001", "U", 5.2, 4.6, 4.0, "88", "Male", "Test1"),
    ("MSP-PODCAST_0003_0002", "A", 6.0, 1.8, 5.8, "88", "Male", "Test1"),
    ("MSP-PODCAST_0004_0005", "X", 4.0, 4.0, 4.0, "Unknown", "Unknown", "Test2"),
    ("MSP-PODCAST_0005_0003", "N", 3.8, 4.0, 4.0, "Unknown", "Female", "Test1"),
)


def create_msp_podcast_tree(root: PathLike, *, seconds: float = 0.5) -> Path:
    """Write a miniature MSP-Podcast release: ``Audios/*.wav`` and ``Labels/labels_consensus.csv``.

    The CSV has the release's columns ``FileName, EmoClass, EmoAct, EmoVal, EmoDom, SpkrID,
    Gender, Split_Set`` and the rows of :data:`MSP_PODCAST_FIXTURE`.

    Returns:
        the release folder.
    """
    rel = Path(root) / "MSP-Podcast"
    lines = ["FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set"]
    for k, (stem, cls, a, v, d, spk, g, part) in enumerate(MSP_PODCAST_FIXTURE):
        _write_wave(rel / "Audios" / f"{stem}.wav", seconds, seed=500 + k)
        lines.append(f"{stem}.wav,{cls},{a},{v},{d},{spk},{g},{part}")
    (rel / "Labels").mkdir(parents=True, exist_ok=True)
    (rel / "Labels" / "labels_consensus.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return rel


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

    from serkit.config import FeatureConfig, to_dict
    from serkit.models.checkpoint import Checkpoint
    from serkit.models.compact_cnn import build_compact_cnn, tiny_config

    torch.manual_seed(seed)
    mcfg = dataclasses.replace(tiny_config(), avd=avd)
    model = build_compact_cnn(mcfg, input_dim=n_mels, num_classes=len(labels))
    model.set_input_stats(torch.full((n_mels,), -6.0), torch.full((n_mels,), 3.0))
    model.eval()
    config = {"data": {}, "features": to_dict(FeatureConfig(name="logmel", n_mels=n_mels)),
              "model": to_dict(mcfg), "train": {}, "eval": {}}
    avd_stats = {"mean": [3.0, 3.0, 3.0], "std": [1.0, 0.5, 0.8]} if avd else None
    p = Checkpoint(config=config, state_dict=model.state_dict(), label_names=list(labels), input_dim=n_mels,
                   avd_stats=avd_stats).save(path)
    return p
