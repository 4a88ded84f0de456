"""Shared plumbing of the per-model benchmarks (label_prior.py, robustness.py): one JSON per
model in a results folder, and a docs section rebuilt from all of them."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from docs_section import write_section

ROOT = Path(__file__).resolve().parents[1]


def add_model_args(ap: argparse.ArgumentParser, results: Path, what: str) -> None:
    """The common options: --key, --name, --data-root, --limit, --out, --results."""
    ap.add_argument("--key", help="file name of this model's JSON (e.g. today, default)")
    ap.add_argument("--name", help="label of this model in the table")
    ap.add_argument("--render-only", action="store_true",
                    help="only rebuild the docs section from the JSONs already in --results")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--limit", type=int, default=None, help=f"first N {what} only (smoke runs)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--results", default=str(results), help="folder of the per-model JSONs")


def publish(args: argparse.Namespace, result: dict | None, render: Callable[[dict[str, dict]], str]) -> str:
    """Write ``<results>/<key>.json`` (unless ``result`` is None), rebuild the section from every
    JSON there (in the order they were created: the first model run is the first column), return it."""
    res = Path(args.results)
    res.mkdir(parents=True, exist_ok=True)
    if result is not None:
        result = {**result, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        (res / f"{args.key}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    runs = {p.stem: json.loads(p.read_text()) for p in sorted(res.glob("*.json"))}
    md = render(dict(sorted(runs.items(), key=lambda kv: (kv[1].get("created", ""), kv[0]))))
    write_section(Path(args.out), md.splitlines()[0], md)
    return md


def check_model_args(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--key and --name are needed unless --render-only."""
    if not args.render_only and not (args.key and args.name):
        ap.error("--key and --name are required (or --render-only)")
