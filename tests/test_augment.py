"""Wave-domain augmentation: seeded, each effect does what it says, bad settings fail clearly."""

from __future__ import annotations

import numpy as np
import pytest

from serkit.data import audio
from serkit.data.augment import WaveAugmentConfig, WaveAugmenter, room_impulse_responses
from serkit.errors import ConfigError

pytest.importorskip("audiomentations")
pytest.importorskip("pyroomacoustics")

SR = 16000


@pytest.fixture(scope="module")
def speech(assets_module) -> list[np.ndarray]:
    return [audio.load(p) for p in sorted(assets_module.glob("*.wav"))]


@pytest.fixture(scope="module")
def assets_module():
    from serkit.testing import assets_dir

    return assets_dir()


def _band_energy(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / SR)
    return float(spec[(f >= lo) & (f < hi)].sum())


def test_off_by_default_is_identity(speech):
    x = speech[0]
    cfg = WaveAugmentConfig()
    assert not cfg.active
    np.testing.assert_array_equal(WaveAugmenter(cfg)(x, np.random.default_rng(0)), x)


def test_seeded_and_varied(speech):
    cfg = WaveAugmentConfig(p_speed=0.5, p_reverb=0.5, p_noise=0.8, p_band=0.5, p_telephone=0.3,
                            p_codec=0.3, p_gain=1.0, n_rirs=3, rt60=(0.2, 0.4))
    aug = WaveAugmenter(cfg, seed=0, pool=speech)
    x = speech[1]
    a = aug(x, np.random.default_rng(7))
    b = aug(x, np.random.default_rng(7))
    c = aug(x, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and np.isfinite(a).all()
    assert a.shape != c.shape or not np.allclose(a, c)
    # the global RNGs audiomentations uses are restored, so augmenting leaves them untouched
    state = np.random.get_state()[1].copy()
    aug(x, np.random.default_rng(9))
    np.testing.assert_array_equal(np.random.get_state()[1], state)


@pytest.mark.parametrize("kind", ["white", "pink", "babble"])
def test_noise_at_requested_snr(speech, kind):
    x = speech[0]
    cfg = WaveAugmentConfig(p_noise=1.0, snr_db=(10.0, 10.0), noise_kinds=(kind,))
    y = WaveAugmenter(cfg, seed=0, pool=speech[1:])(x, np.random.default_rng(0))
    noise = y - x
    snr = 10 * np.log10(np.mean(x**2) / np.mean(noise**2))
    assert snr == pytest.approx(10.0, abs=0.5)


def test_telephone_removes_the_high_band(speech):
    x = speech[0]
    y = WaveAugmenter(WaveAugmentConfig(p_telephone=1.0, telephone_codecs=("mulaw",)))(x, np.random.default_rng(0))
    assert y.shape == x.shape
    # above the 3.4 kHz phone band almost nothing is left; inside it the speech stays
    assert _band_energy(y, 4200, 8000) < 1e-3 * _band_energy(x, 4200, 8000)
    assert _band_energy(y, 500, 3000) > 0.3 * _band_energy(x, 500, 3000)


def test_band_limit_and_mp3_keep_length(speech):
    x = speech[0]
    aug = WaveAugmenter(WaveAugmentConfig(p_band=1.0, lowpass_hz=(3000.0, 3000.0), p_codec=1.0, mp3_kbps=(16, 16)))
    y = aug(x, np.random.default_rng(0))
    assert y.shape == x.shape
    assert _band_energy(y, 5000, 8000) < 0.05 * _band_energy(x, 5000, 8000)


def test_speed_changes_length(speech):
    x = speech[0]
    y = WaveAugmenter(WaveAugmentConfig(p_speed=1.0, speed=(1.25, 1.25)))(x, np.random.default_rng(0))
    assert abs(y.size - x.size / 1.25) <= 2


def test_gain_clips(speech):
    x = speech[0]
    y = WaveAugmenter(WaveAugmentConfig(p_gain=1.0, gain_db=(30.0, 30.0)))(x, np.random.default_rng(0))
    assert np.max(np.abs(y)) <= 1.0 and np.mean(np.abs(y) == 1.0) > 0.01


def test_reverb_bank_cached_and_smears_energy(speech, tmp_path):
    cfg = WaveAugmentConfig(p_reverb=1.0, n_rirs=2, rt60=(0.5, 0.6))
    aug = WaveAugmenter(cfg, seed=3, cache_dir=tmp_path)
    assert len(list((tmp_path / "rir").glob("*.npz"))) == 1
    again = WaveAugmenter(cfg, seed=3, cache_dir=tmp_path)
    for h1, h2 in zip(aug.rirs, again.rirs, strict=True):
        np.testing.assert_array_equal(h1, h2)
    x = np.zeros(SR, np.float32)
    x[1000] = 1.0  # an impulse comes out as a decaying tail
    y = aug(x, np.random.default_rng(0))
    assert np.abs(y[1000 + SR // 10:]).max() > 1e-3
    assert np.abs(y[:1000]).max() < 1e-6  # causal: nothing before the impulse (FFT round-off only)


def test_rir_bank_peaks_at_start():
    for h in room_impulse_responses(2, (0.2, 0.3), seed=0):
        assert int(np.argmax(np.abs(h))) == 0 and np.max(np.abs(h)) == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [
    {"p_noise": 1.5}, {"snr_db": (10.0, 0.0)}, {"noise_kinds": ("traffic",)},
    {"telephone_codecs": ("gsm",)}, {"mp3_kbps": (9, 12)}, {"speed": (0.0, 1.0)},
])
def test_bad_settings_raise(bad):
    with pytest.raises(ConfigError, match="train.augment.wave"):
        WaveAugmentConfig(**bad)


def test_rejects_stereo():
    with pytest.raises(ValueError, match="mono"):
        WaveAugmenter(WaveAugmentConfig(p_gain=1.0))(np.zeros((100, 2), np.float32), np.random.default_rng(0))
