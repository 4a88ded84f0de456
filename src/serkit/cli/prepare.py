"""serkit prepare CORPUS: write a corpus manifest (JSONL) and print its summary."""

from __future__ import annotations

import argparse

from serkit.cli.common import add_corpus_arguments, load_corpus_args


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("prepare", help="write a corpus manifest (JSONL)",
                       description="Build the manifest of a corpus and print its summary. For your own "
                                   "data: serkit prepare manifest --manifest labels.csv")
    add_corpus_arguments(p)
    p.add_argument("--labels", default=None,
                   help="label set, e.g. emodb7, ravdess7, 4class; for 'manifest' the emotions to keep, e.g. angry,happy,sad")
    p.add_argument("--out", default="manifests", help="output folder (default: manifests)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Prepare and write the manifest."""
    import json
    from pathlib import Path

    from serkit.data.manifest import summary, write_jsonl

    utts = load_corpus_args(args, "prepare", labels=args.labels)
    p = write_jsonl(utts, Path(args.out) / f"{args.corpus}.jsonl")
    print(json.dumps({"manifest": str(p), **summary(utts)}, indent=2))
    return 0
