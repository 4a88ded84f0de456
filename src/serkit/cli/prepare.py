"""serkit prepare CORPUS: write a corpus manifest (JSONL) and print its summary."""

from __future__ import annotations

import argparse

from serkit.cli.common import add_data_root


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("prepare", help="write a corpus manifest (JSONL)",
                       description="Build the manifest of a corpus and print its summary. For your own "
                                   "data: serkit prepare manifest --manifest labels.csv")
    p.add_argument("corpus", help="emodb, ravdess, iemocap, msp_podcast, ljspeech, or manifest (with --manifest)")
    add_data_root(p)
    p.add_argument("--labels", default=None,
                   help="label set, e.g. emodb7, ravdess7, 4class; for 'manifest' the emotions to keep, e.g. angry,happy,sad")
    p.add_argument("--manifest", default=None, metavar="FILE",
                   help="your own CSV (path, speaker, emotion, ...) or JSONL, for corpus 'manifest'")
    p.add_argument("--out", default="manifests", help="output folder (default: manifests)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Prepare and write the manifest."""
    import json
    from pathlib import Path

    from serkit.data.corpora import load_corpus
    from serkit.data.manifest import summary, write_jsonl
    from serkit.errors import ConfigError

    if args.corpus == "manifest" and not args.manifest:
        raise ConfigError("serkit prepare manifest needs --manifest FILE (your CSV or JSONL manifest: path, "
                          "speaker, emotion, ...)")
    utts = load_corpus(args.corpus, root=args.data_root, labels=args.labels, manifest=args.manifest)
    p = write_jsonl(utts, Path(args.out) / f"{args.corpus}.jsonl")
    print(json.dumps({"manifest": str(p), **summary(utts)}, indent=2))
    return 0
