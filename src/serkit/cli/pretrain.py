"""``serkit pretrain cpc``: self-supervised CPC pretraining on unlabelled audio.

Examples:
    serkit pretrain cpc --audio ../shared/data/ljspeech --out runs/cpc --epochs 40 --max-steps 450 \\
        --segment-seconds 2 --threads 1
    serkit pretrain cpc --audio ../shared/data/ljspeech --out runs/cpc --resume --epochs 40 --max-steps 900 \\
        --segment-seconds 2 --threads 1
    serkit evaluate configs/li2021/emodb_cpc_frozen.yaml --set features.encoder=runs/cpc
"""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("pretrain", help="self-supervised pretraining of a speech encoder (CPC)",
                       description="Pretrain a speech encoder on unlabelled audio.")
    psub = p.add_subparsers(dest="method", metavar="METHOD", required=True)
    c = psub.add_parser("cpc", help="contrastive predictive coding (Li et al., ICASSP 2021)",
                        description="Contrastive predictive coding: 4 strided convolutions (10 ms frames), "
                                    "GRU 256, 12 steps ahead, 50 same-sequence negatives, InfoNCE. Writes "
                                    "OUT/checkpoint.pt when done (features.encoder: OUT), OUT/last.pt (the state "
                                    "--resume continues from), epoch_XXX.pt, history.json, steps.jsonl, accuracy.png.")
    c.add_argument("--audio", action="append", required=True, metavar="DIR_OR_MANIFEST",
                   help="folder of audio files (recursive), audio file, or .jsonl manifest (repeatable)")
    c.add_argument("--out", required=True, help="output folder")
    c.add_argument("--resume", action="store_true", help="continue from OUT/last.pt (or OUT/cpc.pt of an older serkit); "
                   "without one, start from scratch, as serkit train --resume does")
    c.add_argument("--init", metavar="CKPT", default=None,
                   help="start from this CPC encoder's weights (checkpoint, run folder or bundled:cpc) with a fresh "
                        "optimiser, e.g. to adapt the shipped encoder to your own audio; its architecture is used")
    c.add_argument("--epochs", type=int, default=10, help="epochs (default 10)")
    c.add_argument("--max-steps", type=int, default=None, help="stop after this many steps in total")
    c.add_argument("--batch-size", type=int, default=8, help="segments per step (default 8)")
    c.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate (paper: 2e-4)")
    c.add_argument("--weight-decay", type=float, default=1e-5, help="Adam weight decay (paper: 1e-5)")
    c.add_argument("--segment-seconds", type=float, default=10.0, help="segment length (paper: 10 s)")
    c.add_argument("--steps-ahead", type=int, default=12, help="prediction steps K (paper: 12)")
    c.add_argument("--negatives", type=int, default=50, help="negatives per prediction (paper: 50)")
    c.add_argument("--channels", type=int, default=128, help="encoder channels (paper: 128)")
    c.add_argument("--hidden", type=int, default=256, help="GRU units (paper: 256)")
    c.add_argument("--valid-fraction", type=float, default=0.02, help="files held out for accuracy on unseen audio")
    c.add_argument("--save-every", type=int, default=50, help="checkpoint every N steps too (0: per epoch only)")
    c.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    c.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Pretrain and print the per-epoch history."""
    import json
    from pathlib import Path

    from serkit.features.cpc import CpcConfig
    from serkit.train.cpc import CpcTrainConfig, collect_sources, pretrain_cpc
    from serkit.viz.pretrain import plot_cpc_curve

    cfg = CpcConfig(channels=args.channels, hidden=args.hidden, prediction_steps=args.steps_ahead,
                    negatives=args.negatives, segment_seconds=args.segment_seconds)
    tr = CpcTrainConfig(epochs=args.epochs, max_steps=args.max_steps, batch_size=args.batch_size, lr=args.lr,
                        weight_decay=args.weight_decay, valid_fraction=args.valid_fraction, seed=args.seed,
                        num_threads=args.threads, save_every=args.save_every)
    res = pretrain_cpc(collect_sources(args.audio), args.out, cfg=cfg, train=tr, resume=args.resume,
                       progress=not args.no_progress, audio=args.audio, init=args.init)
    png = plot_cpc_curve(Path(args.out), Path(args.out) / "accuracy.png")
    print(json.dumps({"checkpoint": res["checkpoint"], "steps": res["steps"], "plot": str(png),
                      "history": res["history"]}, indent=2))
    return 0
