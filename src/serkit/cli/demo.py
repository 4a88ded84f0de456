"""``serkit demo``: the main job on a fresh install (``make demo``).

Runs the eGeMAPS + linear SVM baseline on EmoDB, leave-one-speaker-out, and writes its report
to ``runs/demo/``.
"""

from __future__ import annotations

import argparse

from serkit.cli.common import add_data_root


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("demo", help="run the main demo job", description=__doc__)
    add_data_root(p)
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.set_defaults(func=run)


#: The demo's recipe: the same as configs/baseline/emodb_egemaps_svm.yaml (a test keeps them equal),
#: inlined so that the demo also runs from a non-editable install without the configs/ folder.
DEMO_RECIPE = {
    "data": {"corpus": "emodb", "labels": "emodb7"},
    "features": {"name": "egemaps", "speaker_norm": True},
    "model": {"name": "linear_svm", "C": 0.001, "class_weight": "balanced"},
    "eval": {"protocol": "loso", "folds": None, "seed": 0},
}


def run(args: argparse.Namespace) -> int:
    """Baseline evaluation on EmoDB."""
    from pathlib import Path

    from serkit.config import experiment_from_dict
    from serkit.experiment import run_experiment

    cfg = experiment_from_dict(DEMO_RECIPE)
    report = run_experiment(cfg, data_root=args.data_root)
    print(report.to_table())
    paths = report.save(Path(args.out) / "emodb_egemaps_svm.json")
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
