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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from serkit.cli.common import add_data_root
from serkit.errors import ConfigError

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
    from serkit.cli.plot_attention import register

    register(plots)


#: ``serkit plot`` sub-commands, in help order; each is ``register(plot_subparsers)``.
SUBCOMMANDS = [_register_embeddings, _register_attention_weights, _register_timeline, _register_ks_attention]


# --- run folders -----------------------------------------------------------------------------

def fold_dirs(run_dir: str | Path) -> dict[str, Path]:
    """``{fold name: folder}`` of a run, in name order.

    Raises:
        FileNotFoundError: no ``fold_*/checkpoint.pt`` under ``run_dir``.
    """
    root = Path(run_dir)
    found = {d.name[len("fold_"):]: d for d in sorted(root.glob("fold_*")) if (d / "checkpoint.pt").is_file()}
    if not found:
        raise FileNotFoundError(f"{root}: no fold_<name>/checkpoint.pt found; run "
                                "serkit evaluate CONFIG --out RUN_DIR first")
    return found


def _pick_fold(folds: dict[str, Path], name: str | None) -> tuple[str, Path]:
    if name is None:
        return next(iter(folds.items()))
    for key in (name, name.removeprefix("fold_")):
        if key in folds:
            return key, folds[key]
    from serkit.errors import UnknownKeyError

    raise UnknownKeyError("fold", name, folds)


class FoldModel:
    """A fold's trained model with its recipe, labels and test/train utterances.

    Args:
        fold_dir: ``RUN_DIR/fold_<name>`` with ``checkpoint.pt`` and ``resolved.yaml``.
        data_root: corpus root override.
    """

    def __init__(self, fold_dir: Path, *, data_root: str | None = None) -> None:
        from serkit.config import load_dict
        from serkit.data.splits import recipe_folds
        from serkit.experiment import load_data, recipe_from_dict
        from serkit.models.checkpoint import load_checkpoint

        self.name = fold_dir.name[len("fold_"):]
        resolved = fold_dir / "resolved.yaml"
        ckpt = load_checkpoint(fold_dir / "checkpoint.pt")
        self.cfg = recipe_from_dict(load_dict(resolved) if resolved.is_file() else ckpt.config)
        self.ckpt = ckpt
        self.label_names: list[str] = list(ckpt.label_names)
        utts, _ = load_data(self.cfg, data_root=data_root)
        ev = self.cfg.eval
        folds = {f.name: f for f in recipe_folds(self.cfg, utts, all_folds=True)}
        if self.name not in folds:
            raise ConfigError(f"{fold_dir}: fold {self.name!r} is not a fold of the run's protocol "
                              f"{ev.protocol} (folds: {sorted(folds)}); was the recipe changed?")
        by_id = {u.id: u for u in utts}
        self.all = utts
        self.test = [by_id[i] for i in folds[self.name].test]
        self.train = [by_id[i] for i in folds[self.name].train]
        self._model = None

    def model(self):
        """The model rebuilt from the checkpoint alone, in eval mode."""
        if self._model is None:
            self._model = self.ckpt.build_model()
        return self._model

    def features(self, utts: Sequence[Any]) -> list:
        """Model inputs of ``utts`` (cached features, per-speaker standardised as in training)."""
        from serkit.features.extract import extract_features

        # per-speaker standardisation uses all of a speaker's utterances, as in training
        speakers = {u.speaker for u in utts}
        pool = [v for v in self.all if v.speaker in speakers]
        ids = {v.id for v in pool}
        pool += [u for u in utts if u.id not in ids]
        feats, _ = extract_features(pool, self.cfg.features, progress=False)
        by_id = {v.id: x for v, x in zip(pool, feats, strict=True)}
        return [by_id[u.id] for u in utts]

    def run(self, utts: Sequence[Any], *, batch_size: int = 16) -> tuple[list, list[Any]]:
        """Run the model over ``utts``; returns (features, ModelOutput per utterance)."""
        import torch

        from serkit.data.dataset import Item, collate

        feats = self.features(utts)
        model = self.model()
        outs: list[Any] = []
        with torch.no_grad():
            for s in range(0, len(utts), batch_size):
                items = [Item(id=u.id, speaker=u.speaker, inputs=x) for u, x in
                         zip(utts[s: s + batch_size], feats[s: s + batch_size], strict=True)]
                b = collate(items)
                out = model(b.inputs, b.lengths)
                outs += _split_output(out, b.lengths)
        return feats, outs


