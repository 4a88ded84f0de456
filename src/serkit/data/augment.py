"""Wave-domain augmentation: recordings as real microphones, rooms and channels change them.

:class:`WaveAugmenter` turns one clean 16 kHz training utterance into a copy recorded somewhere
else: faster or slower speech, a reverberant room, background noise at a random SNR, a
band-limited or telephone channel (300-3400 Hz, 8 kHz, mu-law or low-bit-rate MP3), and a
random gain with clipping. The order follows the signal path of a real recording: talker
(speed) -> room (reverberation) -> noise in the room -> channel -> level.

The work is done by libraries: `audiomentations <https://github.com/iver56/audiomentations>`_
(coloured noise, filters, MP3 compression, SNR arithmetic), `pyroomacoustics
<https://github.com/LCAV/pyroomacoustics>`_ (image-source room impulse responses), scipy (FFT
convolution, the telephone band-pass), soxr (resampling) and librosa (mu-law companding). What
is precomputed once per augmenter: a bank of synthetic room impulse responses (cached on disk
when ``cache_dir`` is given) and the babble pool (sums of other training utterances).

Every random choice is drawn from the ``rng`` passed to :meth:`WaveAugmenter.__call__`, so
``augmenter(x, np.random.default_rng(k))`` is reproducible; audiomentations' own draws use the
global ``random`` / ``numpy.random`` state, which is seeded from ``rng`` for the call and
restored afterwards.

Recipe section (``train.augment.wave``)::

    train:
      augment:
        wave: {p_noise: 0.5, snr_db: [0, 30], p_reverb: 0.3, p_telephone: 0.15, ...}

Examples:
    >>> import numpy as np
    >>> aug = WaveAugmenter(WaveAugmentConfig(p_reverb=0.0, p_noise=1.0), seed=0)
    >>> x = np.sin(np.linspace(0, 800, 16000)).astype("float32") * 0.1
    >>> y = aug(x, np.random.default_rng(0))
    >>> y.dtype, y.shape == x.shape
    (dtype('float32'), True)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serkit.errors import ConfigError, MissingDependencyError
from serkit.typing import PathLike

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
NOISE_KINDS = ("white", "pink", "brown", "blue", "babble")
#: spectral slope of each noise colour in dB per octave (audiomentations' NOISE_COLOR_DECAYS)
NOISE_DECAY_DB = {"white": 0.0, "pink": -3.01, "brown": -6.02, "blue": 3.01}
CODECS = ("none", "mulaw", "mp3")
#: MPEG-2 layer III bit rates (kbit/s) the encoder supports at 16 kHz
MP3_KBPS = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)


@dataclass(frozen=True)
class WaveAugmentConfig:
    """Wave-domain augmentation settings (the ``train.augment.wave`` recipe section).

    Each effect is applied independently with its probability ``p_*``; all ``p_* = 0`` is the
    identity. Ranges are ``[low, high]`` drawn uniformly.

    Attributes:
        p_speed: probability of speed perturbation (pitch and tempo, as Kaldi's 0.9/1.0/1.1).
        speed: speed factor range (> 1 is faster and shorter).
        p_reverb: probability of convolving with a synthetic room impulse response.
        rt60: reverberation time range of the RIR bank in seconds.
        n_rirs: rooms in the RIR bank (computed once per augmenter by pyroomacoustics).
        p_noise: probability of additive noise.
        snr_db: signal-to-noise ratio range in dB.
        noise_kinds: noise types drawn uniformly: ``white``, ``pink``, ``brown``, ``blue``
            (coloured noise) and ``babble`` (a sum of other training utterances; needs a pool).
        babble_talkers: number of utterances summed into one babble noise.
        p_band: probability of a band-limited channel (random low-pass, optional high-pass).
        lowpass_hz: cut-off range of the low-pass in Hz.
        highpass_hz: cut-off range of the high-pass in Hz (applied with probability 1/2).
        p_telephone: probability of a telephone channel: 300-3400 Hz band-pass, 8 kHz
            sampling, then a codec drawn from ``telephone_codecs``.
        telephone_codecs: ``mulaw`` (G.711-like 8-bit companding), ``mp3`` (low bit rate) or ``none``.
        p_codec: probability of MP3 compression at a low bit rate (without the phone band).
        mp3_kbps: bit-rate range of the MP3 compression in kbit/s.
        p_gain: probability of a random gain.
        gain_db: gain range in dB; the result is clipped to [-1, 1] as a real ADC would.
        copies: for training (:class:`serkit.train.waves.AugmentedInputs`): precompute this many
            augmented versions of each utterance once and draw one of them or the clean original
            each epoch; 0 augments every utterance afresh every epoch (slower).
    """

    p_speed: float = 0.0
    speed: tuple[float, float] = (0.9, 1.1)
    p_reverb: float = 0.0
    rt60: tuple[float, float] = (0.2, 0.8)
    n_rirs: int = 32
    p_noise: float = 0.0
    snr_db: tuple[float, float] = (0.0, 30.0)
    noise_kinds: tuple[str, ...] = ("white", "pink", "brown", "babble")
    babble_talkers: tuple[int, int] = (3, 6)
    p_band: float = 0.0
    lowpass_hz: tuple[float, float] = (2500.0, 7000.0)
    highpass_hz: tuple[float, float] = (50.0, 400.0)
    p_telephone: float = 0.0
    telephone_codecs: tuple[str, ...] = ("mulaw", "mp3", "none")
    p_codec: float = 0.0
    mp3_kbps: tuple[int, int] = (8, 32)
    p_gain: float = 0.0
    gain_db: tuple[float, float] = (-20.0, 12.0)
    copies: int = 0

    def __post_init__(self) -> None:
        for k, v in asdict(self).items():
            if k.startswith("p_") and not 0.0 <= float(v) <= 1.0:
                raise ConfigError(f"train.augment.wave.{k} must be a probability in [0, 1], got {v}")
            if isinstance(v, (tuple, list)) and k not in ("noise_kinds", "telephone_codecs"):
                if len(v) != 2 or float(v[0]) > float(v[1]):
                    raise ConfigError(f"train.augment.wave.{k} must be a range [low, high] with low <= high, got {v}")
        bad = [k for k in self.noise_kinds if k not in NOISE_KINDS]
        if bad or not self.noise_kinds:
            raise ConfigError(f"train.augment.wave.noise_kinds: unknown {bad or 'empty list'}; "
                              f"expected some of {list(NOISE_KINDS)}")
        bad = [k for k in self.telephone_codecs if k not in CODECS]
        if bad or not self.telephone_codecs:
            raise ConfigError(f"train.augment.wave.telephone_codecs: unknown {bad or 'empty list'}; "
                              f"expected some of {list(CODECS)}")
        if not any(self.mp3_kbps[0] <= r <= self.mp3_kbps[1] for r in MP3_KBPS):
            raise ConfigError(f"train.augment.wave.mp3_kbps {self.mp3_kbps} holds no supported bit rate; "
                              f"choose a range containing one of {list(MP3_KBPS)}")
        if self.copies < 0:
            raise ConfigError(f"train.augment.wave.copies must be >= 0, got {self.copies}")
        if self.speed[0] <= 0 or self.rt60[0] <= 0 or self.n_rirs < 1 or self.babble_talkers[0] < 1:
            raise ConfigError("train.augment.wave: speed and rt60 must be > 0, n_rirs and babble_talkers >= 1; "
                              f"got speed={self.speed}, rt60={self.rt60}, n_rirs={self.n_rirs}, "
                              f"babble_talkers={self.babble_talkers}")

    @property
    def active(self) -> bool:
        """True if any effect has a non-zero probability."""
        return any(float(v) > 0 for k, v in asdict(self).items() if k.startswith("p_"))


def _require(module: str):
    try:
        return __import__(module)
    except ImportError:
        raise MissingDependencyError(module, "augment") from None


@contextlib.contextmanager
def _seeded_globals(rng: np.random.Generator) -> Iterator[None]:
    """Seed ``random`` and ``numpy.random`` (used inside audiomentations) from rng; restore after."""
    py_state, np_state = random.getstate(), np.random.get_state()
    seed = int(rng.integers(2**31 - 1))
    random.seed(seed)
    np.random.seed(seed)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def room_impulse_responses(n: int, rt60: tuple[float, float], *, seed: int = 0,
                           sample_rate: int = SAMPLE_RATE) -> list[np.ndarray]:
    """A bank of synthetic room impulse responses (pyroomacoustics shoebox, image-source method).

    Rooms of random size (3-10 m x 3-8 m x 2.4-4 m), wall absorption from a target RT60 by
    Sabine's formula (``pyroomacoustics.inverse_sabine``), source and microphone at random
    positions at least 0.5 m from the walls. Each RIR starts at its direct path and has a peak of 1.

    Args:
        n: rooms.
        rt60: target reverberation time range in seconds.
        seed: seed of the room draws.
        sample_rate: Hz.

    Returns:
        ``n`` float32 arrays ``(K,)``.

    Note: ``seed`` fixes the rooms, sources and microphones, but the randomised image-source method
    (``use_rand_ism``) draws from pyroomacoustics' own C++ generator, which cannot be seeded from
    Python, so the RIRs (and reverberated waves) differ slightly between processes; pass
    ``cache_dir`` to :class:`WaveAugmenter` to reuse one bank.
    """
    pra = _require("pyroomacoustics")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        dim = np.array([rng.uniform(3, 10), rng.uniform(3, 8), rng.uniform(2.4, 4)])
        t60 = rng.uniform(*rt60)
        absorption, max_order = pra.inverse_sabine(t60, dim)
        # long rooms need hundreds of reflection orders; the randomised ISM keeps the late tail
        # diffuse, and the cap bounds the one-off cost (RT60 up to ~0.8 s stays close to target)
        room = pra.ShoeBox(dim, fs=sample_rate, materials=pra.Material(absorption),
                           max_order=int(min(max_order, 60)), use_rand_ism=True)
        room.add_source(0.5 + rng.uniform(0, 1, 3) * (dim - 1.0))
        room.add_microphone(0.5 + rng.uniform(0, 1, 3) * (dim - 1.0))
        room.compute_rir()
        h = np.asarray(room.rir[0][0], dtype=np.float64)
        start = int(np.argmax(np.abs(h)))
        h = h[start: start + int(1.2 * t60 * sample_rate) + 1]
        out.append((h / np.max(np.abs(h))).astype(np.float32))
    return out


class WaveAugmenter:
    """Random recording conditions for 16 kHz training waves (see the module docstring).

    Args:
        cfg: settings (the ``train.augment.wave`` recipe section).
        seed: seed of the precomputed banks (room impulse responses, babble).
        pool: training waves ``(S,)`` float32 from which babble noise is mixed (needed when
            ``noise_kinds`` has ``babble``; without a pool, babble falls back to pink noise).
        n_babble: babble noises precomputed from the pool.
        cache_dir: folder to keep the RIR bank in between runs (keyed by its settings); None
            computes it in memory.

    Raises:
        ConfigError: bad settings.
        MissingDependencyError: audiomentations / pyroomacoustics missing (``pip install serkit[augment]``).
    """

    def __init__(self, cfg: WaveAugmentConfig, *, seed: int = 0, pool: Sequence[np.ndarray] = (),
                 n_babble: int = 64, cache_dir: PathLike | None = None) -> None:
        self.cfg = cfg
        self.seed = seed
        self.rirs: list[np.ndarray] = []
        if cfg.p_reverb > 0:
            self.rirs = self._rir_bank(cache_dir)
        self.babble: list[np.ndarray] = []
        if cfg.p_noise > 0 and "babble" in cfg.noise_kinds and len(pool):
            self.babble = self._babble_bank(pool, n_babble)
        if cfg.active:
            self._am = _require("audiomentations")

    # ------------------------------------------------------------------ banks
    def _rir_bank(self, cache_dir: PathLike | None) -> list[np.ndarray]:
        key = json.dumps({"n": self.cfg.n_rirs, "rt60": list(self.cfg.rt60), "seed": self.seed, "v": 1})
        path = None
        if cache_dir is not None:
            path = Path(cache_dir) / "rir" / (hashlib.sha1(key.encode()).hexdigest()[:12] + ".npz")
            if path.is_file():
                with np.load(path) as z:
                    return [z[k] for k in sorted(z.files, key=int)]
        log.info("computing %d room impulse responses (RT60 %s s)", self.cfg.n_rirs, self.cfg.rt60)
        bank = room_impulse_responses(self.cfg.n_rirs, self.cfg.rt60, seed=self.seed)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            arrays: dict[str, Any] = {str(i): h for i, h in enumerate(bank)}
            np.savez(tmp, **arrays)
            tmp.replace(path)
        return bank

    def _babble_bank(self, pool: Sequence[np.ndarray], n: int) -> list[np.ndarray]:
        """Babble: sums of a few random pool utterances, each scaled to unit RMS, 4 s long (tiled)."""
        rng = np.random.default_rng(self.seed + 1)
        size = 4 * SAMPLE_RATE
        out = []
        for _ in range(n):
            k = int(rng.integers(self.cfg.babble_talkers[0], self.cfg.babble_talkers[1] + 1))
            mix = np.zeros(size, dtype=np.float32)
            for j in rng.choice(len(pool), size=min(k, len(pool)), replace=False):
                w = np.asarray(pool[int(j)], dtype=np.float32)
                if w.size == 0:
                    continue
                w = np.tile(w, int(np.ceil(size / w.size)) + 1)
                o = int(rng.integers(0, w.size - size + 1))
                seg = w[o: o + size]
                mix += seg / (np.sqrt(np.mean(seg**2)) + 1e-8)
            out.append(mix / (np.sqrt(np.mean(mix**2)) + 1e-8))
        return out

    # ------------------------------------------------------------------ effects
    def _speed(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        import soxr

        f = rng.uniform(*self.cfg.speed)
        # read the samples as if recorded at f * 16 kHz: f > 1 plays faster (shorter, higher)
        return soxr.resample(x, SAMPLE_RATE * f, SAMPLE_RATE).astype(np.float32)

    def _reverb(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from scipy.signal import oaconvolve

        h = self.rirs[int(rng.integers(len(self.rirs)))]
        y = oaconvolve(x, h)[: x.size]
        # keep the direct-path level of the dry signal's RMS, so reverberation is not a gain change
        return (y * (np.sqrt(np.mean(x**2)) / (np.sqrt(np.mean(y**2)) + 1e-9))).astype(np.float32)

    def _noise(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        am = self._am
        kind = self.cfg.noise_kinds[int(rng.integers(len(self.cfg.noise_kinds)))]
        snr = float(rng.uniform(*self.cfg.snr_db))
        if kind == "babble" and self.babble:
            from audiomentations.core.utils import calculate_desired_noise_rms, calculate_rms

            b = self.babble[int(rng.integers(len(self.babble)))]
            b = np.tile(b, int(np.ceil(x.size / b.size)) + 1)
            o = int(rng.integers(0, b.size - x.size + 1))
            noise = b[o: o + x.size]
            target = calculate_desired_noise_rms(calculate_rms(x), snr)
            return (x + noise * (target / (calculate_rms(noise) + 1e-12))).astype(np.float32)
        decay = NOISE_DECAY_DB.get(kind, NOISE_DECAY_DB["pink"])
        t = am.AddColorNoise(min_snr_db=snr, max_snr_db=snr, min_f_decay=decay, max_f_decay=decay, p=1.0)
        with _seeded_globals(rng):
            return t(x, SAMPLE_RATE).astype(np.float32)

    def _band(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        am = self._am
        lp = float(rng.uniform(*self.cfg.lowpass_hz))
        roll = int(rng.choice([12, 18, 24]))
        x = am.LowPassFilter(min_cutoff_freq=lp, max_cutoff_freq=lp, min_rolloff=roll, max_rolloff=roll,
                             p=1.0)(x, SAMPLE_RATE)
        if rng.random() < 0.5:
            hp = float(rng.uniform(*self.cfg.highpass_hz))
            x = am.HighPassFilter(min_cutoff_freq=hp, max_cutoff_freq=hp, min_rolloff=roll, max_rolloff=roll,
                                  p=1.0)(x, SAMPLE_RATE)
        return x.astype(np.float32)

    def _mp3(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        rates = [r for r in MP3_KBPS if self.cfg.mp3_kbps[0] <= r <= self.cfg.mp3_kbps[1]]
        kbps = int(rates[int(rng.integers(len(rates)))])
        t = self._am.Mp3Compression(min_bitrate=kbps, max_bitrate=kbps, backend="fast-mp3-augment", p=1.0)
        y = t(np.clip(x, -1, 1), SAMPLE_RATE)
        return np.resize(y, x.size).astype(np.float32) if y.size != x.size else y.astype(np.float32)

    def _telephone(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        import soxr
        from scipy.signal import butter, sosfilt

        sos = butter(4, [300.0, 3400.0], btype="bandpass", fs=SAMPLE_RATE, output="sos")
        y = soxr.resample(sosfilt(sos, x).astype(np.float32), SAMPLE_RATE, 8000)
        codec = self.cfg.telephone_codecs[int(rng.integers(len(self.cfg.telephone_codecs)))]
        if codec == "mulaw":
            import librosa

            peak = float(np.max(np.abs(y))) + 1e-9
            y = librosa.mu_expand(librosa.mu_compress(np.clip(y / peak, -1, 1), mu=255, quantize=True),
                                  mu=255, quantize=True) * peak
        y = soxr.resample(y.astype(np.float32), 8000, SAMPLE_RATE)
        y = np.resize(y, x.size) if y.size != x.size else y
        if codec == "mp3":
            y = self._mp3(y.astype(np.float32), rng)
        return y.astype(np.float32)

    def _gain(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        g = 10.0 ** (rng.uniform(*self.cfg.gain_db) / 20.0)
        return np.clip(x * g, -1.0, 1.0).astype(np.float32)

    # ------------------------------------------------------------------ public
    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One random recording condition applied to a wave.

        Args:
            wave: ``(S,)`` float32 at 16 kHz.
            rng: the source of every random choice (seed it for reproducible output).

        Returns:
            ``(S',)`` float32 at 16 kHz; ``S' = S`` unless speed perturbation changed the length.

        Raises:
            ValueError: not a 1-D wave.
        """
        x = np.asarray(wave, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"WaveAugmenter expects a mono wave (S,), got shape {x.shape}; "
                             "load audio with serkit.data.audio.load (16 kHz mono)")
        c = self.cfg
        if x.size == 0 or not c.active:
            return x.copy()
        # one uniform draw per effect, always in the same order: the draws do not depend on which fire
        u = rng.random(6)
        if u[0] < c.p_speed:
            x = self._speed(x, rng)
        if u[1] < c.p_reverb and self.rirs:
            x = self._reverb(x, rng)
        if u[2] < c.p_noise:
            x = self._noise(x, rng)
        if u[3] < c.p_telephone:
            x = self._telephone(x, rng)
        else:
            if u[4] < c.p_band:
                x = self._band(x, rng)
            if rng.random() < c.p_codec:
                x = self._mp3(x, rng)
        if u[5] < c.p_gain:
            x = self._gain(x, rng)
        return np.nan_to_num(x, copy=False).astype(np.float32, copy=False)
