"""Spectral features against numpy/scipy closed forms, openSMILE on the assets, the on-disk
cache, batch extraction and per-speaker standardisation."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from serkit.config import FeatureConfig
from serkit.data.manifest import Utterance, read_jsonl
from serkit.errors import AudioError, UnknownKeyError
from serkit.features import extract as ex
from serkit.features import functional as F
from serkit.testing import pseudo_wave


def _np_power_spec(x: np.ndarray, n_fft=512, win=400, hop=160) -> np.ndarray:
    """Centred, reflect-padded STFT with a periodic Hann window zero-padded to n_fft: (T, F)."""
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)
    wp = np.zeros(n_fft)
    wp[(n_fft - win) // 2: (n_fft - win) // 2 + win] = w
    xp = np.pad(x, n_fft // 2, mode="reflect")
    t = len(x) // hop + 1
    frames = np.stack([xp[i * hop: i * hop + n_fft] * wp for i in range(t)])
    return np.abs(np.fft.rfft(frames, axis=1)) ** 2


def test_spectrogram_matches_numpy_stft():
    x = pseudo_wave(0.5, seed=1).astype(np.float64)
    ref = _np_power_spec(x)
    got = F.spectrogram(torch.from_numpy(x)).numpy()
    assert got.shape == (8000 // 160 + 1, 257)
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-8)


def test_spectrogram_sine_peaks_at_its_bin_and_batches():
    sr, k = 16000, 40
    f = k * sr / 512  # exactly on bin 40
    x = torch.sin(2 * torch.pi * f * torch.arange(16000) / sr)
    s = F.spectrogram(torch.stack([x, 0.5 * x]))  # (B, T, F)
    assert s.shape == (2, 101, 257)
    assert int(s[0, 50].argmax()) == k
    torch.testing.assert_close(s[1], 0.25 * s[0])  # power: amplitude squared


def test_mel_filterbank_triangles():
    fb = F.mel_filterbank(257, 40)
    assert fb.shape == (257, 40)
    assert (fb >= 0).all() and fb.max() <= 1.0 + 1e-6
    assert (fb.sum(0) > 0).all()  # no empty band
    centres = fb.argmax(0)
    assert (centres[1:] >= centres[:-1]).all()  # bands ordered by frequency
    # HTK Mel: mel(f) = 2595 log10(1 + f / 700); band 20's centre sits at mel point 21 of 42
    mel_max = 2595 * np.log10(1 + 8000 / 700)
    centre_hz = 700 * (10 ** (mel_max * 21 / 41 / 2595) - 1)
    assert abs(float(centres[20]) * 8000 / 256 - centre_hz) <= 8000 / 256


def test_log_mel_and_mfcc_closed_forms():
    from scipy.fft import dct

    x = pseudo_wave(0.5, seed=2).astype(np.float64)
    fb = F.mel_filterbank(257, 64).double().numpy()
    ref_lm = np.log(_np_power_spec(x) @ fb + 1e-6)
    lm = F.log_mel(torch.from_numpy(x), n_mels=64).numpy()
    assert lm.shape == (51, 64)
    np.testing.assert_allclose(lm, ref_lm, rtol=1e-5, atol=1e-5)
    mf = F.mfcc(torch.from_numpy(x), n_mfcc=20, n_mels=64).numpy()
    np.testing.assert_allclose(mf, dct(ref_lm, type=2, norm="ortho", axis=-1)[:, :20], rtol=1e-4, atol=1e-4)
    d = F.dct_matrix(64, 64).double()
    torch.testing.assert_close(d.t() @ d, torch.eye(64, dtype=torch.float64), atol=1e-5, rtol=0)


def test_deltas_of_a_ramp_and_cmvn_and_masks():
    ramp = torch.arange(10.0).reshape(1, 10, 1).repeat(1, 1, 3)  # (B, T, F), slope 1
    d = F.deltas(ramp)
    torch.testing.assert_close(d[0, 2:-2], torch.ones(6, 3))
    assert d.shape == ramp.shape
    m = F.lengths_to_mask(torch.tensor([2, 4]))
    assert m.tolist() == [[False, False, True, True], [False] * 4]
    x = torch.randn(2, 6, 3) * 5 + 2
    y = F.cmvn(x, torch.tensor([6, 4]))
    torch.testing.assert_close(y[0].mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(y[1, :4].mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    assert (y[1, 4:] == 0).all()
    assert F.frames_for(torch.tensor([16000, 159])).tolist() == [101, 1]


@pytest.mark.parametrize("name,dim", [("logmel", 64), ("mfcc", 40), ("spectrogram", 257)])
def test_compute_features_frame_level(name, dim):
    x = pseudo_wave(1.0, seed=3)
    y = ex.compute_features(x, FeatureConfig(name=name))
    assert y.shape == (101, dim) and y.dtype == np.float32 and np.isfinite(y).all()
    y3 = ex.compute_features(x, FeatureConfig(name=name, deltas=True, max_seconds=0.5))
    assert y3.shape == (51, 3 * dim)
    assert ex.compute_features(x, FeatureConfig(name="raw")).shape == (16000,)
    with pytest.raises(UnknownKeyError, match="logmel"):
        ex.compute_features(x, FeatureConfig(name="fbank"))


@pytest.mark.parametrize("name,shape", [("egemaps", (88,)), ("compare", (6373,)),
                                        ("egemaps_lld", (None, 25)), ("compare_lld", (None, 65))])
def test_opensmile_on_assets(assets, name, shape):
    from serkit.features.smile import smile_feature_names

    u = read_jsonl(assets / "manifest.jsonl")[0]
    y = ex.compute_features(ex.load_utterance(u), FeatureConfig(name=name))
    assert y.ndim == len(shape) and y.shape[-1] == shape[-1] and np.isfinite(y).all()
    if y.ndim == 2:
        assert 130 <= y.shape[0] <= 151  # 1.5 s at a 10 ms hop
    assert len(smile_feature_names(name)) == shape[-1]


def test_egemaps_separates_angry_from_sad_loudness(assets):
    """Sanity on real speech: the angry clips are louder than the sad ones of the same speaker."""
    from serkit.features.smile import smile_feature_names

    utts = read_jsonl(assets / "manifest.jsonl")
    feats, errors = ex.extract_features(utts, FeatureConfig(name="egemaps"), progress=False)
    assert not errors
    i = smile_feature_names("egemaps").index("loudness_sma3_amean")
    loud = {u.id: f[i] for u, f in zip(utts, feats, strict=True)}
    assert loud["emodb_03a02Wc"] > loud["emodb_03a02Ta"]
    assert loud["emodb_08a01Wa"] > loud["emodb_08a02Tb"]


# ---------------------------------------------------------------- cache


@pytest.fixture
def counted(monkeypatch):
    calls = []
    real = ex.compute_features

    def spy(signal, cfg):
        calls.append(len(signal))
        return real(signal, cfg)

    monkeypatch.setattr(ex, "compute_features", spy)
    return calls


def _utts(tmp_path, n=3):
    out = []
    for i in range(n):
        p = tmp_path / f"a{i}.wav"
        sf.write(p, pseudo_wave(0.5, seed=i), 16000)
        out.append(Utterance(id=f"a{i}", path=str(p), speaker=f"s{i % 2}"))
    return out


def test_append_joins_frame_level_sets_frame_by_frame(assets):
    from serkit.errors import ConfigError

    x = ex.load_utterance(read_jsonl(assets / "manifest.jsonl")[0])
    mel = ex.compute_features(x, FeatureConfig(name="logmel", n_mels=16))
    lld = ex.compute_features(x, FeatureConfig(name="compare_lld"))
    both = ex.compute_features(x, FeatureConfig(name="logmel", n_mels=16, append=("compare_lld",)))
    t = min(len(mel), len(lld))
    assert both.shape == (t, 16 + 65) and abs(len(mel) - len(lld)) <= 6
    np.testing.assert_array_equal(both[:, :16], mel[:t])
    np.testing.assert_array_equal(both[:, 16:], lld[:t])
    # max_seconds crops the wave once, before every part
    assert len(ex.compute_features(x, FeatureConfig(name="logmel", append=("mfcc",), max_seconds=0.5))) == 51
    # the default config's cache key is unchanged by the new setting; an appended set gets its own
    assert "append" not in ex._cache_config(FeatureConfig(name="mfcc"))
    assert "compare_lld" in ex._cache_config(FeatureConfig(name="mfcc", append=("compare_lld",)))
    for bad in (FeatureConfig(name="compare", append=("mfcc",)), FeatureConfig(name="mfcc", append=("compare",)),
                FeatureConfig(name="logmel", hop_length=320, append=("mfcc",)),
                FeatureConfig(name="ssl", encoder="x", append=("mfcc",))):
        with pytest.raises(ConfigError, match="features.append"):
            ex.compute_features(x, bad)


def test_cache_hit_miss_and_invalidation(tmp_path, counted):
    utts = _utts(tmp_path)
    cfg = FeatureConfig(name="mfcc")
    cache = tmp_path / "cache"
    first, _ = ex.extract_features(utts, cfg, cache_dir=cache, progress=False)
    assert len(counted) == 3
    again, _ = ex.extract_features(utts, cfg, cache_dir=cache, progress=False)
    assert len(counted) == 3  # all hits
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    # a new config is a new cache entry
    ex.extract_features(utts, FeatureConfig(name="mfcc", n_mfcc=13), cache_dir=cache, progress=False)
    assert len(counted) == 6
    # speaker_norm is applied after the cache: no recomputation
    ex.extract_features(utts, FeatureConfig(name="mfcc", speaker_norm=True), cache_dir=cache, progress=False)
    assert len(counted) == 6
    # editing a file's content invalidates its entry only
    sf.write(utts[1].path, pseudo_wave(0.7, seed=99), 16000)
    changed, _ = ex.extract_features(utts, cfg, cache_dir=cache, progress=False)
    assert len(counted) == 7 and counted[-1] == 11200
    assert changed[1].shape[0] != first[1].shape[0]
    np.testing.assert_array_equal(changed[0], first[0])
    # renaming keeps the entry (keyed by content); a different segment is a different entry
    moved = tmp_path / "renamed.wav"
    (tmp_path / "a0.wav").rename(moved)
    u0 = Utterance(id="x", path=str(moved), speaker="s0")
    ex.extract_features([u0], cfg, cache_dir=cache, progress=False)
    assert len(counted) == 7
    ex.extract_features([Utterance(id="x", path=str(moved), speaker="s0", start=0.1)], cfg,
                        cache_dir=cache, progress=False)
    assert len(counted) == 8
    # an empty cache_dir string disables caching
    ex.extract_features([u0], cfg, cache_dir="", progress=False)
    assert len(counted) == 9


def test_corrupt_cache_entry_is_recomputed(tmp_path, counted):
    utts = _utts(tmp_path, 1)
    cfg = FeatureConfig(name="logmel")
    ex.extract_features(utts, cfg, cache_dir=tmp_path / "c", progress=False)
    (entry,) = list((tmp_path / "c").rglob("*.npy"))
    entry.write_bytes(b"garbage")
    (x,), _ = ex.extract_features(utts, cfg, cache_dir=tmp_path / "c", progress=False)
    assert len(counted) == 2 and x.shape == (51, 64)


def test_default_cache_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SERKIT_CACHE", str(tmp_path / "cc"))
    assert ex.default_cache_dir() == tmp_path / "cc"


def test_bad_files_raise_or_are_skipped(tmp_path):
    utts = _utts(tmp_path, 2)
    bad = Utterance(id="bad", path=str(tmp_path / "missing.wav"), speaker="s9")
    with pytest.raises(AudioError, match="missing.wav"):
        ex.extract_features([*utts, bad], FeatureConfig(name="mfcc"), progress=False)
    feats, errors = ex.extract_features([*utts, bad], FeatureConfig(name="mfcc"), progress=False,
                                        skip_errors=True)
    assert feats[2] is None and feats[0] is not None and list(errors) == ["bad"]


# ---------------------------------------------------------------- speaker standardisation


def test_speaker_standardise_vectors_and_frames():
    rng = np.random.default_rng(0)
    a = [rng.normal(5, 3, size=4) for _ in range(6)]
    b = [rng.normal(-2, 0.5, size=4) for _ in range(4)]
    out = ex.speaker_standardise([*a, *b, None], ["A"] * 6 + ["B"] * 4 + ["C"])
    assert out[-1] is None
    for idx in (range(6), range(6, 10)):
        s = np.stack([out[i] for i in idx])
        np.testing.assert_allclose(s.mean(0), 0, atol=1e-5)
        np.testing.assert_allclose(s.std(0), 1, atol=1e-4)
    frames = [rng.normal(3, 2, size=(t, 5)) for t in (7, 11)]
    f = ex.speaker_standardise(frames, ["A", "A"])
    allf = np.concatenate(f)
    np.testing.assert_allclose(allf.mean(0), 0, atol=1e-5)
    assert [x.shape for x in f] == [(7, 5), (11, 5)]


def test_extract_with_speaker_norm(tmp_path):
    utts = _utts(tmp_path, 4)
    feats, _ = ex.extract_features(utts, FeatureConfig(name="egemaps", speaker_norm=True), progress=False)
    s0 = np.stack([feats[0], feats[2]])  # speaker s0
    np.testing.assert_allclose(s0.mean(0), 0, atol=1e-4)
