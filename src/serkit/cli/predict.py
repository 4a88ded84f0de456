"""serkit predict: the emotion of audio files, folders, globs, or a stream on stdin.

Examples:
  serkit predict my.wav                              # bundled default model, a table
  serkit predict recordings/ --format json --out preds.jsonl
  serkit predict 'calls/**/*.flac' --model runs/my_run --format csv
  serkit predict my.wav --top-k 3                    # the three most likely labels
  arecord -f S16_LE -r 16000 | serkit predict -      # one line per speech window as it arrives
  serkit predict a.wav --model runs/ks_both --text "Kids are talking by the door"
  serkit predict manifest.csv --model runs/ks_both   # CSV columns path,text (or JSONL rows)
  serkit predict a.wav --model runs/ks_both --text-from ctc:runs/w2v2_ctc

Output (--format):
  table  one row per file: file, seconds, label and p(label), the probability of that label
         (the model's softmax, averaged over the file's speech segments weighted by their
         length); --top-k K lists the K most likely labels with their probabilities.
  json   one object per file per line: file, duration, label, scores (every class'
         probability), segments (start, end, label, scores), plus arousal, valence, dominance
         when the model predicts them.
  csv    file, duration, label, p_<class> for every class, error; with --segments one row
         per segment (file, start, end, label, p_<class>..., error). Models that read a
         transcript add a text column, dimensional models arousal, valence, dominance.
A file that fails gives an error line ({"file", "error"} in JSON, the error column in CSV); the
others go on and the exit code is 1. A file without speech has the label "(no speech)" in the
table and CSV.

Dimensional models (e.g. cpc_ccc with model.tasks [emotion, avd], Li et al. 2021) add arousal,
valence and dominance on the training corpus' scale (the checkpoint's avd_stats undo the
training standardisation): JSON fields, CSV and table columns.

Transcripts (models that read text with the audio: ks_transformer with model.modalities text or
both, Chen et al. 2022): --text "..." for one file, a text column of a CSV or JSONL manifest
given as PATH (each row's path and text), or --text-from ctc:RUN_DIR to transcribe each speech
segment with a CTC model first (e.g. a w2v2_ctc run of configs/cai2021/emodb_scratch_w2v2.yaml);
a given transcript wins over --text-from. Every speech segment of a file is paired with the
file's transcript. JSON adds text and text_source (given or ctc). A file without one is an
error line naming it and these fixes. Audio-only models ignore manifest transcripts.

Classical models (linear_svm on egemaps/compare functionals, saved by serkit train) score each
speech segment's functionals; their scores are the softmax of the SVM margins, not calibrated
probabilities (JSON "score_kind": "svm_margin_softmax").

Stdin (-): a WAV stream is classified while it arrives; FLAC, OGG and MP3 are decoded once the
input ends; input without a recognised header is read as raw 16-bit mono PCM at --rate (a
warning says so).

Speaker adaptation (--speaker-from folder|file, --speaker-map CSV): each speaker's own speech
(VAD segments of all its files, never labels) gives the statistics the model's input is
normalised with; JSON lines add speaker, adapted, speaker_seconds and, when a speaker has too
little speech (--min-speaker-seconds, default 30), "adapted": false and a reason. Example:
  serkit predict participants/ --speaker-from folder --format json
"""

from __future__ import annotations

import argparse
import csv
import glob
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from serkit.data.manifest import AVD as AVD_NAMES

