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


def _folds(r: dict) -> str:
    names = [f["name"] for f in r["folds"]]
    return f"{len(names)} ({', '.join(names)})" if len(names) < 5 else str(len(names))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reports", nargs="+")
    ap.add_argument("--examples", type=int, default=4, help="transcripts to show per report with CTC")
    ap.add_argument("--plot", default=None, metavar="PNG", help="also draw per-fold UA of every report")
    args = ap.parse_args()
    reps = [(Path(p), json.loads(Path(p).read_text())) for p in args.reports]
    print("| encoder | alpha (weighting) | protocol | corpus / labels | folds | UA | WA | macro-F1 | CER |")
    print("|---|---|---|---|---|---|---|---|---|")
    for _, r in reps:
        m = r["config"]["model"]
        enc = m.get("encoder", "?") + (f" (`{m['encoder_path']}`)" if m.get("encoder_path") else "")
        print(f"| {enc} | {_alpha(r)} | {r['protocol_name']} | {r['corpus']} / {r['label_set']} | "
              f"{_folds(r)} | {_fmt(r, 'ua')} | {_fmt(r, 'wa')} | "
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
    if args.plot:
        _plot(reps, args.plot)
    from serkit.data.corpora import load_corpus
    from serkit.data.vocab import normalize_text

    for p, r in reps:
        tr = {k: v for f in r["folds"] for k, v in (f["extra"].get("transcripts") or {}).items()}
        if not tr or args.examples <= 0:
            continue
        utts = {u.id: u for u in load_corpus(r["corpus"], labels=r["label_set"])}
        print(f"\nExamples from {p.name} (reference -> greedy CTC transcript):\n")
        for uid in sorted(tr)[:: max(1, len(tr) // args.examples)][: args.examples]:
            print(f"- `{uid}`: \"{normalize_text(utts[uid].text or '')}\" -> \"{tr[uid]}\"")


def _plot(reps: list[tuple[Path, dict]], out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [f["name"] for f in reps[0][1]["folds"]]
    width = 0.8 / len(reps)
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(names), 3.2))
    for i, (p, r) in enumerate(reps):
        ua = [f["scores"]["ua"] for f in r["folds"]]
        ax.bar(np.arange(len(ua)) + i * width, ua, width,
               label=f"{p.stem}: alpha={_alpha(r)}")
    ax.axhline(1 / len(reps[0][1]["labels"]), color="grey", ls="--", lw=1, label="chance")
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names)
    ax.set_ylabel("UA (test speaker)")
    ax.set_title(f"{reps[0][1]['corpus']} {reps[0][1]['protocol_name']}: Cai 2021 multitask, per fold", fontsize=9)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
