"""``serkit prepare CORPUS``: write a corpus manifest (JSONL)."""

from __future__ import annotations

import argparse

from serkit.cli.common import add_data_root


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("prepare", help="write a corpus manifest (JSONL)",
                       description="Build the manifest of a corpus and print its summary.")
    p.add_argument("corpus", help="emodb, ravdess, iemocap, msp_podcast, ljspeech")
    add_data_root(p)
    p.add_argument("--labels", default=None, help="label set, e.g. emodb7, ravdess7, 4class")
    p.add_argument("--out", default="manifests", help="output folder (default: manifests)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Prepare and write the manifest."""
    import json
    from pathlib import Path

    from serkit.data.corpora import load_corpus
    from serkit.data.manifest import summary, write_jsonl

    utts = load_corpus(args.corpus, root=args.data_root, labels=args.labels)
    p = write_jsonl(utts, Path(args.out) / f"{args.corpus}.jsonl")
    print(json.dumps({"manifest": str(p), **summary(utts)}, indent=2))
    return 0
