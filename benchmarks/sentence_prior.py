"""How much can the transcript alone tell about the emotion in an acted corpus?

In EmoDB and RAVDESS every emotion is spoken over the same fixed sentences, so a transcript
carries (almost) no emotion information. This script measures the best a text-only model can
do: per fold, it predicts for each sentence the class-frequency-weighted most common emotion of
that sentence among the *training* speakers (the Bayes decision from the sentence identity and
the training prior), under the same speaker-independent protocol as the recipes.

Run: PYTHONPATH=src python benchmarks/sentence_prior.py configs/chen2022/emodb_text.yaml
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict

import numpy as np

from serkit.data.splits import recipe_folds, recipe_protocol_name
from serkit.eval.metrics import classification_scores
from serkit.experiment import load_data, load_recipe


def main(path: str) -> None:
    cfg = load_recipe(path)
    utts, labels = load_data(cfg)
    folds = recipe_folds(cfg, utts)
    by_id = {u.id: u for u in utts}
    scores = []
    for f in folds:
        tr = [by_id[i] for i in f.train]
        te = [by_id[i] for i in f.test]
        prior = Counter(u.emotion for u in tr)
        table: dict[str, Counter] = defaultdict(Counter)
        for u in tr:
            table[u.text][u.emotion] += 1
        # class-weighted decision, like the recipes' class_weighted loss
        pred = [max(labels, key=lambda c: table[u.text][c] / prior[c]) for u in te]
        scores.append(classification_scores([u.emotion for u in te], pred, labels))
    n_sent = len({u.text for u in utts})
    n_spk = len({u.speaker for u in utts})
    cells = {(u.speaker, u.text, u.emotion) for u in utts}
    pairs = Counter((text, emotion) for _, text, emotion in cells)
    print(f"corpus={cfg.data.corpus} labels={cfg.data.labels} ({len(labels)} classes, chance UA "
          f"{1 / len(labels):.4f}) | protocol={recipe_protocol_name(cfg)}, {len(folds)} folds | "
          f"{n_sent} distinct sentences; {len(cells)} of {n_spk * n_sent * len(labels)} speaker x sentence x "
          f"emotion combinations recorded; each sentence-emotion pair by {min(pairs.values())}-"
          f"{max(pairs.values())} of {n_spk} speakers | sentence-identity classifier:")
    for m in ("ua", "wa", "f1"):
        v = np.array([s[m] for s in scores])
        print(f"  {m.upper()} {v.mean():.4f} ± {v.std():.4f}")


if __name__ == "__main__":
    main(sys.argv[1])
