"""Training inputs from augmented waves (the ``train.augment.wave`` path of the training loop).

The training waves are held in memory; every epoch each utterance gets a fresh random recording
condition (:class:`serkit.data.augment.WaveAugmenter`) and its features are computed from the
augmented wave by the model's own front-end (:func:`serkit.features.extract.compute_features`,
log-Mel in torch), so training sees exactly the inputs inference computes.

Augmenting costs ~15 ms per 3 s utterance with every effect on, which is most of an epoch of a
small model on one core. ``train.augment.wave.copies = K`` therefore precomputes K augmented
versions of each utterance once and draws one of them (or the clean original) per epoch: K + 1
recording conditions per utterance instead of one per epoch, at a fraction of the cost.

Every draw is seeded by ``(seed, epoch, item)``, so a resumed run sees the same inputs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm

from serkit.config import FeatureConfig
from serkit.data.augment import WaveAugmentConfig, WaveAugmenter
from serkit.features.extract import compute_features
from serkit.typing import PathLike

log = logging.getLogger(__name__)


class AugmentedInputs:
    """Per-epoch model inputs of training utterances, computed from augmented waves.

    Args:
        waves: one ``(S,)`` float32 16 kHz wave per training utterance.
        features: the recipe's feature config (the model's front-end).
        augment: the ``train.augment.wave`` settings.
        seed: base seed (the recipe's ``train.seed``).
        clean: the clean features of each wave, if already computed (saves recomputing them).
        cache_dir: where the augmenter keeps its room impulse responses.
        progress: show a bar while precomputing copies.

    Examples:
        >>> import numpy as np
        >>> from serkit.config import FeatureConfig
        >>> waves = [np.random.default_rng(i).standard_normal(8000).astype("float32") * 0.1 for i in range(3)]
        >>> src = AugmentedInputs(waves, FeatureConfig(n_mels=16), WaveAugmentConfig(p_gain=1.0), progress=False)
        >>> [x.shape for x in src.for_epoch(0)]
        [(51, 16), (51, 16), (51, 16)]
    """

    def __init__(self, waves: Sequence[np.ndarray], features: FeatureConfig, augment: WaveAugmentConfig, *,
                 seed: int = 0, clean: Sequence[np.ndarray] | None = None, cache_dir: PathLike | None = None,
                 progress: bool = True) -> None:
        self.waves = [np.asarray(w, dtype=np.float32) for w in waves]
        self.features = features
        self.cfg = augment
        self.seed = seed
        self.augmenter = WaveAugmenter(augment, seed=seed, pool=self.waves, cache_dir=cache_dir)
        self.clean = list(clean) if clean is not None else [compute_features(w, features) for w in self.waves]
        self.copies: list[list[np.ndarray]] = []
        self.drawn: list[int] = []  # per utterance, the version for_epoch last gave (0 = clean, k = copy k)
        if augment.copies > 0:
            bar = tqdm(total=len(self.waves) * augment.copies, desc="augmented copies", unit="utt",
                       disable=not progress)
            for i, w in enumerate(self.waves):
                row = []
                for k in range(augment.copies):
                    rng = np.random.default_rng([seed, 1_000_000 + k, i])
                    row.append(compute_features(self.augmenter(w, rng), features))
                    bar.update()
                self.copies.append(row)
            bar.close()

    def __len__(self) -> int:
        return len(self.waves)

    def for_epoch(self, epoch: int) -> list[np.ndarray]:
        """Inputs of every utterance for one epoch (deterministic in ``(seed, epoch)``)."""
        out, self.drawn = [], []
        for i, w in enumerate(self.waves):
            rng = np.random.default_rng([self.seed, epoch, i])
            if self.copies:
                k = int(rng.integers(len(self.copies[i]) + 1))
                out.append(self.clean[i] if k == 0 else self.copies[i][k - 1])
            else:
                k = 1
                out.append(compute_features(self.augmenter(w, rng), self.features))
            self.drawn.append(k)
        return out

    def partner(self, i: int, j: int) -> np.ndarray:
        """Utterance ``j`` in the kind of version utterance ``i`` got this epoch (for ``train.augment.join``).

        Clean after clean; after augmented copy k, utterance j's copy k (its own random condition);
        without precomputed copies, a fresh augmentation of j. The first :meth:`for_epoch` of the
        epoch must come first.
        """
        k = self.drawn[i]
        if k == 0:
            return self.clean[j]
        if self.copies:
            return self.copies[j][k - 1]
        return compute_features(self.augmenter(self.waves[j], np.random.default_rng([self.seed, -1, i, j])), self.features)
