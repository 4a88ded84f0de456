"""Voice-activity segmentation for long and streamed audio.

:class:`Segmenter` takes 16 kHz mono blocks as they arrive and emits speech segments as soon as
they close (after ``hangover`` seconds of non-speech, or when a segment reaches ``max_window``
seconds), so memory stays bounded by one window however long the input is. Frame decisions come
from WebRTC's VAD (``webrtcvad``, 20 ms frames); ``vad=False`` cuts fixed windows instead.

WebRTC's VAD alone takes loud stationary noise (white, pink, brown; fans, hiss) for speech. So
every segment it proposes must also pass a **speech check** before it is emitted
(:func:`is_speech`): its level must reach ``min_level_db`` dBFS (RMS), and at least
``min_voiced`` of its 10 ms frames must be voiced according to Praat's autocorrelation pitch
tracker (`parselmouth <https://parselmouth.readthedocs.io>`_, pitch range 75-600 Hz). Speech
is voiced for roughly 40-80 % of its frames, noise almost never (Praat finds no periodicity in
it); see ``docs/benchmarks.md#no-speech`` for the distributions the thresholds come from.
Segments that fail are dropped (counted in :attr:`Segmenter.rejected`), so noise and silence
are never classified. ``speech_check=False`` turns the check off.

Examples:
    >>> import numpy as np
    >>> seg = Segmenter(SegmentConfig(vad=False, max_window=0.6))
    >>> [(s.start, s.end) for s in [*seg.push(np.zeros(24000, np.float32)), *seg.flush()]]
    [(0.0, 0.6), (0.6, 1.2), (1.2, 1.5)]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from serkit.errors import ConfigError, MissingDependencyError

SAMPLE_RATE = 16000
FRAME_SECONDS = 0.02
FRAME = int(SAMPLE_RATE * FRAME_SECONDS)  # 320 samples


@dataclass(frozen=True)
class SegmentConfig:
    """How audio is cut into segments for prediction.

    Attributes:
        vad: use voice-activity detection; False cuts back-to-back windows of ``max_window``.
        aggressiveness: WebRTC VAD mode 0 (keeps most) to 3 (drops most non-speech).
        max_window: longest segment in seconds; longer speech is cut into windows of this length.
        min_speech: shortest segment kept, in seconds.
        hangover: non-speech in seconds that closes a segment (shorter pauses stay inside).
        pad: context in seconds kept before and after each speech run.
        speech_check: drop VAD segments that fail :func:`is_speech` (noise, hum, clicks);
            only with ``vad=True`` (``vad=False`` classifies every window on purpose).
        min_voiced: share of voiced 10 ms frames a segment needs to count as speech.
        min_level_db: RMS level in dBFS a segment needs to count as speech (after the VAD gain).
        vad_peak_db: the level the VAD's input is brought up to: each 20 ms frame the VAD judges is
            scaled so that the running peak (the loudest recent sample, decaying by
            ``peak_decay_db`` per second) reaches this many dBFS. Only the VAD and the speech
            check see the gain; segments keep the original samples. WebRTC's VAD misses very
            quiet speech (a soft RAVDESS clip 20 dB quieter peaks at -50 to -60 dBFS and got no
            segment at all); louder recordings get no gain.
        vad_max_gain_db: most gain the VAD's input gets; 0 (the default) turns the gain off. Off
            by default because on the development speakers it cost clean UA: with 30 dB and a
            -30 dBFS target the default model's dev UA was 0.674 clean (0.686 without) and 0.666
            20 dB quieter (0.534 without): docs/benchmarks.md, "Default model selection". Turn it
            on for recordings much quieter than about -40 dBFS peak. The speech check still
            rejects unvoiced noise the gain brings up.
        peak_decay_db: how fast the running peak falls, dB per second.
    """

    vad: bool = True
    aggressiveness: int = 2
    max_window: float = 6.0
    min_speech: float = 0.3
    hangover: float = 0.5
    pad: float = 0.1
    speech_check: bool = True
    min_voiced: float = 0.15
    min_level_db: float = -70.0
    vad_peak_db: float = -30.0
    vad_max_gain_db: float = 0.0
    peak_decay_db: float = 6.0

    def __post_init__(self) -> None:
        if not 0 <= self.aggressiveness <= 3:
            raise ConfigError(f"VAD aggressiveness must be 0..3, got {self.aggressiveness}")
        if self.max_window < 0.5:
            raise ConfigError(f"max_window must be at least 0.5 s, got {self.max_window}")
        if self.min_speech < 0 or self.hangover < 0 or self.pad < 0:
            raise ConfigError("min_speech, hangover and pad must be >= 0 seconds")
        if not 0 <= self.min_voiced <= 1:
            raise ConfigError(f"min_voiced is a share of frames in [0, 1], got {self.min_voiced}")
        if self.vad_max_gain_db < 0 or self.peak_decay_db < 0:
            raise ConfigError("vad_max_gain_db and peak_decay_db must be >= 0")


@dataclass
class Segment:
    """A piece of audio to classify.

    Attributes:
        start: start time in seconds from the beginning of the input.
        end: end time in seconds.
        samples: ``(S,)`` float32 audio of ``[start, end)``.
    """

    start: float
    end: float
    samples: np.ndarray


def level_db(x: np.ndarray) -> float:
    """RMS level of a signal in dBFS (full scale = 1.0); -inf-safe (digital silence gives -200)."""
    return float(10.0 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def voiced_fraction(x: np.ndarray, *, sample_rate: int = SAMPLE_RATE, pitch_floor: float = 75.0,
                    pitch_ceiling: float = 600.0) -> float:
    """Share of 10 ms frames in which Praat's autocorrelation pitch tracker finds a voice.

    Args:
        x: ``(S,)`` float32 samples.
        sample_rate: Hz.
        pitch_floor: lowest F0 searched, Hz (also sets Praat's analysis window, 3 / floor).
        pitch_ceiling: highest F0 searched, Hz.

    Returns:
        a share in [0, 1]; 0 for signals shorter than one analysis window.
    """
    try:
        import parselmouth
    except ImportError:  # pragma: no cover - core dependency
        raise MissingDependencyError("praat-parselmouth", "vad") from None
    if x.size < int(3.0 / pitch_floor * sample_rate) + 1:
        return 0.0
    snd = parselmouth.Sound(np.asarray(x, dtype=np.float64), sampling_frequency=sample_rate)
    f0 = snd.to_pitch_ac(time_step=0.01, pitch_floor=pitch_floor, pitch_ceiling=pitch_ceiling).selected_array["frequency"]
    return float(np.mean(f0 > 0)) if f0.size else 0.0


def is_speech(x: np.ndarray, cfg: SegmentConfig | None = None, *, gain_db: float = 0.0) -> bool:
    """The speech check of a VAD segment: loud enough and voiced often enough.

    Args:
        x: ``(S,)`` float32 samples at 16 kHz.
        cfg: thresholds ``min_level_db`` and ``min_voiced``.
        gain_db: the VAD gain the segment was judged with (added to its level).

    Examples:
        >>> import numpy as np
        >>> from serkit.testing import pseudo_wave
        >>> is_speech(pseudo_wave(1.0, f0=150.0)), is_speech(np.zeros(16000, np.float32))
        (True, False)
        >>> is_speech((np.random.default_rng(0).standard_normal(16000) * 0.3).astype("float32"))
        False
    """
    c = cfg or SegmentConfig()
    return level_db(x) + gain_db >= c.min_level_db and voiced_fraction(x) >= c.min_voiced


def _webrtc(mode: int):
    try:
        import webrtcvad
    except ImportError:  # pragma: no cover - core dependency, but keep the message helpful
        raise MissingDependencyError("webrtcvad-wheels", "vad") from None
    return webrtcvad.Vad(mode)


class Segmenter:
    """Incremental speech segmenter over 16 kHz blocks (see module docstring).

    Args:
        cfg: segmentation settings.
    """

    def __init__(self, cfg: SegmentConfig | None = None) -> None:
        self.cfg = cfg or SegmentConfig()
        self._vad = _webrtc(self.cfg.aggressiveness) if self.cfg.vad else None
        self._rest = np.zeros(0, np.float32)  # samples not yet forming a full frame
        self._frame_idx = 0  # index of the next frame
        self._pad_frames = int(round(self.cfg.pad / FRAME_SECONDS))
        self._hang = max(1, int(round(self.cfg.hangover / FRAME_SECONDS)))
        self._max = max(1, int(round(self.cfg.max_window / FRAME_SECONDS)))
        self._min = int(round(self.cfg.min_speech / FRAME_SECONDS))
        self._pre: deque[np.ndarray] = deque(maxlen=max(1, self._pad_frames))
        self._cur: list[np.ndarray] = []  # frames of the open segment
        self._cur_start = 0
        self._last_speech = -1  # index within _cur of the last speech frame
        self._in = False
        self.speech_found = False
        #: VAD segments dropped by the speech check (noise, not speech)
        self.rejected = 0
        self.total_samples = 0
        self._peak_db = -200.0  # running peak of the input, dBFS (see SegmentConfig.vad_peak_db)
        self._gain_db = 0.0  # the VAD gain of the last frame
        self._decay = self.cfg.peak_decay_db * FRAME_SECONDS  # dB per frame

    def _emit(self, frames: list[np.ndarray], start_frame: int) -> Segment | None:
        if len(frames) < max(1, self._min):
            return None
        x = np.concatenate(frames)
        if self._vad is not None and self.cfg.speech_check and not is_speech(x, self.cfg, gain_db=self._gain_db):
            self.rejected += 1
            return None
        self.speech_found = True
        start = start_frame * FRAME_SECONDS
        return Segment(round(start, 3), round(start + len(x) / SAMPLE_RATE, 3), x)

    def push(self, block: np.ndarray) -> list[Segment]:
        """Feed a block of samples; return the segments that closed.

        Args:
            block: ``(S,)`` float32 at 16 kHz.
        """
        x = np.concatenate([self._rest, np.asarray(block, np.float32)]) if self._rest.size else \
            np.asarray(block, np.float32)
        self.total_samples += int(np.asarray(block).size)
        n = x.size // FRAME
        self._rest = x[n * FRAME:].copy()
        if n == 0:
            return []
        frames = x[: n * FRAME].reshape(n, FRAME)  # (n, 320)
        if self._vad is not None:
            scaled = frames
            if self.cfg.vad_max_gain_db > 0:
                peaks = 20.0 * np.log10(np.abs(frames).max(axis=1).astype(np.float64) + 1e-10)  # (n,)
                gains = np.empty(n)
                for i, pk in enumerate(peaks):  # running peak with decay, frame by frame (streaming)
                    self._peak_db = max(float(pk), self._peak_db - self._decay)
                    gains[i] = min(max(self.cfg.vad_peak_db - self._peak_db, 0.0), self.cfg.vad_max_gain_db)
                self._gain_db = float(gains[-1])
                scaled = frames * (10.0 ** (gains / 20.0)).astype(np.float32)[:, None]
            pcm = (np.clip(scaled, -1.0, 1.0) * 32767.0).astype("<i2")
            flags = [self._vad.is_speech(f.tobytes(), SAMPLE_RATE) for f in pcm]
        else:
            flags = [True] * n
        out: list[Segment] = []
        for f, speech in zip(frames, flags, strict=False):
            out.extend(self._step(f, speech))
        return out

    def _step(self, frame: np.ndarray, speech: bool) -> list[Segment]:
        out: list[Segment] = []
        idx = self._frame_idx
        self._frame_idx += 1
        if not self._in:
            if speech:
                self._in = True
                self._cur = list(self._pre) if self._pad_frames else []
                self._cur_start = idx - len(self._cur)
                self._pre.clear()
                self._cur.append(frame)
                self._last_speech = len(self._cur) - 1
            elif self._pad_frames:
                self._pre.append(frame)
            return out
        self._cur.append(frame)
        if speech:
            self._last_speech = len(self._cur) - 1
        if len(self._cur) >= self._max:
            # Window full: emit it and keep going inside the same speech run.
            seg = self._emit(self._cur, self._cur_start)
            if seg:
                out.append(seg)
            self._cur, self._cur_start, self._last_speech = [], idx + 1, -1
            if not speech:
                self._in = False
            return out
        if len(self._cur) - 1 - self._last_speech >= self._hang:
            keep = min(len(self._cur), self._last_speech + 1 + self._pad_frames)
            seg = self._emit(self._cur[:keep], self._cur_start)
            if seg:
                out.append(seg)
            self._pre.clear()
            for f in self._cur[-self._pad_frames:] if self._pad_frames else []:
                self._pre.append(f)
            self._cur, self._in, self._last_speech = [], False, -1
        return out

    def flush(self) -> list[Segment]:
        """End of input: close the open segment (the last partial frame is included)."""
        out: list[Segment] = []
        if self._in and self._cur:
            frames = self._cur[: self._last_speech + 1 + self._pad_frames] if self._last_speech >= 0 else self._cur
            if self._rest.size and self._last_speech >= len(self._cur) - 1 - self._pad_frames:
                frames = [*frames, self._rest]
            seg = self._emit(frames, self._cur_start)
            if seg:
                out.append(seg)
        elif self._vad is None and self._rest.size:
            seg = self._emit([self._rest], self._frame_idx)
            if seg:
                out.append(seg)
        self._cur, self._in, self._rest = [], False, np.zeros(0, np.float32)
        return out


def segment_blocks(blocks: Iterable[np.ndarray], cfg: SegmentConfig | None = None) -> Iterator[Segment]:
    """Speech segments of a block stream, yielded as they close.

    Args:
        blocks: ``(S_block,)`` float32 blocks at 16 kHz.
        cfg: segmentation settings.
    """
    seg = Segmenter(cfg)
    for b in blocks:
        yield from seg.push(b)
    yield from seg.flush()
