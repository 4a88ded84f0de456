"""Markdown table of the Li et al. 2021 comparison (MFCC vs frozen vs fine-tuned CPC) from
``serkit evaluate --json`` reports, with the pretraining behind each CPC row.

Run: python benchmarks/li2021_table.py docs/results/li2021/*.json
     python benchmarks/li2021_table.py --paired A.json B.json   (per-fold UA of B minus A, with a
     two-sided sign test and Wilcoxon signed-rank test over the folds)

Each row: front-end, CPC checkpoint with its pretraining audio, steps and segment length (read
from the checkpoint's run folder: config.json, history.json; ``bundled:cpc`` ships both beside
its model.pt), protocol and fold count, UA / WA /
macro-F1 as mean ± std over folds. The run folders must still exist for the pretraining columns.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fold_scores import fold_scores

from serkit.checkpoint_file import find_checkpoint
from serkit.errors import CheckpointError

AUDIO_NAMES = {"ljspeech": "LJSpeech", "ravdess": "RAVDESS", "emodb": "EmoDB"}


def pretraining(encoder: str | None) -> str:
    """'LJSpeech+RAVDESS, 1600 steps x 8 x 2 s' from a CPC checkpoint's run folder."""
    if not encoder:
        return "none"
    try:  # bundled:cpc -> serkit/assets/cpc/model.pt; a run folder -> its checkpoint
        run = find_checkpoint(encoder).parent
    except CheckpointError:
        run = Path(encoder).parent
    try:
        cfg = json.loads((run / "config.json").read_text())
        hist = json.loads((run / "history.json").read_text())
    except FileNotFoundError:
        return f"none: `{encoder}` has no pretraining log (random weights for the control)"
    steps = hist[-1]["steps"] if hist else 0
    audio = cfg.get("audio") or []
    names = "+".join(n for k, n in AUDIO_NAMES.items() if any(k in str(a) for a in audio)) or "?"
    seg = cfg["cpc"]["segment_seconds"]
    return f"{names}, {steps} steps x {cfg['train']['batch_size']} x {seg:g} s"


def row(path: Path) -> str:
    d = json.loads(path.read_text())
    f, m = d["config"]["features"], d["config"]["model"]
    if f["name"] == "mfcc":
        frontend, enc = f"{f['n_mfcc']} MFCCs (supervised)", None
    elif f["name"] == "cpc":
        frontend, enc = "frozen CPC c_t", f.get("encoder")
        if not f.get("speaker_norm"):
            frontend += ", batch norm instead of per-speaker standardisation" if m.get("input_norm") else ", unnormalised"
    else:
        frontend = "CPC fine-tuned end to end" if not m.get("freeze_encoder") else "CPC (frozen, raw waves)"
        enc = m.get("encoder")
    mean, std = d["mean"], d["std"]
    cells = " | ".join(f"{mean[k]:.3f} ± {std[k]:.3f}" for k in ("ua", "wa", "f1"))
    return (f"| {frontend} | {pretraining(enc)} | {d['protocol_name']}, {d['n_folds']} folds | {cells} | "
            f"`{path.name}` |")


def paired(a: Path, b: Path) -> str:
    ua, ub = fold_scores(a), fold_scores(b)
    diffs = {k: v - ua[k] for k, v in ub.items() if k in ua}
    from scipy.stats import binomtest, wilcoxon

    better = sum(v > 0 for v in diffs.values())
    nonzero = sum(v != 0 for v in diffs.values())
    mean = sum(diffs.values()) / len(diffs)
    p_sign = binomtest(better, nonzero).pvalue if nonzero else 1.0
    p_wil = wilcoxon(list(diffs.values())).pvalue if nonzero else 1.0
    return (f"{b.name} - {a.name}: mean UA difference {mean:+.3f} over {len(diffs)} shared folds, "
            f"better on {better} (sign test p = {p_sign:.3f}, Wilcoxon p = {p_wil:.3f}): " + ", ".join(f"{k} {v:+.3f}" for k, v in sorted(diffs.items())))


def main(argv: list[str]) -> None:
    if argv[:1] == ["--paired"]:
        print(paired(Path(argv[1]), Path(argv[2])))
        return
    print("| front-end | CPC pretraining (audio, steps x batch x segment) | protocol | UA | WA | macro-F1 | report |")
    print("|---|---|---|---|---|---|---|")
    for p in argv:
        print(row(Path(p)))


if __name__ == "__main__":
    main(sys.argv[1:])
