"""``serkit evaluate CONFIG``: run a recipe under its speaker-independent protocol."""

from __future__ import annotations

import argparse

from serkit.cli.common import add_data_root, add_overrides, load_recipe


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("evaluate", help="evaluate a recipe under its protocol (one model per fold)",
                       description="Train and test one model per fold of the recipe's protocol and "
                                   "print per-fold values and mean ± std.")
    p.add_argument("config", help="recipe YAML, e.g. configs/baseline/emodb_egemaps_svm.yaml")
    add_overrides(p)
    add_data_root(p)
    p.add_argument("--json", default=None, metavar="OUT",
                   help="write the report as JSON (plus OUT.predictions.csv and OUT.confusion.png)")
    p.add_argument("--out", default=None, help="run folder for checkpoints and logs of neural models")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--resume", action="store_true",
                   help="continue neural folds from OUT/fold_*/last.pt (needs --out); finished folds only predict")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table, optionally save JSON + plots."""
    from serkit.experiment import run_experiment
    from serkit.viz.confusion import save_report_figures

    cfg = load_recipe(args.config, args.overrides, getattr(args, "ssl_model", None))
    report = run_experiment(cfg, data_root=args.data_root, out_dir=args.out, progress=not args.no_progress,
                            resume=getattr(args, "resume", False))
    print(report.to_table())
    if args.json:
        paths = report.save(args.json)
        paths.update(save_report_figures(report, args.json))
        print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
