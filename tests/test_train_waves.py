"""AugmentedInputs: per-epoch features from augmented waves, seeded per (seed, epoch, item)."""

from __future__ import annotations

import numpy as np
import pytest

from serkit.config import FeatureConfig
from serkit.data.augment import WaveAugmentConfig
from serkit.features.extract import compute_features
from serkit.testing import pseudo_wave
from serkit.train.waves import AugmentedInputs

pytest.importorskip("audiomentations")

FEAT = FeatureConfig(n_mels=16)
AUG = WaveAugmentConfig(p_noise=1.0, snr_db=(5.0, 20.0), p_gain=1.0, noise_kinds=("white", "babble"))


@pytest.fixture
def waves():
    return [pseudo_wave(0.6, seed=i) for i in range(4)]


def test_on_the_fly_changes_every_epoch_and_is_seeded(waves):
    src = AugmentedInputs(waves, FEAT, AUG, seed=0, progress=False)
    e0, e1 = src.for_epoch(0), src.for_epoch(1)
    assert [x.shape for x in e0] == [compute_features(w, FEAT).shape for w in waves]
    assert not any(np.allclose(a, b) for a, b in zip(e0, e1, strict=True))
    again = AugmentedInputs(waves, FEAT, AUG, seed=0, progress=False).for_epoch(1)
    for a, b in zip(e1, again, strict=True):
        np.testing.assert_array_equal(a, b)
    clean = compute_features(waves[0], FEAT)
    assert not np.allclose(e0[0], clean)


def test_copies_draw_from_clean_and_precomputed(waves):
    src = AugmentedInputs(waves, FEAT, WaveAugmentConfig(p_gain=1.0, gain_db=(-20.0, -10.0), copies=2),
                          seed=1, progress=False)
    assert [len(c) for c in src.copies] == [2] * 4
    seen = set()
    for epoch in range(12):
        for i, x in enumerate(src.for_epoch(epoch)):
            opts = [src.clean[i], *src.copies[i]]
            seen.add(next(k for k, o in enumerate(opts) if np.array_equal(o, x)))
    assert seen == {0, 1, 2}  # the clean original and both copies are drawn


def test_partner_keeps_the_recording_condition(waves):
    src = AugmentedInputs(waves, FEAT, WaveAugmentConfig(p_gain=1.0, gain_db=(-20.0, -10.0), copies=2),
                          seed=1, progress=False)
    for epoch in range(6):
        src.for_epoch(epoch)
        for i, k in enumerate(src.drawn):
            want = src.clean[2] if k == 0 else src.copies[2][k - 1]
            assert src.partner(i, 2) is want
