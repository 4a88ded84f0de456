"""Audio input: the ONLY module in serkit that reads audio files or resamples.

Everything leaves here as 16 kHz (by default) mono float32 in [-1, 1]. Bad input raises
:class:`serkit.errors.AudioError`, whose message names the file, the problem and the fix, never
a bare traceback from inside libsndfile.

Examples:
    >>> import numpy as np
    >>> x = to_mono_float32(np.zeros((1600, 2), dtype=np.int16))
    >>> x.shape, x.dtype
    ((1600,), dtype('float32'))
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from serkit.errors import AudioError
from serkit.typing import PathLike

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
#: Shortest input accepted by default, in seconds. The smallest serkit front-end (25 ms window)
#: needs 400 samples at 16 kHz; 0.1 s leaves room for a few frames.
MIN_DURATION = 0.1
#: Peak level below which a signal counts as digital silence.
SILENCE_PEAK = 1e-4


@dataclass(frozen=True)
class AudioInfo:
    """Header facts of an audio file.

    Attributes:
        path: the file.
        sample_rate: samples per second per channel.
        channels: channel count.
        frames: samples per channel.
        format: container, e.g. ``"WAV"``, ``"FLAC"``.
        subtype: sample encoding, e.g. ``"PCM_16"``.
    """

    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def _check_path(path: PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise AudioError(p, "file not found", "check the path (relative paths start at the current directory)")
    if p.is_dir():
        raise AudioError(p, "is a directory, not an audio file", "pass a file, or a folder to commands that take folders (serkit predict DIR)")
    if p.stat().st_size == 0:
        raise AudioError(p, "file is empty (0 bytes)", "re-record or re-export the file")
    return p


def info(path: PathLike) -> AudioInfo:
    """Read the header of an audio file without loading samples.

    Args:
        path: WAV, FLAC, OGG/Vorbis/Opus or MP3 (where libsndfile supports it).

    Returns:
        AudioInfo.

    Raises:
        AudioError: missing, directory, empty, or not a readable audio file.
    """
    p = _check_path(path)
    try:
        i = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        ext = p.suffix.lower()
        if ext == ".mp3":
            fix = (f"this libsndfile ({sf.__libsndfile_version__}) cannot read MP3; "
                   "convert to WAV or FLAC, e.g. ffmpeg -i in.mp3 -ar 16000 -ac 1 out.wav")
        else:
            fix = "use WAV, FLAC, OGG or MP3; convert with ffmpeg -i IN -ar 16000 -ac 1 OUT.wav"
        raise AudioError(p, f"not a readable audio file ({_short(e)})", fix) from None
    if str(i.format) in ("WAV", "WAVEX"):
        # libsndfile silently shortens a WAV whose data chunk is cut off; the header knows better.
        _check_wav_complete(p)
    return AudioInfo(str(p), int(i.samplerate), int(i.channels), int(i.frames), str(i.format), str(i.subtype))


def _check_wav_complete(p: Path) -> None:
    """Raise if a RIFF/WAVE file's ``data`` chunk is shorter than its header declares."""
    size = p.stat().st_size
    with p.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return  # RF64 / W64 / other: libsndfile's own checks apply
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            cid, n = struct.unpack("<4sI", f.read(8))
            if cid == b"data":
                # 0 and 0xFFFFFFFF mark a stream whose length was unknown when the header was written.
                if n not in (0, 0xFFFFFFFF) and pos + 8 + n > size:
                    raise AudioError(p, f"is truncated: the WAV header declares {n} data bytes, the file "
                                        f"holds {size - pos - 8}", "re-export or re-download the file")
                return
            pos += 8 + n + (n & 1)


def _no_samples(path: PathLike) -> AudioError:
    return AudioError(path, "contains no decodable samples (zero length, or cut off before the first "
                            "complete block)", "re-record, re-export or re-download the file")


def _clip(y: np.ndarray, path: PathLike) -> np.ndarray:
    """Keep samples in [-1, 1]: float files may exceed full scale, resampling may overshoot."""
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 1.0:
        if peak > 1.01:
            log.warning("%s: peak %.3f exceeds full scale; clipped to [-1, 1]", path, peak)
        np.clip(y, -1.0, 1.0, out=y)
    return y