FORMATS = ("table", "json", "csv")
NO_SPEECH = "(no speech)"


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
    p.add_argument("--top-k", type=int, default=1, metavar="K",
                   help="table: show the K most likely labels with their probabilities (default 1)")
    p.add_argument("--vad-gain", type=float, default=0.0, metavar="DB",
                   help="let the VAD hear very quiet recordings (peaks below about -50 dBFS) with up to DB dB of gain "
                        "(the VAD only; the model gets the original samples). Default 0: off, as it cost clean UA on "
                        "the development speakers; try 30 when quiet files come out as no speech")
    p.add_argument("--max-window", type=float, default=6.0, metavar="SECONDS",
                   help="longest segment classified at once (default 6)")
    p.add_argument("--no-vad", action="store_true", help="cut fixed windows instead of speech segments")
    p.add_argument("--rate", type=int, default=16000,
                   help="sample rate of raw PCM on stdin (WAV, FLAC, OGG, MP3 headers give their own; default 16000)")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads per stream (default 1: fastest for one stream on a busy machine)")
    p.add_argument("--segments", action="store_true", help="table/csv: one row per segment, not per file")
    p.add_argument("--transcribe", action="store_true",
                   help="also print the greedy CTC transcript (models with a CTC head, e.g. w2v2_ctc; "
                        "json/csv field 'text')")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar (shown with --out)")
    t = p.add_argument_group("transcripts (models that read text with the audio, e.g. ks_transformer "
                             "with modalities text or both)")
    t.add_argument("--text", default=None, metavar="TEXT",
                   help="transcript of the one input file (or of the stream on stdin)")
    t.add_argument("--text-from", default=None, metavar="ctc:RUN_DIR",
                   help="transcribe each speech segment with this CTC model (w2v2_ctc with a CTC head) "
                        "where no transcript is given")
    g = p.add_argument_group("speaker adaptation (each speaker's own unlabelled speech sets the input statistics)")
    g.add_argument("--speaker-from", choices=("folder", "file"), default=None,
                   help="folder: each file's parent folder is one speaker; file: each file is one long "
                        "recording of one speaker. With '-' (stdin): the stream is one speaker, adapted with "
                        "running statistics")
    g.add_argument("--speaker-map", default=None, metavar="CSV",
                   help="CSV with columns file,speaker naming each file's speaker")
    g.add_argument("--min-speaker-seconds", type=float, default=None, metavar="SECONDS",
                   help="least speech of a speaker to adapt with (default 30); below it files are predicted "
                        "unadapted and their JSON says why")
    g.add_argument("--balance-labels", action="store_true",
                   help="also balance each speaker's labels: shift the scores of all its files so that, over "
                        "its speech, every emotion gets the same mean score (for speakers whose recordings cover "
                        "the emotions about evenly; a speaker who is always calm gets labels spread over the "
                        "classes). Files only, not streams")
    from serkit.cli.engine import add_predict_engine_arguments

    add_predict_engine_arguments(p)
    p.set_defaults(func=run)


def expand_inputs(paths: list[str]) -> list[tuple[str, str | None]]:
    """Files from paths, folders (recursive), glob patterns and manifests (``.jsonl`` rows'
    ``path``, or ``.txt``/``.lst`` with one path per line), in order, as ``(path, error)``.

    ``error`` is None for a file to predict, else the message of an input that gives no file (a
    folder without audio, a pattern without matches); a missing plain path stays a file so that
    the audio reader reports it.
    """
    from serkit.data.audio import AUDIO_EXTENSIONS, find_audio
    from serkit.data.manifest import PATH_LIST_SUFFIXES, read_path_list

    out: list[tuple[str, str | None]] = []
    for p in paths:
        q = Path(p)
        if q.is_dir():
            found = find_audio(q)
            out += [(str(f), None) for f in found] or [
                (p, f"{p}: folder holds no audio files ({', '.join(AUDIO_EXTENSIONS)}; searched recursively); "
                    "pass a folder with recordings, or the files themselves")]
        elif not q.exists() and any(c in p for c in "*?["):
            out += [(f, None) for f in sorted(glob.glob(p, recursive=True))] or [
                (p, f"{p}: pattern matched no files; check the folder and the extension, and quote the "
                    "pattern ('dir/**/*.wav') so that serkit, not the shell, expands it")]
        elif q.is_file() and q.suffix.lower() in PATH_LIST_SUFFIXES:
            out += [(f, None) for f in read_path_list(q)]
        else:
            out.append((p, None))
    return out


def input_texts(paths: list[str]) -> dict[str, str]:
    """Transcripts the inputs give: the ``text`` of the rows of CSV / JSONL manifests among
    ``paths``, by absolute audio path (files without one are left out)."""
    from serkit.data.manifest import read_path_texts

    out: dict[str, str] = {}
    for p in paths:
        q = Path(p)
        if q.is_file() and q.suffix.lower() in (".csv", ".jsonl"):
            out.update({f: t for f, t in read_path_texts(q).items() if t})
    return out


def _texts(args: argparse.Namespace, pred, items: list[tuple[str, str | None]]) -> dict[str, str] | None:
    """The transcript of each file (``--text`` or manifest columns), checked against the model.

    Raises:
        ConfigError: ``--text`` with several files, or with a model that reads no text.
    """
    from serkit.errors import ConfigError

    text = getattr(args, "text", None)
    if text is not None:
        if not pred.needs_text:
            raise ConfigError(f"--text given, but model {args.model} reads audio only; drop --text, or pass a "
                              "ks_transformer run trained with model.modalities text or both")
        files = [f for f, e in items if e is None]
        if len(files) != 1 or len(args.paths) != 1 or Path(args.paths[0]).suffix.lower() in (".csv", ".jsonl"):
            raise ConfigError(f"--text is the transcript of one file, got {len(files)} inputs; give several "
                              "files' transcripts in a CSV manifest (columns path,text) passed as PATH")
        return {files[0]: text}
    if not pred.needs_text:
        return None
    found = input_texts(args.paths)
    return {**found, **{str(Path(f).resolve()): t for f, t in found.items()}} if found else None


