"""Dev-speaker diagnostic: does the model's label depend on how long the speech runs on?

Each development speaker's clips of one emotion (their VAD speech spans, 0.15 s gaps) are joined into
pieces of about 6 s, as a window of continuous speech is, and classified end to end through
``Predictor`` (as ``serkit predict`` runs); the clips are classified one by one as well. Prints UA and
the predicted-label counts of both. Development speakers only (emodb_09, emodb_10, ravdess_05-08):
round 8 of the default model's selection used it (docs/model_card.md).

Run: python benchmarks/long_pieces.py CHECKPOINT [--seconds 6] [--max-window S]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from select_default import dev_set  # noqa: E402  (benchmarks/ is not a package)

from serkit.data import audio  # noqa: E402
from serkit.data.corpora.common import find_data_root  # noqa: E402
from serkit.eval.metrics import unweighted_accuracy  # noqa: E402
from serkit.inference import Predictor  # noqa: E402
from serkit.vad import segment_blocks  # noqa: E402

GAP_S = 0.15


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--seconds", type=float, default=6.0, help="target length of a joined piece")
    ap.add_argument("--max-window", type=float, default=None, help="prediction window (default: the Predictor's)")
    a = ap.parse_args()
    pred = Predictor.from_checkpoint(a.checkpoint)
    groups = defaultdict(list)
    for u in dev_set(find_data_root(None)):
        segs = list(segment_blocks(iter([audio.load(u.path)]), pred.segment))
        if segs:
            groups[(u.speaker, u.emotion)].append(np.concatenate([s.samples for s in segs]))
    if a.max_window:
        pred.segment = dataclasses.replace(pred.segment, max_window=a.max_window)
    gap = np.zeros(int(GAP_S * 16000), np.float32)
    single, pieces = [], []
    for (_, emo), xs in sorted(groups.items()):
        single += [(emo, pred.predict_signal(x)["label"]) for x in xs]
        cur: list[np.ndarray] = []
        for x in xs:
            cur.append(x)
            if sum(len(c) for c in cur) / 16000 >= a.seconds:
                y = np.concatenate([np.concatenate([c, gap]) for c in cur])
                pieces.append((emo, pred.predict_signal(y)["label"]))
                cur = []
    labels = sorted({e for e, _ in single})
    for name, rows in (("single clips", single), (f"~{a.seconds:g} s pieces", pieces)):
        ua = unweighted_accuracy([e for e, _ in rows], [p or "-" for _, p in rows], labels)
        print(f"{name}: {len(rows)}, UA {ua:.3f}, predicted {dict(Counter(p for _, p in rows).most_common())}")


if __name__ == "__main__":
    main()
