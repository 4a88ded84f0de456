"""serkit export: write a trained model as ONNX (optionally int8) for ONNX Runtime.

Examples:

    serkit export runs/my_run --format onnx                 # -> runs/my_run/model.onnx
    serkit export runs/my_run --format onnx --int8 --out m8.onnx
    serkit predict my.wav --model runs/my_run/model.onnx    # runs on ONNX Runtime
"""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("export", help="export a trained model to ONNX", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", metavar="RUN_DIR", help="run folder or .pt checkpoint (or 'default' for the bundled model)")
    p.add_argument("--format", choices=["onnx"], default="onnx", help="export format (onnx)")
    p.add_argument("--int8", action="store_true", help="dynamic int8 quantisation (ONNX Runtime)")
    p.add_argument("--out", default=None, help="output file (default RUN_DIR/model[.int8].onnx; ./default.model[.int8].onnx for the bundled model)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export and print the written path."""
    from pathlib import Path

    from serkit.export import export_onnx
    from serkit.inference import BUNDLED, bundled_dir, find_checkpoint

    src = bundled_dir(args.run) / "model.pt" if args.run in BUNDLED else find_checkpoint(args.run)
    name = "model.int8.onnx" if args.int8 else "model.onnx"
    if args.out:
        out = Path(args.out)
    elif args.run in BUNDLED:  # never write into the installed package
        out = Path(f"{args.run}.{name}")
    else:
        out = src.parent / name
    print(export_onnx(src, out, int8=args.int8))
    return 0