def _results(pred, items: list[tuple[str, str | None]], **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Results in input order: inputs that gave no file are error lines, the files go through one
    ``predict_batch`` call (``kwargs``: its speaker-adaptation and ``texts`` arguments)."""
    batch = pred.predict_batch([f for f, e in items if e is None], **kwargs)
    for f, e in items:
        yield {"file": f, "error": e} if e is not None else next(batch)


class _Writer:
    """Writes results as a table, JSON lines (``inference.result_json``) or CSV (``csv`` module)."""

    def __init__(self, fmt: str, stream, labels: list[str], *, segments: bool, transcribe: bool = False,
                 top_k: int = 1, avd: bool = False) -> None:
        self.fmt, self.f, self.labels, self.segments = fmt, stream, labels, segments
        self.transcribe = transcribe
        self.avd = avd
        self.top_k = max(1, min(top_k, len(labels) or 1))
        self.csv = csv.writer(stream, lineterminator="\n") if fmt == "csv" else None
        self.header_done = False

    def _line(self, s: str) -> None:
        self.f.write(s + "\n")
        self.f.flush()

    def _row(self, cells: list[Any]) -> None:
        if self.csv is not None:
            self.csv.writerow(cells)
        self.f.flush()

    def _probs(self, scores: dict[str, float]) -> list[str]:
        return [f"{scores[c]:.4f}" if c in scores else "" for c in self.labels]

    def _avd_cells(self, r: dict[str, Any]) -> list[str]:
        """CSV cells arousal, valence, dominance (dimensional models only; empty where absent)."""
        if not self.avd:
            return []
        return [f"{r[k]:.4f}" if isinstance(r.get(k), int | float) else "" for k in AVD_NAMES]

    def _avd_text(self, r: dict[str, Any]) -> str:
        """Table tail of dimensional models."""
        if not self.avd:
            return ""
        return "".join(f" {r[k]:>9.3f}" if isinstance(r.get(k), int | float) else f" {'-':>9}" for k in AVD_NAMES)

    def _label(self, r: dict[str, Any]) -> str:
        if r.get("no_speech"):
            return NO_SPEECH
        return r.get("label") or ""

    def _top(self, r: dict[str, Any]) -> str:
        scores = r.get("scores") or {}
        if r.get("no_speech") or not scores:
            return f"{self._label(r) or '-':<10}"
        if self.top_k == 1:
            return f"{r.get('label') or '-':<10} {scores.get(r.get('label'), max(scores.values())):>8.3f}"
        top = sorted(scores.items(), key=lambda kv: -kv[1])[: self.top_k]
        return "  ".join(f"{c:<10} {p:.3f}" for c, p in top)

    def _top_header(self) -> str:
        if self.top_k == 1:
            return f"{'label':<10} {'p(label)':>8}"
        return "  ".join(f"{f'top-{i + 1}':<10} {'p':>5}" for i in range(self.top_k))

    def header(self, stream_mode: bool) -> None:
        if self.header_done:
            return
        self.header_done = True
        if self.fmt == "csv":
            first = ["start", "end"] if stream_mode else (["file", "start", "end"] if self.segments
                                                          else ["file", "duration"])
            self._row(first + ["label"] + [f"p_{c}" for c in self.labels] + ([] if stream_mode else ["error"])
                      + (["text"] if self.transcribe else []) + (list(AVD_NAMES) if self.avd else []))
        elif self.fmt == "table":
            lead = f"{'start':>8} {'end':>8}" if stream_mode else f"{'file':<40} {'seconds':>8}"
            avd = "".join(f" {k:>9}" for k in AVD_NAMES) if self.avd else ""
            self._line(f"{lead}  {self._top_header()}{avd}")

    def file(self, r: dict[str, Any]) -> None:
        """One file's result (or error line)."""
        self.header(False)
        if self.fmt == "json":
            from serkit.inference import result_json

            self._line(result_json(r))
            return
        if "error" in r:
            if self.fmt == "csv":
                key = [r["file"], "", ""] if self.segments else [r["file"], ""]
                self._row(key + [""] + [""] * len(self.labels) + [r["error"]] + ([""] if self.transcribe else [])
                          + ([""] * len(AVD_NAMES) if self.avd else []))
            else:
                self._line(f"{_short(r['file']):<40} {'':>8}  ERROR: {r['error']}")
            return
        rows = [r]
        if self.segments:
            keep = {"text": r["text"]} if "text" in r else {}  # a given transcript: every segment read it
            rows = [{"file": r["file"], **keep, **s} for s in r.get("segments") or []] or [
                {"file": r["file"], "start": None, "end": None, "label": None, "no_speech": True}]
        for row in rows:
            text = row.get("text", "")
            if self.fmt == "csv":
                key = [row["file"], _num(row.get("start")), _num(row.get("end"))] if self.segments \
                    else [row["file"], _num(row.get("duration"))]
                self._row(key + [self._label(row)] + self._probs(row.get("scores") or {}) + [""]
                          + ([text] if self.transcribe else []) + self._avd_cells(row))
            else:
                when = (f"{row['start']:>4.1f}-{row['end']:<4.1f}" if row.get("start") is not None else f"{'':>8}") \
                    if self.segments else f"{row['duration']:>8.2f}"
                tail = f"  {text!r}" if self.transcribe else ""
                self._line(f"{_short(row['file']):<40} {when}  {self._top(row)}{self._avd_text(row)}{tail}")

    def window(self, w: dict[str, Any]) -> None:
        """One window of a stream."""
        self.header(True)
        if self.fmt == "json":
            from serkit.inference import result_json

            self._line(result_json(w))
        elif self.fmt == "csv":
            self._row([_num(w["start"]), _num(w["end"]), self._label(w)] + self._probs(w.get("scores") or {})
                      + ([w.get("text", "")] if self.transcribe else []) + self._avd_cells(w))
        else:
            tail = f"  {w.get('text', '')!r}" if self.transcribe else ""
            self._line(f"{w['start']:>8.2f} {w['end']:>8.2f}  {self._top(w)}{self._avd_text(w)}{tail}")


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:.3f}"


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
    from serkit.vad import SegmentConfig

    if "-" in args.paths and len(args.paths) > 1:
        raise ConfigError("'-' (stdin) cannot be mixed with files; run serkit predict - on its own")
    if args.top_k < 1:
        raise ConfigError(f"--top-k must be at least 1, got {args.top_k}")
    kw: dict[str, Any] = {"transcribe": True} if getattr(args, "transcribe", False) else {}
    if getattr(args, "text_from", None):
        kw["text_from"] = args.text_from
    segment = SegmentConfig(vad=not args.no_vad, max_window=args.max_window, vad_max_gain_db=args.vad_gain)
    if getattr(args, "engine", "local") == "ray":
        from serkit.cli.engine import run_ray_predict

        if getattr(args, "text", None) is not None:
            raise ConfigError("--text is not passed to --engine ray; use --engine local, or --text-from ctc:RUN_DIR")
        return run_ray_predict(args, expand_inputs(args.paths), {"segment": segment, **kw})
    from serkit.inference import Predictor  # after the Ray branch: its driver does not need torch

    pred = Predictor.load(args.model, segment=segment, threads=args.threads, **kw)
    out = open(args.out, "w", encoding="utf-8", newline="") if args.out else sys.stdout  # noqa: SIM115
    try:
        speakers, adapt = _adaptation(args)
        w = _Writer(args.format, out, pred.label_names, segments=args.segments,
                    transcribe=bool(kw.get("transcribe")) or pred.needs_text, top_k=args.top_k, avd=pred.has_avd)
        if args.paths == ["-"]:
            for win in pred.predict_stream(_stdin_blocks(args.rate), adapt=adapt if speakers else None,
                                           text=getattr(args, "text", None)):
                w.window(win)
            return 0
        items = expand_inputs(args.paths)
        texts = _texts(args, pred, items)
        failed = 0
        from tqdm.auto import tqdm

        show = args.out is not None and len(items) > 1 and not getattr(args, "no_progress", False)
        for r in tqdm(_results(pred, items, speakers=speakers, adapt=adapt, texts=texts), total=len(items), desc="predict", unit="file", disable=not show):
            failed += "error" in r
            w.file(r)
        if failed:
            print(f"serkit predict: {failed} of {len(items)} inputs failed (see their error lines)", file=sys.stderr)
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
    balance = bool(getattr(args, "balance_labels", False))
    if balance and not (how or csv_path):
        raise ConfigError("--balance-labels balances each speaker's labels: give --speaker-from or --speaker-map too")
    if balance and args.paths == ["-"]:
        raise ConfigError("--balance-labels needs a speaker's files; a stream on stdin is not balanced")
    adapt = AdaptConfig(balance=balance, **({} if secs is None else {"min_seconds": secs}))
    return (read_speaker_map(csv_path) if csv_path else how), adapt
