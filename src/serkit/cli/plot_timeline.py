"""``serkit plot timeline``: draw the emotion timeline of a recording.

Input is a JSON-lines file written by ``serkit predict --format json`` (one plot per line, or the
line of ``--file``), or an audio file, which is predicted first with ``--model``.

Examples::

    serkit predict meeting.wav --format json --out meeting.jsonl
    serkit plot timeline meeting.jsonl --out meeting_timeline.png
    serkit plot timeline meeting.wav --out meeting_timeline.png   # predicts with the default model
"""

from __future__ import annotations

import argparse


def add_timeline(plot_sub) -> None:
    """Register ``timeline`` under the ``plot`` command's sub-parsers."""
    p = plot_sub.add_parser("timeline", help="emotion timeline of a recording", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="predictions JSONL (serkit predict --format json) or an audio file")
    p.add_argument("--out", default=None, help="PNG (default INPUT stem + _timeline.png; with several "
                                               "lines, one PNG per file next to it)")
    p.add_argument("--model", default="default", help="model for audio input (default: bundled)")
    p.add_argument("--file", default=None, help="plot only the JSONL line of this file")
    p.set_defaults(func=run_timeline)


def run_timeline(args: argparse.Namespace) -> int:
    """Plot and print the written paths."""
    import json
    from pathlib import Path

    from serkit.data.audio import AUDIO_EXTENSIONS
    from serkit.errors import ConfigError
    from serkit.viz.timeline import plot_timeline

    src = Path(args.input)
    if src.suffix.lower() in AUDIO_EXTENSIONS:
        from serkit.inference import Predictor

        results = [Predictor.load(args.model, threads=1).predict_file(src)]
    else:
        if not src.is_file():
            raise ConfigError(f"{src}: not found; give a JSONL from serkit predict --format json or an audio file")
        results = [json.loads(x) for x in src.read_text(encoding="utf-8").splitlines() if x.strip()]
        if args.file:
            results = [r for r in results if r.get("file") == args.file or Path(r.get("file", "")).name == args.file]
    results = [r for r in results if "error" not in r]
    if not results:
        raise ConfigError(f"{src}: no successful predictions to plot")
    for r in results:
        if args.out and len(results) == 1:
            out = Path(args.out)
        else:
            base = Path(args.out).parent if args.out else src.parent
            out = base / f"{Path(r['file']).stem}_timeline.png"
        print(plot_timeline(r, out))
    return 0
