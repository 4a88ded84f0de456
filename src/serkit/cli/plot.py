"""``serkit plot WHAT RUN_DIR ...``: figures from a finished run.

Sub-commands (``serkit plot --help`` lists them):

- ``embeddings RUN_DIR``: t-SNE of utterance embeddings coloured by emotion; for models that
  expose ``before_transformer`` / ``after_transformer`` (Wang et al. 2021) both panels side by
  side, as in the paper's figure.
- ``attention-weights RUN_DIR --utterance ID``: a self-attention pooling model's weights over
  time for one file, under its features (Li et al. 2019).

A run folder is what ``serkit evaluate CONFIG --out RUN_DIR`` (or ``serkit train``) wrote: one
``fold_<name>/`` per fold with ``checkpoint.pt`` and ``resolved.yaml``. The plots recompute what
they need by running each fold's model over that fold's *test* utterances (speakers the model
never saw).

Adding a plot: write ``register(plot_subparsers)`` in your own module (it adds a parser and sets
``func``) and append it to :data:`SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from serkit.cli.common import add_data_root
from serkit.errors import ConfigError, UnknownKeyError

log = logging.getLogger(__name__)


def add_parser(sub) -> None:
    """Register ``serkit plot`` and its sub-commands."""
    p = sub.add_parser("plot", help="draw figures from a run (embeddings, attention weights, ...)",
                       description=__doc__.split("\n\n")[0])
    plots = p.add_subparsers(dest="plot", metavar="WHAT")
    for register in SUBCOMMANDS:
        register(plots)
    p.set_defaults(func=lambda args: _help(p))


def _help(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return 0


def _register_embeddings(plots) -> None:
    p = plots.add_parser("embeddings", help="t-SNE of utterance embeddings coloured by emotion",
                         description="t-SNE (scikit-learn) of a fold model's utterance embeddings on its test "
                                     "speakers, coloured by emotion; before/after the transformer layers when "
                                     "the model has them.")
    p.add_argument("run_dir", help="run folder with fold_<name>/checkpoint.pt")
    p.add_argument("--fold", default=None, help="fold name (default: the first fold in RUN_DIR)")
    p.add_argument("--split", choices=("test", "train", "all"), default="test",
                   help="utterances to embed: the fold's test speakers (default), its training ones, or all")
    p.add_argument("--keys", default=None,
                   help="comma-separated embeddings to draw (default: before_transformer,after_transformer "
                        "when present, else the classifier input)")
    p.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (default 30)")
    p.add_argument("--out", default=None, help="output PNG (default RUN_DIR/embeddings_<fold>.png)")
    add_data_root(p)
    p.set_defaults(func=run_embeddings)


def _register_attention_weights(plots) -> None:
    p = plots.add_parser("attention-weights", help="self-attention pooling weights over time for one file",
                         description="Attention pooling weights per head over time for one utterance, drawn "
                                     "under its features; uses the fold model that held the utterance out.")
    p.add_argument("run_dir", help="run folder with fold_<name>/checkpoint.pt")
    p.add_argument("--utterance", required=True,
                   help="utterance id in the run's corpus (e.g. 03a01Wa) or the path of one of its files")
    p.add_argument("--fold", default=None, help="fold model to use (default: the fold that tests this utterance)")
    p.add_argument("--out", default=None, help="output PNG (default RUN_DIR/attention_<utterance>.png)")
    add_data_root(p)
    p.set_defaults(func=run_attention_weights)


def _register_timeline(plots) -> None:
    from serkit.cli import plot_timeline

    plot_timeline.add_timeline(plots)


def _register_ks_attention(plots) -> None:
    from serkit.cli import plot_attention

    plot_attention.register(plots)


#: ``serkit plot`` sub-commands, in help order; each is ``register(plot_subparsers)``.
SUBCOMMANDS = [_register_embeddings, _register_attention_weights, _register_timeline, _register_ks_attention]


# --- embeddings ------------------------------------------------------------------------------

def run_embeddings(args: argparse.Namespace) -> int:
    """``serkit plot embeddings``."""
    import numpy as np

    from serkit.runs import Run
    from serkit.viz.embeddings import plot_embeddings_tsne

    fold = Run(args.run_dir, data_root=args.data_root).fold(args.fold)
    utts = [u for u in fold.split(args.split) if u.emotion in fold.label_names]
    outs = fold.outputs(utts)
    available = (["embedding"] if outs and outs[0]["embedding"] is not None else []) + list(outs[0]["embeddings"] if outs else [])
    if args.keys:
        keys = [k.strip() for k in args.keys.split(",") if k.strip()]
        bad = [k for k in keys if k not in available]
        if bad:
            raise UnknownKeyError("embedding", bad[0], available)
    elif "before_transformer" in available and "after_transformer" in available:
        keys = ["before_transformer", "after_transformer"]
    else:
        keys = ["embedding"]
    emb = {k.replace("_", " "): np.stack([o["embedding"] if k == "embedding" else o["embeddings"][k] for o in outs])
           for k in keys}
    cfg = fold.cfg
    title = (f"{cfg.model.name} on {cfg.data.corpus} ({cfg.eval.protocol}), fold {fold.name}: "
             f"{len(utts)} {args.split} utterances")
    out = Path(args.out) if args.out else Path(args.run_dir) / f"embeddings_{fold.name}.png"
    plot_embeddings_tsne(emb, [str(u.emotion) for u in utts], out, title=title, perplexity=args.perplexity)
    print(f"wrote {out}")
    return 0


# --- attention weights -----------------------------------------------------------------------

def run_attention_weights(args: argparse.Namespace) -> int:
    """``serkit plot attention-weights``."""
    from serkit.runs import Run
    from serkit.viz.attention import plot_attention_weights

    fold, u = Run(args.run_dir, data_root=args.data_root).fold_holding_out(args.utterance, fold=args.fold)
    o = fold.outputs([u])[0]
    w = o["attn"]
    if w is None or isinstance(w, dict):
        raise ConfigError(f"model {fold.cfg.model.name} returns no attention weights over time; "
                          "use a run of an attention-pooling model (e.g. configs/li2019/emodb.yaml)")
    x = o["inputs"]
    steps = max(1, round(x.shape[0] / w.shape[-1]))
    title = (f"{u.id} (speaker {u.speaker}): true {u.emotion}, predicted {fold.predicted_label(o) or '?'}; "
             f"{fold.cfg.model.name}, fold {fold.name} (held out)")
    out = Path(args.out) if args.out else Path(args.run_dir) / f"attention_{u.id}.png"
    plot_attention_weights(x, w, out, frames_per_step=steps,
                           frame_shift=fold.cfg.features.hop_length / 16000, title=title)
    print(f"wrote {out}")
    return 0
