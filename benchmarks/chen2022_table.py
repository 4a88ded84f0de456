"""Markdown rows of the Key-Sparse Transformer ablations from ``serkit evaluate --json`` reports.

Run: python benchmarks/chen2022_table.py runs/chen2022/*.json
     python benchmarks/chen2022_table.py --paired A.json B.json   (per-fold UA of B minus A)
Each row: corpus, label set, protocol and fold count, modalities, k, UA / WA / macro-F1 as
mean ± std over folds, mean epochs trained, and the command that produced it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fold_scores import fold_scores


def row(path: Path) -> tuple[tuple, str]:
    d = json.loads(path.read_text())
    m = d["config"]["model"]
    t = d["config"]["train"]
    mean, std = d["mean"], d["std"]
    cell = " | ".join(f"{mean[k]:.3f} ± {std[k]:.3f}" for k in ("ua", "wa", "f1"))
    epochs = [f.get("extra", {}).get("epochs") for f in d["folds"]]
    ep = f"{sum(epochs) / len(epochs):.1f}" if all(e is not None for e in epochs) else "?"
    k = "1.0 (dense)" if m["k"] >= 1.0 else f"{m['k']}"
    if m["modalities"] != "both":
        k += " (fusion only)"
    cmd = f"serkit evaluate configs/chen2022/{d['corpus']}_{m['modalities']}.yaml"
    if m["k"] != 0.5:
        cmd += f" --set model.k={m['k']}"
    if (t["epochs"], t["patience"]) != (10, 3):
        cmd += f" --set train.epochs={t['epochs']} --set train.patience={t['patience']}"
    cmd += f" --json {path.as_posix()}"
    key = (d["corpus"], {"audio": 0, "text": 1, "both": 2}[m["modalities"]], m["k"])
    return key, (f"| {d['corpus']} | {d['label_set']} | {d['protocol_name']}, {d['n_folds']} folds | "
                 f"{m['modalities']} | {k} | {cell} | {ep} | `{cmd}` |")


def paired(a: str, b: str) -> None:
    """Per-fold UA differences ``b - a`` on the same folds (same protocol and seed)."""
    ua, ub = fold_scores(a), fold_scores(b)
    if set(ua) != set(ub):
        raise SystemExit(f"{a} and {b} have different folds; compare runs of the same protocol")
    diff = [ub[k] - ua[k] for k in sorted(ua)]
    better = sum(d > 0 for d in diff)
    mean = sum(diff) / len(diff)
    print(f"{Path(b).stem} - {Path(a).stem}: UA difference {mean:+.3f} (mean over {len(diff)} folds), "
          f"{better}/{len(diff)} folds better, range [{min(diff):+.3f}, {max(diff):+.3f}]")


def main(paths: list[str]) -> None:
    if paths and paths[0] == "--paired":
        paired(paths[1], paths[2])
        return
    print("| corpus | labels | protocol | modalities | k | UA | WA | macro-F1 | epochs (mean) | command |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for _, r in sorted(row(Path(p)) for p in paths):
        print(r)


if __name__ == "__main__":
    main(sys.argv[1:])
