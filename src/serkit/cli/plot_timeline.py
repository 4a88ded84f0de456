"""serkit plot timeline: draw the emotion timeline of recordings.

Input is a JSON-lines file written by serkit predict --format json (one panel per file, or only
the line of --file), or an audio file, which is predicted first with --model.

Examples:

    serkit predict meeting.wav --format json --out meeting.jsonl
    serkit plot timeline meeting.jsonl --out meeting_timeline.png
    serkit plot timeline meeting.wav --out meeting_timeline.png   # predicts with the default model
"""

from __future__ import annotations

import argparse


def add_timeline(plot_sub) -> None:
    """Register ``timeline`` under the ``plot`` command's sub-parsers."""
    p = plot_sub.add_parser("timeline", help="emotion timeline of recordings", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="predictions JSONL (serkit predict --format json) or an audio file")
    p.add_argument("--out", default=None,
                   help="a PNG (one figure, a panel per file; default INPUT stem + _timeline.png), or a "
                        "folder (existing, or ending in /) for one PNG per file with distinct names")
    p.add_argument("--model", default="default", help="model for audio input (default: bundled)")
    p.add_argument("--file", default=None, help="plot only the JSONL line(s) of this file (path or name)")
    p.set_defaults(func=run_timeline)


#: most panels in one figure; more files need --out FOLDER/ or --file
MAX_PANELS = 24


def run_timeline(args: argparse.Namespace) -> int:
    """Plot and print the written paths."""
    import json
    from pathlib import Path

    from serkit.data.audio import AUDIO_EXTENSIONS
    from serkit.errors import ConfigError
    from serkit.viz.timeline import plot_timelines, unique_names

    src = Path(args.input)
    if src.suffix.lower() in AUDIO_EXTENSIONS:
        from serkit.inference import Predictor

        results = [Predictor.load(args.model, threads=1).predict_file(src)]
    else:
        if not src.is_file():
            raise ConfigError(f"{src}: not found; give a JSONL from serkit predict --format json or an audio file")
        results = [json.loads(x) for x in src.read_text(encoding="utf-8").splitlines() if x.strip()]
        if args.file:
            files = [r.get("file", "") for r in results]
            results = [r for r in results if r.get("file") == args.file or Path(r.get("file", "")).name == args.file]
            if not results:
                shown = ", ".join(files[:8]) + (f" ... ({len(files)} in all)" if len(files) > 8 else "")
                raise ConfigError(f"--file {args.file}: {src} has no line for this file; it holds {shown}. "
                                  "Give one of these paths or file names")
    ok = [r for r in results if "error" not in r and not r.get("no_speech")]
    if not ok:
        why = "; ".join(f"{r.get('file')}: {r.get('error') or 'no speech'}" for r in results[:3])
        raise ConfigError(f"{src}: nothing to plot, every line is a failed prediction or has no speech ({why}); "
                          "fix the inputs and run serkit predict again")
    for r in results:
        if r not in ok:
            print(f"skipped {r.get('file')}: {r.get('error') or 'no speech'}")
    out = Path(args.out) if args.out else src.with_name(src.stem + "_timeline.png")
    if args.out and (out.is_dir() or args.out.endswith(("/", "\\")) or not out.suffix):
        for r, name in zip(ok, unique_names([r["file"] for r in ok]), strict=True):
            print(plot_timelines([r], out / name))
        return 0
    if len(ok) > MAX_PANELS:
        raise ConfigError(f"{src}: {len(ok)} files are too many panels for one figure (at most {MAX_PANELS}); "
                          f"pass --out FOLDER/ for one PNG per file, or --file NAME")
    print(plot_timelines(ok, out))
    return 0
