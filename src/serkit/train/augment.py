"""Training-time augmentation of model inputs: the ``train.augment`` recipe section.

Feature-domain augmentation applied by the one training loop (:func:`serkit.train.loop.train_model`)
to every training batch, never to validation or test data:

- random crops of long utterances (``crop_frames``), so the model also works on the few-second
  voice-activity segments it sees at prediction time;
- joined utterances (``join``): a training utterance continued by others of the same speaker and
  emotion up to ``crop_frames``, so the model also sees the longer stretches of one speaker that
  prediction windows (up to 6 s) cut from continuous speech;
- a random gain (``gain_db``), added to log-power features (log-Mel, spectrogram);
- SpecAugment-style masks (D. S. Park et al., "SpecAugment: A Simple Data Augmentation Method for
  Automatic Speech Recognition", Interspeech 2019, arXiv:1904.08779, sec. 2: frequency and time
  masking; no time warping). Masked cells take the utterance's mean value instead of the paper's
  zero, because serkit's features are not mean-normalised.

All randomness comes from the ``random.Random`` the loop passes in, seeded by ``(seed, epoch)``,
so a resumed run draws the same augmentation as an uninterrupted one.

Examples:
    >>> import random, numpy as np
    >>> aug = FeatureAugmenter(AugmentConfig(crop_frames=50, freq_mask=4, time_mask=10))
    >>> aug.crop(np.zeros((120, 8), np.float32), random.Random(0)).shape
    (50, 8)
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from serkit.data.augment import WaveAugmentConfig
from serkit.errors import ConfigError

#: features on a log-power scale, where a gain is an additive constant
LOG_POWER_FEATURES = ("logmel", "spectrogram")


@dataclass(frozen=True)
class AugmentConfig:
    """The ``train.augment`` section (all off by default).

    Attributes:
        crop_frames: crop each training utterance longer than this to a random window of this
            many frames (samples for raw-wave inputs); 0 keeps whole utterances.
        gain_db: random gain, uniform in ``[-gain_db, +gain_db]`` dB, added to log-power features
            (``features.name`` logmel or spectrogram); 0 disables.
        freq_mask: SpecAugment frequency mask: one band of 0 to ``freq_mask`` bins per utterance
            (parameter F of the paper); 0 disables.
        time_mask: SpecAugment time mask: one span of 0 to ``time_mask`` frames per utterance
            (parameter T), at most ``time_mask_fraction`` of the utterance; 0 disables.
        time_mask_fraction: upper bound of a time mask as a share of the utterance (the paper's p).
        wave: wave-domain augmentation before the features are computed (noise, rooms,
            channels, codecs, speed, gain: :class:`serkit.data.augment.WaveAugmentConfig`);
            the loop feeds it through :class:`serkit.train.waves.AugmentedInputs`.
        join: share of the training utterances that, each epoch, go on with other utterances of
            the same speaker and emotion (drawn at random, appended frame to frame) until the
            input reaches ``crop_frames`` frames (then cropped as usual): longer stretches of
            one speaker in one emotion, as prediction sees in continuous speech. Needs
            ``crop_frames``; 0 disables (:func:`join_same_group`).
    """

    crop_frames: int = 0
    gain_db: float = 0.0
    freq_mask: int = 0
    time_mask: int = 0
    time_mask_fraction: float = 0.2
    wave: WaveAugmentConfig = field(default_factory=WaveAugmentConfig)
    join: float = 0.0

    @property
    def enabled(self) -> bool:
        """Whether any augmentation is on."""
        return bool(self.crop_frames or self.gain_db or self.freq_mask or self.time_mask)

    def check_join(self) -> None:
        """Refuse a join share outside [0, 1] or without ``crop_frames`` (its target length)."""
        if not 0.0 <= self.join <= 1.0:
            raise ConfigError(f"train.augment.join must be in [0, 1] (0 = off), got {self.join}")
        if self.join and not self.crop_frames:
            raise ConfigError("train.augment.join appends utterances up to train.augment.crop_frames frames; "
                              "set train.augment.crop_frames (e.g. 600 = 6 s of 10 ms frames)")


def join_same_group(inputs: Sequence[np.ndarray], groups: Sequence[Hashable], share: float, max_frames: int,
                    rng: random.Random, partner: Callable[[int, int], np.ndarray] | None = None) -> list[np.ndarray]:
    """``train.augment.join``: continue a share of the items with other items of their group.

    Each item is picked with probability ``share``; a picked item is followed by other members of
    its group (no repeats, random order) until it has at least ``max_frames`` frames or the group
    is used up. Items alone in their group stay as they are.

    Args:
        inputs: one ``(T, ...)`` array per item (this epoch's inputs).
        groups: the group of each item (e.g. ``(speaker, emotion)``).
        share: probability that an item is extended.
        max_frames: target length in frames.
        rng: random source (its own stream, so ``share = 0`` draws nothing).
        partner: ``partner(i, j)`` gives the input of item ``j`` to append to item ``i`` (default
            ``inputs[j]``; :meth:`serkit.train.waves.AugmentedInputs.partner` keeps the recording
            condition of item ``i``).

    Returns:
        the items, extended or not (a new list; unchanged items are the same arrays).

    Examples:
        >>> import random
        >>> xs = [np.zeros((3, 2)), np.ones((4, 2)), np.full((5, 2), 2.0)]
        >>> out = join_same_group(xs, ["a", "a", "b"], 1.0, 6, random.Random(0))
        >>> [x.shape[0] for x in out]
        [7, 7, 5]
    """
    if share <= 0:
        return list(inputs)
    members: dict[Hashable, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    get = partner if partner is not None else (lambda i, j: inputs[j])
    out = list(inputs)
    for i, x in enumerate(inputs):
        if rng.random() >= share:
            continue
        others = [j for j in members[groups[i]] if j != i]
        rng.shuffle(others)
        parts, n = [x], x.shape[0]
        for j in others:
            if n >= max_frames:
                break
            parts.append(get(i, j))
            n += parts[-1].shape[0]
        if len(parts) > 1:
            out[i] = np.concatenate(parts, 0)
    return out


class FeatureAugmenter:
    """Applies an :class:`AugmentConfig` to training items and padded training batches.

    Args:
        cfg: the section.
        feature_name: ``features.name`` of the recipe (gain needs log-power features; masks need
            ``(T, F)`` frames).

    Raises:
        ConfigError: a setting that does not fit the features.
    """

    def __init__(self, cfg: AugmentConfig, *, feature_name: str = "logmel") -> None:
        for k in ("crop_frames", "freq_mask", "time_mask"):
            if getattr(cfg, k) < 0:
                raise ConfigError(f"train.augment.{k} must be >= 0, got {getattr(cfg, k)}")
        if cfg.gain_db < 0 or not 0 < cfg.time_mask_fraction <= 1:
            raise ConfigError(f"train.augment: gain_db must be >= 0 and time_mask_fraction in (0, 1], got "
                              f"{cfg.gain_db} and {cfg.time_mask_fraction}")
        if cfg.gain_db and feature_name not in LOG_POWER_FEATURES:
            raise ConfigError(f"train.augment.gain_db needs log-power features {list(LOG_POWER_FEATURES)}, got "
                              f"features.name={feature_name}; set train.augment.gain_db=0")
        if (cfg.freq_mask or cfg.time_mask) and feature_name == "raw":
            raise ConfigError("train.augment.freq_mask / time_mask need (T, F) features, got features.name=raw")
        self.cfg = cfg
        # a gain of g dB multiplies power by 10^(g/10): + g * ln(10) / 10 in natural-log power
        self.gain = cfg.gain_db * math.log(10.0) / 10.0

    def crop(self, x: np.ndarray, rng: random.Random) -> np.ndarray:
        """A random ``crop_frames`` window of one item ``(T, ...)`` (whole if shorter or crops off)."""
        n = self.cfg.crop_frames
        if not n or x.shape[0] <= n:
            return x
        o = rng.randrange(x.shape[0] - n + 1)
        return x[o:o + n]

    def batch(self, x: torch.Tensor, lengths: torch.Tensor, rng: random.Random) -> torch.Tensor:
        """Gain and masks on a padded batch.

        Args:
            x: ``(B, T, F)`` features, zero-padded.
            lengths: ``(B,)`` valid frames.
            rng: random source.

        Returns:
            the augmented batch (a new tensor; padding stays zero).
        """
        c = self.cfg
        if not (c.gain_db or c.freq_mask or c.time_mask):
            return x
        x = x.clone()
        for j in range(x.shape[0]):
            t_len = int(lengths[j])
            v = x[j, :t_len]  # (T, F) view of the valid frames
            if c.gain_db:
                v += rng.uniform(-self.gain, self.gain)
            fill = v.mean()
            if c.freq_mask and x.shape[2] > 1:
                w = rng.randrange(min(c.freq_mask, x.shape[2] - 1) + 1)
                f0 = rng.randrange(x.shape[2] - w + 1)
                v[:, f0:f0 + w] = fill
            if c.time_mask:
                w = rng.randrange(min(c.time_mask, max(1, int(t_len * c.time_mask_fraction))) + 1)
                t0 = rng.randrange(max(1, t_len - w + 1))
                v[t0:t0 + w] = fill
        return x


__all__ = ["LOG_POWER_FEATURES", "AugmentConfig", "FeatureAugmenter", "join_same_group"]
