"""``serkit predict``: emotions of audio files, folders, globs, or a live stream on stdin.

Examples::

    serkit predict my.wav                         # bundled default model, a table
    serkit predict recordings/ --format json --out preds.jsonl
    serkit predict 'calls/**/*.flac' --model runs/my_run --format csv
    arecord -f S16_LE -r 16000 | serkit predict -  # one line per speech window as it arrives
    serkit predict participants/ --speaker-from folder --format json   # adapt to each speaker

``--format json`` writes one JSON object per input file per line: file, duration, label, scores,
segments (start, end, label, scores), plus arousal, valence, dominance when the model predicts
them. A file that fails gets ``{"file", "error"}``; the others go on and the exit code is 1.

Speaker adaptation (``--speaker-from folder|file``, ``--speaker-map CSV``): each speaker's own
speech (VAD segments of all its files, never labels) gives the statistics the model's input is
normalised with; JSON lines add ``speaker``, ``adapted``, ``speaker_seconds`` and, when a speaker
has too little speech (``--min-speaker-seconds``, default 10), ``"adapted": false`` and a
``reason``. See :mod:`serkit.adapt`.
"""

from __future__ import annotations

import argparse
import glob
import sys
from collections.abc import Iterator
from pathlib import Path

from serkit.inference import result_json

FORMATS = ("table", "json", "csv")


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("predict", help="predict emotions of audio files or a stream",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="audio files, folders (searched recursively), globs, or - for stdin")
    p.add_argument("--model", default="default",
                   help="bundled model name (default), a run folder, a .pt checkpoint or an .onnx file")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    p.add_argument("--out", default=None, metavar="FILE", help="write here instead of stdout")
    p.add_argument("--max-window", type=float, default=6.0, metavar="SECONDS",
                   help="longest segment classified at once (default 6)")
    p.add_argument("--no-vad", action="store_true", help="cut fixed windows instead of speech segments")
    p.add_argument("--rate", type=int, default=16000,
                   help="sample rate of raw PCM on stdin (WAV headers give their own; default 16000)")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads per stream (default 1: fastest for one stream on a busy machine)")
    p.add_argument("--segments", action="store_true", help="table/csv: one row per segment, not per file")
    p.add_argument("--transcribe", action="store_true",
                   help="also print the greedy CTC transcript (models with a CTC head, e.g. w2v2_ctc; "
                        "json/csv field 'text')")
    g = p.add_argument_group("speaker adaptation (each speaker's own unlabelled speech sets the input statistics)")
    g.add_argument("--speaker-from", choices=("folder", "file"), default=None,
                   help="folder: each file's parent folder is one speaker; file: each file is one long "
                        "recording of one speaker. With '-' (stdin): the stream is one speaker, adapted with "
                        "running statistics")
    g.add_argument("--speaker-map", default=None, metavar="CSV",
                   help="CSV with columns file,speaker naming each file's speaker")
    g.add_argument("--min-speaker-seconds", type=float, default=None, metavar="SECONDS",
                   help="least speech of a speaker to adapt with (default 10); below it files are predicted "
                        "unadapted and their JSON says why")
    from serkit.cli.engine import add_predict_engine_arguments

    add_predict_engine_arguments(p)
    p.set_defaults(func=run)


def expand_inputs(paths: list[str]) -> list[str]:
    """Files from paths, folders (recursive), glob patterns and manifests (``.jsonl`` rows'
    ``path``, or ``.txt``/``.lst`` with one path per line), in order; unmatched paths stay in the
    list so that they are reported as errors."""
    from serkit.data.audio import find_audio
    from serkit.data.manifest import PATH_LIST_SUFFIXES, read_path_list

    out: list[str] = []
    for p in paths:
        q = Path(p)
        if q.is_dir():
            found = find_audio(q)
            out += [str(f) for f in found] if found else [p]
        elif not q.exists() and any(c in p for c in "*?["):
            out += sorted(glob.glob(p, recursive=True)) or [p]
        elif q.is_file() and q.suffix.lower() in PATH_LIST_SUFFIXES:
            out += read_path_list(q)
        else:
            out.append(p)
    return out