def _short(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return msg[:160]


def to_mono_float32(x: np.ndarray) -> np.ndarray:
    """Average channels and convert integer or float PCM to float32 in [-1, 1].

    Args:
        x: samples, ``(S,)`` or ``(S, channels)``, any integer or float dtype.

    Returns:
        ``(S,)`` float32.
    """
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.integer):
        # Full-scale of the integer type maps to 1.0 (as libsndfile does for PCM).
        scale = float(2 ** (np.iinfo(x.dtype).bits - 1))
        if np.issubdtype(x.dtype, np.unsignedinteger):
            x = x.astype(np.float64) - scale
        x = x.astype(np.float32) / scale
    else:
        x = x.astype(np.float32, copy=False)
    if x.ndim == 2:
        x = x.mean(axis=1, dtype=np.float32)  # (S,)
    elif x.ndim != 1:
        raise ValueError(f"samples must be (S,) or (S, channels), got shape {x.shape}")
    return x


def resample(x: np.ndarray, orig_rate: int, new_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a mono float32 signal with soxr (high quality).

    Args:
        x: ``(S,)`` float32.
        orig_rate: its sample rate in Hz.
        new_rate: target rate in Hz.

    Returns:
        ``(S * new_rate / orig_rate,)`` float32.
    """
    if orig_rate == new_rate:
        return x
    if orig_rate <= 0:
        raise ValueError(f"sample rate must be positive, got {orig_rate}")
    return soxr.resample(x, orig_rate, new_rate, quality="HQ").astype(np.float32, copy=False)


def check_signal(x: np.ndarray, *, name: object = "<signal>", sample_rate: int = SAMPLE_RATE,
                 min_duration: float = MIN_DURATION, allow_silence: bool = True) -> np.ndarray:
    """Validate a decoded mono signal: finite, long enough, optionally not silent.

    Args:
        x: ``(S,)`` float32 at ``sample_rate``.
        name: file name or label used in the error.
        sample_rate: rate of ``x`` in Hz.
        min_duration: shortest accepted length in seconds.
        allow_silence: if False, digital silence raises.

    Returns:
        ``x`` unchanged.

    Raises:
        AudioError: empty, too short, NaN or inf samples, or silent when not allowed.
    """
    if x.size == 0:
        raise AudioError(name, "contains no samples (zero length)", "re-record or re-export the file")
    if not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise AudioError(name, f"contains {bad} NaN or inf samples",
                         "re-export the audio as 16-bit PCM WAV (e.g. sox IN -b 16 OUT.wav)")
    dur = x.size / sample_rate
    if dur < min_duration:
        raise AudioError(name, f"is {dur:.3f} s long, shorter than the {min_duration:g} s minimum",
                         f"give at least {min_duration:g} s of speech")
    if not allow_silence and float(np.max(np.abs(x))) < SILENCE_PEAK:
        raise AudioError(name, "is digital silence (peak below 1e-4)", "check the recording level or the microphone")
    return x


def load(path: PathLike, *, sample_rate: int = SAMPLE_RATE, start: float = 0.0,
         duration: float | None = None, min_duration: float = MIN_DURATION,
         max_duration: float | None = None, allow_silence: bool = True) -> np.ndarray:
    """Load (a segment of) an audio file as mono float32 at ``sample_rate``.

    Args:
        path: WAV, FLAC, OGG or MP3 file.
        sample_rate: output rate in Hz (soxr resampling).
        start: offset in seconds.
        duration: seconds to read from ``start``; None reads to the end.
        min_duration: shorter results raise.
        max_duration: longer files raise (use :func:`stream` for them); None means no limit.
        allow_silence: if False, digital silence raises.

    Returns:
        ``(S,)`` float32 in [-1, 1].

    Raises:
        AudioError: for every kind of bad input, naming the file and the fix.
    """
    i = info(path)
    if i.frames <= 0:
        raise _no_samples(path)
    first = int(round(start * i.sample_rate))
    n = -1 if duration is None else int(round(duration * i.sample_rate))
    if first >= i.frames:
        raise AudioError(path, f"segment start {start:.3f} s is past the end ({i.duration:.3f} s)",
                         "check the manifest's start and duration")
    want = (i.frames - first) if n < 0 else min(n, i.frames - first)
    if max_duration is not None and want / i.sample_rate > max_duration:
        raise AudioError(path, f"is {want / i.sample_rate:.0f} s long, over the {max_duration:g} s limit",
                         "use serkit.data.audio.stream() or serkit predict, which read long files block-wise")
    try:
        x = sf.read(str(path), start=first, frames=want, dtype="float32", always_2d=True)[0]
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(path, f"is truncated or corrupt ({_short(e)})", "re-export or re-download the file") from None
    if x.shape[0] < want:
        raise AudioError(path, f"is truncated: header promises {want} frames, only {x.shape[0]} could be read",
                         "re-export or re-download the file")
    y = to_mono_float32(x)
    if not np.all(np.isfinite(y)):  # before soxr, which would smear a NaN over its filter length
        check_signal(y, name=path, sample_rate=i.sample_rate, min_duration=0.0)
    y = _clip(resample(y, i.sample_rate, sample_rate), path)
    return check_signal(y, name=path, sample_rate=sample_rate, min_duration=min_duration,
                        allow_silence=allow_silence)


def stream(path: PathLike, *, block_seconds: float = 10.0, sample_rate: int = SAMPLE_RATE,
           min_duration: float = MIN_DURATION) -> Iterator[np.ndarray]:
    """Read a file block by block, resampled and mono, with memory flat in its length.

    The header is checked before the first block is yielded (missing, empty, not audio,
    truncated WAV, shorter than ``min_duration``); decoding errors, NaN/inf samples and a file
    that ends before its header says raise when the bad block is reached.

    Args:
        path: audio file.
        block_seconds: block length in seconds of the source.
        sample_rate: output rate in Hz.
        min_duration: shorter files raise before anything is yielded.

    Yields:
        ``(S_block,)`` float32 blocks whose concatenation equals :func:`load` (up to resampler
        edge effects of a few samples).

    Raises:
        AudioError: bad file, or NaN/inf samples in a block.
    """
    i = info(path)
    if i.frames <= 0:
        raise _no_samples(path)
    if i.duration < min_duration:
        raise AudioError(path, f"is {i.duration:.3f} s long, shorter than the {min_duration:g} s minimum",
                         f"give at least {min_duration:g} s of speech")
    return _stream_blocks(path, i, block_seconds, sample_rate)


def _stream_blocks(path, i: AudioInfo, block_seconds: float, sample_rate: int, *,
                   name: object = None) -> Iterator[np.ndarray]:
    """Blocks of ``path`` (a file name or a binary file object; ``name`` names it in errors)."""
    src = path if hasattr(path, "read") else str(path)
    path = name if name is not None else path
    rs = None if i.sample_rate == sample_rate else soxr.ResampleStream(
        i.sample_rate, sample_rate, 1, dtype="float32", quality="HQ")
    block = max(1, int(block_seconds * i.sample_rate))
    got = 0
    try:
        with sf.SoundFile(src) as f:
            while True:
                x = f.read(block, dtype="float32", always_2d=True)
                got += x.shape[0]
                last = x.shape[0] < block
                y = to_mono_float32(x)
                if not np.all(np.isfinite(y)):
                    bad = int(y.size - np.count_nonzero(np.isfinite(y)))
                    raise AudioError(path, f"contains {bad} NaN or inf samples in the block at "
                                           f"{(got - x.shape[0]) / i.sample_rate:.1f} s",
                                     "re-export the audio as 16-bit PCM WAV (e.g. sox IN -b 16 OUT.wav)")
                if rs is not None:
                    y = rs.resample_chunk(y, last=last)
                if y.size:
                    yield _clip(y, path)
                if last:
                    break
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(path, f"is truncated or corrupt ({_short(e)})", "re-export or re-download the file") from None
    if got < i.frames:
        raise AudioError(path, f"is truncated: header promises {i.frames} frames, only {got} could be read",
                         "re-export or re-download the file")


#: container signatures recognised at the start of a stream (see :func:`sniff_format`)
STREAM_FORMATS = ("WAV", "FLAC", "OGG", "MP3", "AIFF")


def sniff_format(head: bytes) -> str | None:
    """The container of a byte stream from its first bytes, or None when no header is recognised.

    Recognises ``RIFF....WAVE`` (WAV), ``fLaC`` (FLAC), ``OggS`` (Ogg Vorbis/Opus/FLAC), ``ID3``
    or an MPEG audio frame sync (MP3) and ``FORM....AIFF`` (AIFF).

    Args:
        head: at least the first 12 bytes of the stream.

    Returns:
        one of :data:`STREAM_FORMATS`, or None (raw PCM or not audio).

    Examples:
        >>> sniff_format(b"fLaC" + bytes(8)), sniff_format(bytes(12))
        ('FLAC', None)
    """
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "WAV"
    if head[:4] == b"fLaC":
        return "FLAC"
    if head[:4] == b"OggS":
        return "OGG"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    if head[:3] == b"ID3":
        return "MP3"
    if len(head) >= 4 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        # MPEG audio frame header: version != reserved, layer != reserved, bitrate != bad,
        # sample-rate index != reserved (a raw PCM sample rarely passes all four)
        version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
        bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
        if version != 1 and layer != 0 and bitrate != 15 and rate != 3:
            return "MP3"
    return None


def read_pcm_stream(fileobj, *, sample_rate: int = SAMPLE_RATE, block_samples: int = 16000,
                    source_rate: int | None = None, name: str = "<stdin>") -> Iterator[np.ndarray]:
    """Read audio from a binary stream (e.g. stdin) block-wise: WAV, FLAC, OGG, MP3 or raw PCM.

    The first bytes decide (:func:`sniff_format`). A WAV stream is parsed as it arrives (its
    header gives rate and channels), so live ``arecord`` output is classified while it plays.
    FLAC, OGG, MP3 and AIFF streams are decoded by libsndfile once the input has ended. A stream
    with no recognised header is read as raw mono S16_LE at ``source_rate`` (default
    ``sample_rate``), as ``arecord -t raw -f S16_LE -r 16000`` writes, and a warning says so once.

    Args:
        fileobj: binary file object.
        sample_rate: output rate in Hz.
        block_samples: samples per yielded block at the source rate.
        source_rate: rate of raw PCM input in Hz.
        name: how the stream is named in messages.

    Yields:
        ``(S_block,)`` float32 blocks as soon as they arrive.

    Raises:
        AudioError: an undecodable or non-16-bit WAV stream, or a corrupt compressed stream.
    """
    head = _read_exact(fileobj, 12)
    channels, rate = 1, source_rate or sample_rate
    pending = b""
    kind = sniff_format(head)
    if kind not in (None, "WAV"):
        yield from _decode_buffered(head + fileobj.read(), kind, name, block_samples, sample_rate)
        return
    if kind == "WAV":
        # Walk the chunks to 'data'; arecord writes a 'data' size of 0 or 2^31 for a live
        # stream, so read until EOF rather than trusting the size.
        while True:
            ch = _read_exact(fileobj, 8)
            if len(ch) < 8:
                return
            cid, size = ch[:4], int.from_bytes(ch[4:8], "little")
            if cid == b"fmt ":
                fmt = _read_exact(fileobj, size + (size & 1))
                tag = int.from_bytes(fmt[0:2], "little")
                channels = int.from_bytes(fmt[2:4], "little")
                rate = int.from_bytes(fmt[4:8], "little")
                bits = int.from_bytes(fmt[14:16], "little")
                if tag not in (1, 0xFFFE) or bits != 16:
                    raise AudioError(name, f"WAV stream is not 16-bit PCM (format {tag}, {bits} bits)",
                                     "send 16-bit PCM, e.g. arecord -f S16_LE -r 16000")
            elif cid == b"data":
                break
            else:
                _read_exact(fileobj, size + (size & 1))
    else:
        pending = head
        if head:
            log.warning("%s: no WAV, FLAC, OGG or MP3 header; reading it as raw 16-bit mono PCM at %d Hz "
                        "(set the rate with --rate; send a WAV header to avoid guessing)", name, rate)
    rs = None if rate == sample_rate else soxr.ResampleStream(rate, sample_rate, 1, dtype="float32")
    frame_bytes = 2 * channels
    want = block_samples * frame_bytes
    while True:
        data = pending + _read_exact(fileobj, want - len(pending))
        pending = b""
        last = len(data) < want
        usable = len(data) - len(data) % frame_bytes
        x = np.frombuffer(data[:usable], dtype="<i2").reshape(-1, channels)
        y = to_mono_float32(x)
        if rs is not None:
            y = rs.resample_chunk(y, last=last)
        if y.size:
            yield y
        if last:
            return


def _decode_buffered(data: bytes, kind: str, name: str, block_samples: int, sample_rate: int) -> Iterator[np.ndarray]:
    """Decode a whole compressed stream held in memory with libsndfile, block-wise."""
    import io

    try:
        i = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioError(name, f"looks like {kind} but cannot be decoded ({_short(e)})",
                         "send WAV, FLAC or OGG, e.g. ffmpeg -i IN -f wav - | serkit predict -") from None
    info_ = AudioInfo(name, int(i.samplerate), int(i.channels), int(i.frames), str(i.format), str(i.subtype))
    block_seconds = block_samples / max(1, info_.sample_rate)
    yield from _stream_blocks(io.BytesIO(data), info_, block_seconds, sample_rate, name=name)


def _read_exact(fileobj, n: int) -> bytes:
    """Read up to n bytes, looping over short reads from pipes; fewer only at EOF."""
    chunks, got = [], 0
    while got < n:
        b = fileobj.read(n - got)
        if not b:
            break
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3")


def find_audio(root: PathLike) -> list[Path]:
    """All audio files under a folder (recursive, sorted).

    Args:
        root: folder.

    Returns:
        sorted paths whose extension is in :data:`AUDIO_EXTENSIONS`.
    """
    out = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            if f.lower().endswith(AUDIO_EXTENSIONS):
                out.append(Path(dirpath) / f)
    return sorted(out)
