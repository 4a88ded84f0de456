"""``serkit plot attention``: key-sparse attention map of one recording (ks_transformer).

Shows, for one file, the attention each audio frame and each text token received in the last
deep-fusion layer of a Key-Sparse Transformer, and which ones key-sparse attention kept.

Two ways to name the model and the file:

- ``serkit plot attention RUN_DIR --utterance 03a01Wa``: a run of ``serkit evaluate --out``;
  the fold model that held the utterance out is used, with the manifest transcript and the
  features standardised per speaker exactly as in training.
- ``serkit plot attention CHECKPOINT --file x.wav --text "..."``: any checkpoint and file
  (``--speaker-files`` gives the speaker's other recordings for per-speaker standardisation).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from serkit.cli.common import add_data_root
from serkit.errors import ConfigError, ModelNotFoundError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``serkit plot attention``."""
    p.add_argument("target", help="run folder (serkit evaluate --out RUN_DIR) or a ks_transformer checkpoint.pt")
    p.add_argument("--utterance", default=None,
                   help="with a run folder: utterance id of the run's corpus (e.g. 03a01Wa)")
    p.add_argument("--fold", default=None, help="with a run folder: fold model to use (default: the one "
                                                  "that tests the utterance)")
    p.add_argument("--file", default=None, help="with a checkpoint: audio file to analyse")
    p.add_argument("--text", default=None, help="with a checkpoint: transcript of --file (models that read text)")
    p.add_argument("--speaker-files", nargs="*", default=None, metavar="WAV",
                   help="with a checkpoint: other recordings of the same speaker, to standardise features per "
                        "speaker as in training (features.speaker_norm); default: the file's own statistics")
    p.add_argument("--out", default=None, help="output PNG (default: <utterance or file stem>.attention.png, "
                                               "in RUN_DIR for runs)")
    add_data_root(p)
    p.set_defaults(func=run)


def register(plots) -> None:
    """Add ``attention`` to the sub-commands of ``serkit plot``."""
    p = plots.add_parser("attention", help="key-sparse attention map of one file (ks_transformer): "
                                           "importance of each frame and word, and which were kept",
                         description=__doc__.split("\n\n")[1])
    add_arguments(p)


def _tokens(cfg: Any, text: str | None) -> list[str] | None:
    """The text encoder's tokens of a transcript (the text panel's labels)."""
    from serkit.features.text import text_tokens

    if not text or getattr(cfg.model, "modalities", "audio") == "audio":
        return None
    return text_tokens([text], encoder=cfg.model.text_encoder or "minilm", max_tokens=cfg.model.max_text_tokens)[0]


def _check_ks(name: str, where: Any) -> None:
    if name != "ks_transformer":
        raise ConfigError(f"{where}: attention maps need a ks_transformer model, got {name!r}; "
                          "for attention pooling use serkit plot attention-weights")


def run(args: argparse.Namespace) -> int:
    """Compute the maps (through :mod:`serkit.runs`) and save the PNG."""
    import numpy as np

    from serkit.experiment import recipe_from_dict
    from serkit.runs import Run, checkpoint_outputs
    from serkit.viz.attention_maps import plot_key_sparse_attention

    target = Path(args.target)
    if target.is_dir() and not (target / "checkpoint.pt").is_file():
        if not args.utterance:
            raise ConfigError(f"{target} is a run folder: pass --utterance ID (e.g. --utterance 03a01Wa)")
        run_ = Run(target, data_root=args.data_root)
        _check_ks(run_.fold(args.fold).cfg.model.name, target)
        fold, u = run_.fold_holding_out(args.utterance, fold=args.fold)
        o = fold.outputs([u])[0]
        cfg, labels, text = fold.cfg, fold.label_names, u.text
        out = Path(args.out) if args.out else target / f"{u.id}.attention.png"
        head = f"{u.id} (speaker {u.speaker}, fold {fold.name} held out): true {u.emotion}, predicted"
    else:
        if not args.file:
            raise ConfigError(f"{target} is a checkpoint: pass --file AUDIO (and --text for models that read text)")
        outs, ck = checkpoint_outputs(target, [args.file], texts=[args.text],
                                      speaker_files=args.speaker_files or ())
        _check_ks(ck.model_config.name, target)
        o, cfg, labels, text = outs[0], recipe_from_dict(ck.config), list(ck.label_names), args.text
        out = Path(args.out) if args.out else Path(Path(args.file).stem + ".attention.png")
        norm = ("none" if not cfg.features.speaker_norm else
                f"per speaker ({len(args.speaker_files)} more files)" if args.speaker_files else "the file's own statistics")
        head = f"{Path(args.file).name} (features standardised by {norm}): predicted"
    i = int(np.argmax(o["probs"]))
    title = f"{head} {labels[i]} ({float(o['probs'][i]):.0%}); key-sparse k={cfg.model.k}"
    plot_key_sparse_attention(out, o["attn"], features=o["inputs"], tokens=_tokens(cfg, text),
                              hop_seconds=cfg.features.hop_length / 16000, title=title)
    print(f"wrote {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point (``python -m serkit.cli.plot_attention``)."""
    p = argparse.ArgumentParser(prog="serkit plot attention", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run(args)
    except (ConfigError, ModelNotFoundError) as e:
        print(f"serkit plot attention: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
