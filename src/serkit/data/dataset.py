"""Map-style dataset over utterances with precomputed (cached) inputs, and the padded Batch.

Inputs are whatever the front-end produced: ``(T, F)`` frames or ``(S,)`` waves. ``collate``
pads them and keeps absolute lengths; masks are derived later by
:func:`serkit.features.functional.lengths_to_mask`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from serkit.data.avd import AvdStats, standardise_avd
from serkit.data.manifest import Utterance

IGNORE = -100  # target index ignored by cross-entropy (unknown label / gender)
GENDERS = ("f", "m")


@dataclass(frozen=True)
class Batch:
    """A padded batch.

    Attributes:
        inputs: ``(B, T, F)`` features or ``(B, S)`` waves, zero-padded.
        lengths: ``(B,)`` int64 valid frames (or samples) per item.
        ids: utterance ids.
        speakers: speaker ids.
        label: ``(B,)`` int64 emotion index, ``-100`` where unknown; None if no labels at all.
        avd: ``(B, 3)`` float arousal/valence/dominance (normalised), NaN where unknown; or None.
        gender: ``(B,)`` int64 (0 f, 1 m), ``-100`` where unknown; or None.
        tokens: ``(B, L)`` int64 character targets for CTC (0 = blank, padded with 0); or None.
        token_lengths: ``(B,)`` int64; or None.
        text: ``(B, L, D)`` float text-token features (multimodal models); or None.
        text_lengths: ``(B,)`` int64; or None.
    """

    inputs: torch.Tensor
    lengths: torch.Tensor
    ids: list[str]
    speakers: list[str]
    label: torch.Tensor | None = None
    avd: torch.Tensor | None = None
    gender: torch.Tensor | None = None
    tokens: torch.Tensor | None = None
    token_lengths: torch.Tensor | None = None
    text: torch.Tensor | None = None
    text_lengths: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Item:
    """One dataset item before collation (numpy, unpadded)."""

    id: str
    speaker: str
    inputs: np.ndarray
    label: int = IGNORE
    avd: tuple[float, float, float] | None = None
    gender: int = IGNORE
    tokens: np.ndarray | None = None
    text: np.ndarray | None = None


class UtteranceDataset(torch.utils.data.Dataset):
    """Utterances with their precomputed inputs.

    Args:
        utts: utterances.
        inputs: one array per utterance, ``(T, F)`` or ``(S,)``.
        labels: emotion names in class-index order (utterances with other/None labels get -100).
        avd_stats: the training set's ``{"mean": [3], "std": [3]}`` (:func:`serkit.data.avd.fit_avd_stats`)
            to standardise A/V/D targets; None keeps raw.
        tokens: optional CTC targets per utterance.
        text: optional ``(L, D)`` text features per utterance.
    """

    def __init__(self, utts: Sequence[Utterance], inputs: Sequence[np.ndarray], *, labels: Sequence[str] = (),
                 avd_stats: AvdStats | None = None,
                 tokens: Sequence[np.ndarray | None] | None = None,
                 text: Sequence[np.ndarray | None] | None = None) -> None:
        if len(utts) != len(inputs):
            raise ValueError(f"got {len(utts)} utterances but {len(inputs)} inputs")
        self.utts = list(utts)
        self.inputs = list(inputs)
        self.index = {c: i for i, c in enumerate(labels)}
        self.avd_stats = avd_stats
        self.tokens = list(tokens) if tokens is not None else None
        self.text = list(text) if text is not None else None

    def __len__(self) -> int:
        return len(self.utts)

    def length(self, i: int) -> int:
        """Time length of item i (for length-aware batching)."""
        return int(self.inputs[i].shape[0])

    def __getitem__(self, i: int) -> Item:
        u = self.utts[i]
        avd = None
        if u.avd is not None:
            ar, va, do = (float(x) for x in standardise_avd(u.avd, self.avd_stats))
            avd = (ar, va, do)
        return Item(
            id=u.id, speaker=u.speaker, inputs=self.inputs[i],
            label=self.index.get(u.emotion, IGNORE) if u.emotion is not None else IGNORE,
            avd=avd, gender=GENDERS.index(u.gender) if u.gender in GENDERS else IGNORE,
            tokens=self.tokens[i] if self.tokens is not None else None,
            text=self.text[i] if self.text is not None else None,
        )


def _pad(arrays: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([a.shape[0] for a in arrays], dtype=torch.long)
    t = int(lengths.max()) if len(arrays) else 0
    shape = (len(arrays), t, *arrays[0].shape[1:])
    out = torch.zeros(shape, dtype=torch.from_numpy(np.asarray(arrays[0][:0])).dtype)
    for i, a in enumerate(arrays):
        out[i, : a.shape[0]] = torch.from_numpy(np.ascontiguousarray(a))
    return out, lengths


def collate(items: Sequence[Item]) -> Batch:
    """Pad items into a :class:`Batch` (zeros for padding; lengths absolute)."""
    x, lengths = _pad([it.inputs for it in items])
    label = torch.tensor([it.label for it in items], dtype=torch.long)
    gender = torch.tensor([it.gender for it in items], dtype=torch.long)
    avd = None
    if any(it.avd is not None for it in items):
        avd = torch.tensor([it.avd if it.avd is not None else (math.nan,) * 3 for it in items], dtype=torch.float32)
    tokens = token_lengths = None
    if any(it.tokens is not None for it in items):
        toks = [it.tokens if it.tokens is not None else np.zeros(0, dtype=np.int64) for it in items]
        tokens, token_lengths = _pad([t.astype(np.int64) for t in toks])
    text = text_lengths = None
    if any(it.text is not None for it in items):
        dim = next(it.text for it in items if it.text is not None).shape[1]
        txt = [it.text if it.text is not None else np.zeros((0, dim), np.float32) for it in items]
        text, text_lengths = _pad([t.astype(np.float32) for t in txt])
    return Batch(
        inputs=x, lengths=lengths, ids=[it.id for it in items], speakers=[it.speaker for it in items],
        label=label if (label != IGNORE).any() else None, avd=avd,
        gender=gender if (gender != IGNORE).any() else None,
        tokens=tokens, token_lengths=token_lengths, text=text, text_lengths=text_lengths,
    )


class LengthBucketSampler(torch.utils.data.Sampler):
    """Batches of similar length (less padding), shuffled between epochs.

    Sorts a shuffled index within windows of ``50 * batch_size`` by length, cuts batches, and
    shuffles the batch order; deterministic for a given seed and epoch.

    With ``groups`` (e.g. each item's corpus, or corpus and class), every epoch draws the same
    number of items from each group (``len(lengths) / n_groups``): a larger group contributes a
    fresh random subset each epoch, a smaller one is repeated (whole passes plus a random
    remainder). The training prior is then uniform over groups, so the larger corpus does not set it.

    Args:
        lengths: time length per item.
        batch_size: items per batch.
        shuffle: shuffle (training) or keep order (evaluation).
        seed: base seed; the epoch is added via :meth:`set_epoch`.
        groups: optional group label per item, for balanced epochs (needs ``shuffle``).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, *, shuffle: bool = True, seed: int = 0,
                 groups: Sequence[str] | None = None) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        if groups is not None and len(groups) != len(self.lengths):
            raise ValueError(f"got {len(groups)} groups for {len(self.lengths)} items; give one group per item")
        if groups is not None and not shuffle:
            raise ValueError("balanced groups need shuffle=True (evaluation keeps every item once)")
        self.groups = list(groups) if groups is not None else None

    def _balanced(self, rng: random.Random) -> list[int]:
        by: dict[str, list[int]] = {}
        for i, g in enumerate(self.groups or ()):
            by.setdefault(g, []).append(i)
        per = max(1, round(len(self.lengths) / max(len(by), 1)))
        idx: list[int] = []
        for g in sorted(by):
            members = by[g]
            reps, rest = divmod(per, len(members))
            idx += members * reps + rng.sample(members, rest)
        return idx

    def set_epoch(self, epoch: int) -> None:
        """Change the shuffle of the next iteration."""
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        """The batches of the current epoch."""
        idx = list(range(len(self.lengths)))
        if not self.shuffle:
            idx.sort(key=lambda i: self.lengths[i])
            return [idx[i: i + self.batch_size] for i in range(0, len(idx), self.batch_size)]
        rng = random.Random(self.seed * 100003 + self.epoch)
        if self.groups is not None:
            idx = self._balanced(rng)
        rng.shuffle(idx)
        win = self.batch_size * 50
        out = []
        for s in range(0, len(idx), win):
            chunk = sorted(idx[s: s + win], key=lambda i: self.lengths[i])
            out += [chunk[i: i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        rng.shuffle(out)
        return out

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        if self.groups is not None:
            n = len(set(self.groups))
            return math.ceil(n * max(1, round(len(self.lengths) / n)) / self.batch_size)
        return math.ceil(len(self.lengths) / self.batch_size)
