"""serkit.data.audio: formats, rates, channels, PCM types, streaming, and every bad-input case."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from serkit.data import audio
from serkit.errors import AudioError
from serkit.testing import pseudo_wave

SR = 16000


def _tone(seconds: float, sr: int, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float64)


def _peak_hz(x: np.ndarray, sr: int = SR) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * sr / len(x))


def _expect_error(path, *words: str) -> AudioError:
    """load() and stream() both raise AudioError naming the file, the problem and a fix."""
    for read in (audio.load, lambda p: list(audio.stream(p))):
        with pytest.raises(AudioError) as ei:
            read(path)
        msg = str(ei.value)
        assert str(path) in msg
        assert ei.value.fix and ei.value.problem
        for w in words:
            assert w in msg.lower(), msg
        assert ei.value.__cause__ is None  # no chained library traceback
    return ei.value


# ---------------------------------------------------------------- good input


@pytest.mark.parametrize("subtype,dtype", [("PCM_16", "int16"), ("PCM_32", "int32"),
                                           ("FLOAT", "float32"), ("DOUBLE", "float64"),
                                           ("PCM_U8", None), ("PCM_24", None)])
def test_pcm_types_load_as_float32_in_range(tmp_path, subtype, dtype):
    x = _tone(0.5, SR, amp=0.8)
    p = tmp_path / f"{subtype}.wav"
    sf.write(p, x, SR, subtype=subtype)
    assert sf.info(p).subtype == subtype
    y = audio.load(p)
    assert y.dtype == np.float32 and y.shape == (len(x),)
    assert np.max(np.abs(y)) <= 1.0
    tol = {"PCM_U8": 1e-2}.get(subtype, 1e-4)
    np.testing.assert_allclose(y, x, atol=tol)


def test_integer_arrays_scale_to_unit_range():
    x16 = np.array([-32768, 0, 16384, 32767], dtype=np.int16)
    np.testing.assert_allclose(audio.to_mono_float32(x16), [-1.0, 0.0, 0.5, 32767 / 32768])
    x32 = np.array([-(2**31), 2**30], dtype=np.int32)
    np.testing.assert_allclose(audio.to_mono_float32(x32), [-1.0, 0.5])
    u8 = np.array([0, 128, 192], dtype=np.uint8)
    np.testing.assert_allclose(audio.to_mono_float32(u8), [-1.0, 0.0, 0.5])
    f64 = np.array([0.25, -0.5], dtype=np.float64)
    assert audio.to_mono_float32(f64).dtype == np.float32


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000])
def test_any_rate_resampled_to_16k(tmp_path, sr):
    p = tmp_path / f"r{sr}.wav"
    sf.write(p, _tone(1.0, sr), sr, subtype="PCM_16")
    y = audio.load(p)
    assert abs(len(y) - SR) <= 1
    assert abs(_peak_hz(y) - 440.0) < 2.0
    assert 0.45 < np.max(np.abs(y[2000:-2000])) < 0.55  # amplitude kept


def test_stereo_and_multichannel_to_mono_mean(tmp_path):
    left, right = _tone(0.5, SR, 300, 0.6), _tone(0.5, SR, 700, 0.2)
    p = tmp_path / "st.wav"
    sf.write(p, np.stack([left, right], 1), SR, subtype="FLOAT")
    np.testing.assert_allclose(audio.load(p), (left + right) / 2, atol=1e-6)
    p4 = tmp_path / "ch4.flac"
    four = np.stack([left, right, left, -left], 1)
    sf.write(p4, four, SR)
    np.testing.assert_allclose(audio.load(p4), four.mean(1), atol=1e-4)


@pytest.mark.parametrize("fmt,ext,tol", [("FLAC", "flac", 1e-4), ("OGG", "ogg", 0.05)])
def test_flac_and_ogg(tmp_path, fmt, ext, tol):
    x = pseudo_wave(1.0, seed=3)
    p = tmp_path / f"a.{ext}"
    sf.write(p, x, SR, format=fmt)
    y = audio.load(p)
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.sqrt(np.mean((y - x) ** 2)) < tol
    assert audio.info(p).format == fmt


def test_mp3_read_or_clear_error(tmp_path):
    """This libsndfile's MP3 support decides: decode it, or a clear error naming ffmpeg."""
    p = tmp_path / "a.mp3"
    if "MP3" in sf.available_formats():
        x = _tone(1.0, 44100)
        sf.write(p, x, 44100, format="MP3")
        y = audio.load(p)
        assert abs(len(y) - SR) < 0.05 * SR
        assert abs(_peak_hz(y) - 440.0) < 3.0
    else:  # pragma: no cover - depends on the libsndfile build
        p.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(2000))
        err = _expect_error(p, "mp3")
        assert "ffmpeg" in err.fix


def test_segment_start_and_duration(tmp_path):
    x = pseudo_wave(2.0, seed=1)
    p = tmp_path / "a.wav"
    sf.write(p, x, SR, subtype="FLOAT")
    y = audio.load(p, start=0.5, duration=0.25)
    np.testing.assert_allclose(y, x[8000:12000], atol=1e-7)
    with pytest.raises(AudioError, match="past the end"):
        audio.load(p, start=3.0)
    with pytest.raises(AudioError, match="stream"):
        audio.load(p, max_duration=1.0)


def test_peak_over_full_scale_is_clipped(tmp_path):
    p = tmp_path / "loud.wav"
    sf.write(p, _tone(0.5, SR, amp=2.0), SR, subtype="FLOAT")
    y = audio.load(p)
    assert np.max(np.abs(y)) <= 1.0 and np.max(y) == 1.0


