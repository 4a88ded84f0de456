"""The speech check of serkit.vad on real speech and on noise: where its thresholds come from.

For every file of EmoDB, RAVDESS (actors 01-20) and LJSpeech, and for EmoDB with white noise at
5 dB SNR, WebRTC's VAD proposes segments; for each segment this records its level (dBFS) and the
share of voiced 10 ms frames (Praat's pitch tracker, :func:`serkit.vad.voiced_fraction`). The
same for seeded coloured noise (white, pink, brown, blue) at -60 to 0 dBFS and for digital
silence. The table says how the thresholds ``min_voiced`` / ``min_level_db`` of
:class:`serkit.vad.SegmentConfig` split them: segments kept, and files left without any speech
segment (which ``serkit predict`` reports as ``no_speech``).

Usage::

    /work/bin/cpu python benchmarks/no_speech.py        # writes the "No speech" section of docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import write_section  # noqa: E402  (benchmarks/ is not a package)

from serkit.data import audio  # noqa: E402
from serkit.data.augment import WaveAugmentConfig, WaveAugmenter  # noqa: E402
from serkit.data.corpora.common import find_data_root  # noqa: E402
from serkit.testing import NOISE_SLOPES_DB, noise_wave  # noqa: E402
from serkit.vad import SegmentConfig, Segmenter, level_db, voiced_fraction  # noqa: E402

SECTION = "## No speech"
CFG = SegmentConfig()


def segments(x: np.ndarray) -> list[tuple[float, float]]:
    """(level dBFS, voiced share) of each segment WebRTC proposes (speech check off)."""
    s = Segmenter(SegmentConfig(speech_check=False))
    return [(level_db(g.samples), voiced_fraction(g.samples)) for g in s.push(x) + s.flush()]


def sources(data_root: Path, limit: int | None, every: int = 1):
    files = {"EmoDB": sorted((data_root / "emodb" / "wav").glob("*.wav")),
             "RAVDESS 01-20": sorted((data_root / "ravdess" / "wav").glob("Actor_*/*.flac")),
             "LJSpeech": sorted((data_root / "ljspeech" / "wavs").glob("*.flac"))}
    files = {k: v[::every] for k, v in files.items()}
    for name, fs in files.items():
        for f in fs[:limit]:
            yield name, audio.load(f)
    aug = WaveAugmenter(WaveAugmentConfig(p_noise=1.0, snr_db=(5.0, 5.0), noise_kinds=("white",)), seed=5)
    for i, f in enumerate(files["EmoDB"][:limit]):
        yield "EmoDB + white noise 5 dB SNR", aug(audio.load(f), np.random.default_rng(i))
    for kind in NOISE_SLOPES_DB:
        for lvl in range(-60, 1, 5):
            for seed in range(3):
                yield f"{kind} noise, -60 to 0 dBFS", noise_wave(kind, 4.0, level_db=lvl, seed=seed)
    for _ in range(10):
        yield "digital silence", np.zeros(64000, np.float32)


def run(data_root: Path, limit: int | None, every: int = 1) -> dict:
    out: dict[str, dict] = {}
    for name, x in tqdm(sources(data_root, limit, every), desc="files", mininterval=10):
        segs = segments(x)
        kept = [v for lv, v in segs if lv >= CFG.min_level_db and v >= CFG.min_voiced]
        r = out.setdefault(name, {"files": 0, "segments": 0, "kept": 0, "files_no_speech": 0, "voiced": []})
        r["files"] += 1
        r["segments"] += len(segs)
        r["kept"] += len(kept)
        r["files_no_speech"] += not kept
        r["voiced"] += [v for _, v in segs]
    return out


def table(res: dict, every: int = 1) -> str:
    lines = [
        SECTION, "",
        f"Command: `python benchmarks/no_speech.py{' --every ' + str(every) if every > 1 else ''}`"
        f"{f' (one file in {every} of each corpus, sorted by name)' if every > 1 else ''}. WebRTC's VAD (mode 2) proposes segments; serkit keeps "
        f"one only if its RMS level is at least {CFG.min_level_db:g} dBFS and at least {100 * CFG.min_voiced:.0f} % of "
        "its 10 ms frames are voiced by Praat's autocorrelation pitch tracker (75-600 Hz, parselmouth) "
        "(`serkit.vad.SegmentConfig(min_level_db, min_voiced)`). A file with no kept segment is reported "
        '`"label": null, "no_speech": true`. Voiced share of the segments WebRTC proposes: percentiles. '
        "Noise: 13 levels x 3 seeds per colour, 4 s each (`serkit.testing.noise_wave`).", "",
        "| audio | files | segments proposed by WebRTC | kept by the speech check | files without speech | "
        "voiced share p1 / p5 / median / max |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, r in res.items():
        v = np.array(r["voiced"]) if r["voiced"] else None
        pct = " / ".join(f"{np.percentile(v, q):.2f}" for q in (1, 5, 50, 100)) if v is not None else "-"
        lines.append(f"| {name} | {r['files']} | {r['segments']} | {r['kept']} | {r['files_no_speech']} | {pct} |")
    lines += ["", "Noise that runs on under speech stays inside that speech segment (the check is per segment, "
              "and such a segment is voiced): it is classified as speech in noise, which is what it is."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--limit", type=int, default=None, help="first N files per corpus (smoke runs)")
    ap.add_argument("--every", type=int, default=1, help="every N-th file of each corpus (sorted by name)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--json", default=str(ROOT / "docs" / "results" / "no_speech.json"))
    args = ap.parse_args(argv)
    res = run(find_data_root(args.data_root), args.limit, args.every)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "voiced"} for k, v in res.items()},
                                          indent=2), encoding="utf-8")
    md = table(res, args.every)
    write_section(Path(args.out), md.splitlines()[0], md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