class _Writer:
    def __init__(self, fmt: str, stream, labels: list[str], *, segments: bool, transcribe: bool = False) -> None:
        self.fmt, self.f, self.labels, self.segments = fmt, stream, labels, segments
        self.transcribe = transcribe
        self.header_done = False

    def _line(self, s: str) -> None:
        self.f.write(s + "\n")
        self.f.flush()

    def header(self, stream_mode: bool) -> None:
        if self.header_done:
            return
        self.header_done = True
        if self.fmt == "csv":
            first = ["start", "end"] if stream_mode else ["file", "duration"]
            if self.segments and not stream_mode:
                first = ["file", "start", "end"]
            self._line(",".join(first + ["label"] + [f"p_{c}" for c in self.labels] + ([] if stream_mode else ["error"])
                                + (["text"] if self.transcribe else [])))
        elif self.fmt == "table":
            first = f"{'start':>8} {'end':>8}" if stream_mode else f"{'file':<40} {'seconds':>8}"
            self._line(f"{first}  {'label':<10} {'score':>6}")

    def file(self, r: dict) -> None:
        self.header(False)
        if self.fmt == "json":
            self._line(result_json(r))
            return
        rows = [r]
        if self.segments and "error" not in r:
            rows = [{"file": r["file"], **s} for s in r["segments"]]
        for row in rows:
            scores = row.get("scores") or {}
            if self.fmt == "csv":
                key = [row["file"], f"{row['start']:.3f}", f"{row['end']:.3f}"] if self.segments and "error" not in r \
                    else [row["file"], f"{row.get('duration', '')}"]
                cells = key + [row.get("label") or ""] + [f"{scores[c]:.4f}" if c in scores else "" for c in self.labels]
                if not (self.segments and "error" not in r):
                    cells.append(row.get("error", ""))
                if self.transcribe:
                    cells.append(row.get("text", ""))
                self._line(",".join(_csv(c) for c in cells))
            elif "error" in row:
                self._line(f"{_short(row['file']):<40} {'':>8}  ERROR: {row['error']}")
            else:
                top = max(scores.values()) if scores else float("nan")
                first = f"{_short(row['file']):<40} " + (f"{row['start']:>4.1f}-{row['end']:<4.1f}" if self.segments
                                                          else f"{row['duration']:>8.2f}")
                text = f"  {row.get('text', '')!r}" if self.transcribe else ""
                self._line(f"{first}  {row.get('label') or '-':<10} {top:>6.3f}{text}")

    def window(self, w: dict) -> None:
        self.header(True)
        if self.fmt == "json":
            self._line(result_json(w))
        elif self.fmt == "csv":
            s = w.get("scores") or {}
            self._line(",".join([f"{w['start']:.3f}", f"{w['end']:.3f}", w.get("label", "")]
                                + [f"{s[c]:.4f}" if c in s else "" for c in self.labels]
                                + ([_csv(w.get("text", ""))] if self.transcribe else [])))
        else:
            top = max((w.get("scores") or {"": float("nan")}).values())
            text = f"  {w.get('text', '')!r}" if self.transcribe else ""
            self._line(f"{w['start']:>8.2f} {w['end']:>8.2f}  {w.get('label', '-'):<10} {top:>6.3f}{text}")


def _csv(s: str) -> str:
    return f'"{s}"' if any(c in s for c in ',"\n') and not s.startswith('"') else s


def _short(s: str, n: int = 40) -> str:
    return s if len(s) <= n else "..." + s[-(n - 3):]


def _stdin_blocks(rate: int) -> Iterator:
    from serkit.data.audio import read_pcm_stream

    # 0.25 s blocks: a window's line appears within a quarter second of its end
    yield from read_pcm_stream(sys.stdin.buffer, block_samples=rate // 4, source_rate=rate)


def run(args: argparse.Namespace) -> int:
    """Predict and write results; exit code 1 if any input failed."""
    try:
        return _run(args)
    except BrokenPipeError:  # output piped into head & co. that stopped reading: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _run(args: argparse.Namespace) -> int:
    from serkit.errors import ConfigError
    from serkit.inference import Predictor
    from serkit.vad import SegmentConfig

    if "-" in args.paths and len(args.paths) > 1:
        raise ConfigError("'-' (stdin) cannot be mixed with files; run serkit predict - on its own")
    kw = {"transcribe": True} if getattr(args, "transcribe", False) else {}
    if getattr(args, "engine", "local") == "ray":
        from serkit.cli.engine import run_ray_predict

        return run_ray_predict(args, expand_inputs(args.paths),
                               {"segment": SegmentConfig(vad=not args.no_vad, max_window=args.max_window), **kw})
    pred = Predictor.load(args.model, segment=SegmentConfig(vad=not args.no_vad, max_window=args.max_window),
                          threads=args.threads, **kw)
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    try:
        speakers, adapt = _adaptation(args)
        w = _Writer(args.format, out, pred.label_names, segments=args.segments, transcribe=bool(kw))
        if args.paths == ["-"]:
            for win in pred.predict_stream(_stdin_blocks(args.rate), adapt=adapt if speakers else None):
                w.window(win)
            return 0
        failed = 0
        files = expand_inputs(args.paths)
        from tqdm.auto import tqdm

        show = args.out is not None and len(files) > 1
        for r in tqdm(pred.predict_batch(files, speakers=speakers, adapt=adapt), total=len(files), desc="predict",
                      unit="file", disable=not show):
            failed += "error" in r
            w.file(r)
        if failed:
            print(f"serkit predict: {failed} of {len(files)} inputs failed (see their error lines)", file=sys.stderr)
        return 1 if failed else 0
    finally:
        if args.out:
            out.close()


def _adaptation(args: argparse.Namespace):
    """(speakers argument of Predictor.predict_batch or None, AdaptConfig) from the flags."""
    from serkit.adapt import AdaptConfig, read_speaker_map
    from serkit.errors import ConfigError

    how, csv_path = getattr(args, "speaker_from", None), getattr(args, "speaker_map", None)
    if how and csv_path:
        raise ConfigError("give either --speaker-from or --speaker-map, not both")
    if csv_path and args.paths == ["-"]:
        raise ConfigError("--speaker-map names files; a stream on stdin is one speaker: use --speaker-from file")
    secs = getattr(args, "min_speaker_seconds", None)
    adapt = AdaptConfig() if secs is None else AdaptConfig(min_seconds=secs)
    return (read_speaker_map(csv_path) if csv_path else how), adapt
