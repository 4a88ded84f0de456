"""serkit export: write a trained model as ONNX (optionally int8) for ONNX Runtime.

Examples:
    serkit export runs/my_run --format onnx                 # -> runs/my_run/model.onnx
    serkit export runs/my_eval --fold 03 --format onnx      # a run of serkit evaluate: one fold's model
    serkit export runs/my_run --format onnx --int8 --out m8.onnx
    serkit predict my.wav --model runs/my_run/model.onnx    # runs on ONNX Runtime

The file is written to RUN_DIR/model.onnx (model.int8.onnx with --int8) unless --out says
otherwise; a run of serkit evaluate keeps one model per fold (RUN_DIR/fold_NAME/), so choose
one with --fold. Every export is checked against torch on inputs of other lengths before it is
written; model families that cannot be exported (w2v2_ctc, ks_transformer, cpc_ccc) are refused
with what to use instead.
"""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("export", help="export a trained model to ONNX", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", metavar="RUN_DIR", help="run folder or .pt checkpoint (or 'default' for the bundled model)")
    p.add_argument("--format", choices=["onnx"], default="onnx", help="export format (onnx)")
    p.add_argument("--fold", default=None, metavar="NAME",
                   help="fold of a serkit evaluate run folder to export (its fold_NAME/ model)")
    p.add_argument("--int8", action="store_true", help="dynamic int8 quantisation (ONNX Runtime)")
    p.add_argument("--out", default=None,
                   help="output file (default RUN_DIR/model[.int8].onnx; ./default.model[.int8].onnx for the bundled model)")
    p.set_defaults(func=run)


def source_checkpoint(run_dir: str, fold: str | None):
    """The checkpoint to export and the folder the ONNX file goes to (``RUN_DIR``).

    Raises:
        CheckpointError: no model there, or a multi-fold run without (or with an unknown) ``--fold``.
    """
    from pathlib import Path

    from serkit.errors import CheckpointError
    from serkit.inference import BUNDLED, bundled_dir
    from serkit.models.checkpoint import find_checkpoint

    if run_dir in BUNDLED:
        return bundled_dir(run_dir) / "model.pt", Path(".")
    p = Path(run_dir)
    home = p if p.is_dir() else p.parent
    folds = sorted(d.name[len("fold_"):] for d in home.glob("fold_*") if d.is_dir()) if p.is_dir() else []
    if fold is not None:
        if not p.is_dir():
            raise CheckpointError(f"--fold {fold}: {run_dir} is a file; give the run folder of serkit evaluate")
        name = fold[len("fold_"):] if fold.startswith("fold_") else fold
        if name not in folds:
            raise CheckpointError(f"--fold {fold}: {run_dir} has no fold of that name; its folds are "
                                  f"{folds or 'none (not a serkit evaluate run folder)'}")
        return find_checkpoint(p / f"fold_{name}"), home
    if len(folds) > 1 and not any((p / n).is_file() for n in ("model.pt", "checkpoint.pt")):
        raise CheckpointError(f"{run_dir} holds {len(folds)} fold models ({', '.join(folds[:12])}); choose one "
                              f"with --fold, e.g. serkit export {run_dir} --fold {folds[0]} --format onnx")
    return find_checkpoint(p), home


def run(args: argparse.Namespace) -> int:
    """Export and print the written path."""
    from pathlib import Path

    from serkit.export import export_onnx
    from serkit.inference import BUNDLED

    src, home = source_checkpoint(args.run, args.fold)
    name = "model.int8.onnx" if args.int8 else "model.onnx"
    if args.out:
        out = Path(args.out)
    elif args.run in BUNDLED:  # never write into the installed package
        out = Path(f"{args.run}.{name}")
    else:
        out = home / name
    print(export_onnx(src, out, int8=args.int8))
    return 0