def _split_output(out, lengths) -> list[dict[str, Any]]:
    """Per-utterance numpy views of a batched ModelOutput."""
    rows = []
    for i in range(len(lengths)):
        r: dict[str, Any] = {"logits": out.logits[i].numpy() if out.logits is not None else None}
        if out.embedding is not None:
            r["embedding"] = out.embedding[i].numpy()
        for k, v in out.embeddings.items():
            r[k] = v[i].numpy()
        if out.attn is not None and not isinstance(out.attn, dict):
            r["attn"] = out.attn[i].numpy()
        rows.append(r)
    return rows


# --- embeddings ------------------------------------------------------------------------------

def run_embeddings(args: argparse.Namespace) -> int:
    """``serkit plot embeddings``."""
    import numpy as np

    from serkit.viz.embeddings import plot_embeddings_tsne

    name, d = _pick_fold(fold_dirs(args.run_dir), args.fold)
    fm = FoldModel(d, data_root=args.data_root)
    utts = {"test": fm.test, "train": fm.train, "all": fm.all}[args.split]
    utts = [u for u in utts if u.emotion in fm.label_names]
    _, outs = fm.run(utts)
    available = [k for k in outs[0] if k not in ("logits", "attn")]
    if args.keys:
        keys = [k.strip() for k in args.keys.split(",") if k.strip()]
        bad = [k for k in keys if k not in available]
        if bad:
            from serkit.errors import UnknownKeyError

            raise UnknownKeyError("embedding", bad[0], available)
    elif "before_transformer" in available and "after_transformer" in available:
        keys = ["before_transformer", "after_transformer"]
    else:
        keys = ["embedding"]
    emb = {k.replace("_", " "): np.stack([o[k] for o in outs]) for k in keys}
    title = (f"{fm.cfg.model.name} on {fm.cfg.data.corpus} ({fm.cfg.eval.protocol}), fold {name}: "
             f"{len(utts)} {args.split} utterances")
    out = Path(args.out) if args.out else Path(args.run_dir) / f"embeddings_{name}.png"
    plot_embeddings_tsne(emb, [u.emotion for u in utts], out, title=title, perplexity=args.perplexity)
    print(f"wrote {out}")
    return 0


# --- attention weights -----------------------------------------------------------------------

def run_attention_weights(args: argparse.Namespace) -> int:
    """``serkit plot attention-weights``."""
    from serkit.viz.attention import plot_attention_weights

    folds = fold_dirs(args.run_dir)
    want = args.utterance
    if args.fold is not None:
        candidates = [_pick_fold(folds, args.fold)]
    else:
        candidates = list(folds.items())
    for cand, d in candidates:
        fm = FoldModel(d, data_root=args.data_root)
        pool = fm.test if args.fold is None else fm.all
        match = [u for u in pool if want in (u.id, u.path) or Path(u.path).stem == Path(want).stem]
        if match:
            name = cand
            break
    else:
        raise ConfigError(f"utterance {want!r} is not in the test split of any fold of {args.run_dir}; "
                          "give an utterance id of the run's corpus (e.g. 03a01Wa) or pass --fold")
    u = match[0]
    feats, outs = fm.run([u])
    o = outs[0]
    if "attn" not in o:
        raise ConfigError(f"model {fm.cfg.model.name} returns no attention weights over time; "
                          "use a run of an attention-pooling model (e.g. configs/li2019/emodb.yaml)")
    w = o["attn"]
    x = feats[0]
    steps = max(1, round(x.shape[0] / w.shape[-1]))
    pred = fm.label_names[int(o["logits"].argmax())] if o["logits"] is not None else "?"
    title = (f"{u.id} (speaker {u.speaker}): true {u.emotion}, predicted {pred}; "
             f"{fm.cfg.model.name}, fold {name} (held out)")
    out = Path(args.out) if args.out else Path(args.run_dir) / f"attention_{u.id}.png"
    plot_attention_weights(x, w, out, frames_per_step=steps,
                           frame_shift=fm.cfg.features.hop_length / 16000, title=title)
    print(f"wrote {out}")
    return 0


def run(args: argparse.Namespace) -> int:  # pragma: no cover - dispatch goes through args.func
    """Unused: each plot sub-command sets its own ``func``."""
    return int(args.func(args) or 0)
