"""Shared plumbing of the per-model benchmarks (label_prior.py, robustness.py): one JSON per
model in a results folder, and a docs section rebuilt from all of them."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from feature_extraction import write_section

ROOT = Path(__file__).resolve().parents[1]


def add_model_args(ap: argparse.ArgumentParser, results: Path, what: str) -> None:
    """The common options: --key, --name, --data-root, --limit, --out, --results."""
    ap.add_argument("--key", required=True, help="file name of this model's JSON (e.g. today, default)")
    ap.add_argument("--name", required=True, help="label of this model in the table")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--limit", type=int, default=None, help=f"first N {what} only (smoke runs)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--results", default=str(results), help="folder of the per-model JSONs")


def publish(args: argparse.Namespace, result: dict, render: Callable[[dict[str, dict]], str]) -> str:
    """Write ``<results>/<key>.json``, rebuild the section from every JSON there, return it."""
    res = Path(args.results)
    res.mkdir(parents=True, exist_ok=True)
    (res / f"{args.key}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    md = render({p.stem: json.loads(p.read_text()) for p in sorted(res.glob("*.json"))})
    write_section(Path(args.out), md)
    return md
