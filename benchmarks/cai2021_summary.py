"""Summarise Cai et al. 2021 (w2v2_ctc) reports: alpha = 0 versus alpha > 0, with CER and examples.

Reads ``serkit evaluate --json`` reports and prints a Markdown table (protocol, corpus, label
set, folds, mean ± std of UA / WA / F1 and the CER of the CTC transcripts), a per-fold table,
and a few decoded transcripts next to their references.

Usage:
    python benchmarks/cai2021_summary.py runs/cai2021/emodb_scratch_a0.json runs/cai2021/emodb_scratch_a0.1.json ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _alpha(r: dict) -> str:
    w = r["config"]["train"]["loss_weights"].get("ctc", 0.0)
    return f"{w:g} ({r['config']['train']['ctc_weighting']})" if w else "0 (emotion only)"


def _fmt(r: dict, m: str) -> str:
    return f"{r['mean'][m]:.3f} ± {r['std'][m]:.3f}" if m in r["mean"] else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reports", nargs="+")
    ap.add_argument("--examples", type=int, default=4, help="transcripts to show per report with CTC")
    args = ap.parse_args()
    reps = [(Path(p), json.loads(Path(p).read_text())) for p in args.reports]
    print("| encoder | alpha (weighting) | protocol | corpus / labels | folds | UA | WA | macro-F1 | CER |")
    print("|---|---|---|---|---|---|---|---|---|")
    for p, r in reps:
        enc = r["config"]["model"].get("encoder", "?")
        print(f"| {enc} | {_alpha(r)} | {r['protocol_name']} | {r['corpus']} / {r['label_set']} | "
              f"{r['n_folds']} ({', '.join(f['name'] for f in r['folds'])}) | {_fmt(r, 'ua')} | {_fmt(r, 'wa')} | "
              f"{_fmt(r, 'f1')} | {_fmt(r, 'cer')} |")
    print()
    print("Per fold (UA / CER):")
    print()
    names = [f["name"] for f in reps[0][1]["folds"]]
    print("| report | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for p, r in reps:
        cells = []
        for f in r["folds"]:
            s = f["scores"]
            cells.append(f"{s['ua']:.3f}" + (f" / {s['cer']:.3f}" if "cer" in s else ""))
        print(f"| {p.stem} | " + " | ".join(cells) + " |")
    from serkit.data.corpora import load_corpus
    from serkit.data.vocab import normalize_text

    for p, r in reps:
        tr = {k: v for f in r["folds"] for k, v in (f["extra"].get("transcripts") or {}).items()}
        if not tr:
            continue
        utts = {u.id: u for u in load_corpus(r["corpus"], labels=r["label_set"])}
        print(f"\nExamples from {p.name} (reference -> greedy CTC transcript):\n")
        for uid in sorted(tr)[:: max(1, len(tr) // args.examples)][: args.examples]:
            print(f"- `{uid}`: \"{normalize_text(utts[uid].text or '')}\" -> \"{tr[uid]}\"")


if __name__ == "__main__":
    main()
