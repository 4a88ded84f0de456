"""``serkit features``: extract (and cache) features for a corpus, with a progress bar."""

from __future__ import annotations

import argparse

from serkit.cli.common import add_corpus_arguments, load_corpus_args


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("features", help="extract and cache features for a corpus",
                       description="Extract features for every utterance of a corpus into the on-disk cache.")
    add_corpus_arguments(p)
    p.add_argument("--name", default="egemaps",
                   help="logmel, spectrogram, mfcc, egemaps, compare, egemaps_lld, compare_lld")
    p.add_argument("--cache-dir", default=None, help="cache folder (default $SERKIT_CACHE or ~/.cache/serkit)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Extract and report wall time."""
    import time

    from serkit.config import FeatureConfig
    from serkit.features.extract import extract_features

    utts = load_corpus_args(args, "features")
    t0 = time.time()
    feats, errors = extract_features(utts, FeatureConfig(name=args.name), cache_dir=args.cache_dir, skip_errors=True)
    ok = [f for f in feats if f is not None]
    print(f"{args.name}: {len(ok)} utterances in {time.time() - t0:.1f} s "
          f"(shape of the first: {ok[0].shape if ok else None}); {len(errors)} failed")
    for k, v in errors.items():
        print(f"  failed {k}: {v}")
    return 1 if errors else 0