def test_info(tmp_path):
    p = tmp_path / "a.wav"
    sf.write(p, np.zeros((4410, 2)), 44100, subtype="PCM_16")
    i = audio.info(p)
    assert (i.sample_rate, i.channels, i.frames, i.format, i.subtype) == (44100, 2, 4410, "WAV", "PCM_16")
    assert i.duration == pytest.approx(0.1)


def test_find_audio(tmp_path):
    for n in ["a.wav", "b/c.FLAC", "b/d.txt", "e.ogg"]:
        (tmp_path / n).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / n).write_bytes(b"")
    assert [p.name for p in audio.find_audio(tmp_path)] == ["a.wav", "c.FLAC", "e.ogg"]


# ---------------------------------------------------------------- streaming


@pytest.mark.parametrize("sr,block", [(16000, 0.7), (48000, 0.7), (8000, 1.3), (44100, 10.0)])
def test_stream_equals_load(tmp_path, sr, block):
    x = pseudo_wave(5.0, seed=2, sample_rate=sr)
    p = tmp_path / "long.flac"
    sf.write(p, x, sr)
    full = audio.load(p)
    blocks = list(audio.stream(p, block_seconds=block))
    if block < 5:
        assert len(blocks) > 2
    y = np.concatenate(blocks)
    assert all(b.dtype == np.float32 for b in blocks)
    if sr == SR:
        np.testing.assert_array_equal(y, full)
    else:
        assert abs(len(y) - len(full)) <= 2
        n = min(len(y), len(full))
        # equal up to the resampler's edge effects at the very start and end
        np.testing.assert_allclose(y[200:n - 200], full[200:n - 200], atol=2e-3)


def test_read_pcm_stream_raw_and_wav(tmp_path):
    import io

    x = (pseudo_wave(1.0, seed=4) * 32767).astype("<i2")
    raw = list(audio.read_pcm_stream(io.BytesIO(x.tobytes()), block_samples=4000))
    np.testing.assert_allclose(np.concatenate(raw), x / 32768, atol=1e-6)
    buf = io.BytesIO()
    sf.write(buf, x, SR, format="WAV", subtype="PCM_16")
    buf.seek(0)
    wav = np.concatenate(list(audio.read_pcm_stream(buf, block_samples=3000)))
    np.testing.assert_allclose(wav, x / 32768, atol=1e-6)


# ---------------------------------------------------------------- bad input


def test_missing_file(tmp_path):
    _expect_error(tmp_path / "nope.wav", "not found")


def test_directory(tmp_path):
    d = tmp_path / "folder.wav"
    d.mkdir()
    _expect_error(d, "directory")


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    _expect_error(p, "empty", "0 bytes")


def test_header_only_wav_is_zero_length(tmp_path):
    p = tmp_path / "hdr.wav"
    sf.write(p, np.zeros(0), SR)
    _expect_error(p, "zero length")


def test_text_file_renamed_wav(tmp_path):
    p = tmp_path / "notes.wav"
    p.write_text("this is a text file, not audio\n" * 20)
    err = _expect_error(p, "not a readable audio file")
    assert "WAV" in err.fix


@pytest.mark.parametrize("ext,fmt", [("wav", "WAV"), ("flac", "FLAC"), ("ogg", "OGG")])
def test_truncated_file(tmp_path, ext, fmt):
    full = tmp_path / f"full.{ext}"
    sf.write(full, pseudo_wave(2.0, seed=5), SR, format=fmt)
    data = full.read_bytes()
    p = tmp_path / f"cut.{ext}"
    p.write_bytes(data[: len(data) // 2])
    err = _expect_error(p)
    assert any(w in str(err) for w in ("truncated", "corrupt", "cut off")), str(err)
    assert "re-" in err.fix


def test_truncated_mp3(tmp_path):
    if "MP3" not in sf.available_formats():  # pragma: no cover
        pytest.skip("this libsndfile has no MP3 support")
    full = tmp_path / "full.mp3"
    sf.write(full, pseudo_wave(2.0, seed=5), SR, format="MP3")
    data = full.read_bytes()
    p = tmp_path / "cut.mp3"
    p.write_bytes(data[: len(data) // 2])
    _expect_error(p, "truncated")


def test_corrupt_flac(tmp_path):
    full = tmp_path / "full.flac"
    sf.write(full, pseudo_wave(2.0, seed=6), SR)
    b = bytearray(full.read_bytes())
    for i in range(200, len(b) - 100, 7):
        b[i] ^= 0x5A
    p = tmp_path / "bad.flac"
    p.write_bytes(bytes(b))
    _expect_error(p, "corrupt")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("subtype", ["FLOAT", "DOUBLE"])
def test_nan_inf_samples(tmp_path, bad, subtype):
    x = pseudo_wave(1.0, seed=7).astype(np.float64)
    x[1234] = bad
    p = tmp_path / "bad.wav"
    sf.write(p, x, SR, subtype=subtype)
    _expect_error(p, "nan or inf")


def test_nan_in_resampled_file(tmp_path):
    x = _tone(1.0, 44100)
    x[5000] = np.nan
    p = tmp_path / "bad44.wav"
    sf.write(p, x, 44100, subtype="FLOAT")
    _expect_error(p, "nan or inf")


def test_too_short(tmp_path):
    p = tmp_path / "short.wav"
    sf.write(p, pseudo_wave(0.05, seed=8), SR)
    err = _expect_error(p, "shorter than", "minimum")
    assert "0.1" in str(err)
    assert len(audio.load(p, min_duration=0.01)) == 800


def test_check_signal_silence_and_empty():
    with pytest.raises(AudioError, match="silence"):
        audio.check_signal(np.zeros(16000, np.float32), allow_silence=False)
    audio.check_signal(np.zeros(16000, np.float32))  # allowed by default
    with pytest.raises(AudioError, match="zero length"):
        audio.check_signal(np.zeros(0, np.float32))
