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


def _forward(model: Any, mcfg: Any, feats: Any, text_feats: Any, tokens: list[str] | None,
             labels: list[str], hop_seconds: float, norm: str) -> dict[str, Any]:
    import torch

    kw: dict[str, Any] = {}
    if text_feats is not None:
        kw = {"text": torch.from_numpy(text_feats)[None], "text_lengths": torch.tensor([text_feats.shape[0]])}
    with torch.no_grad():
        out = model(torch.from_numpy(feats)[None], torch.tensor([feats.shape[0]]), **kw)
    prob = torch.softmax(out.logits[0], -1)
    i = int(prob.argmax())
    res: dict[str, Any] = {"label": labels[i], "prob": float(prob[i]), "k": mcfg.k, "hop_seconds": hop_seconds,
                           "norm": norm, "features": feats}
    a = out.attn
    if "audio_importance" in a:
        n = int(a["audio_lengths"][0])
        res.update(audio_importance=a["audio_importance"][0, :n].numpy(), audio_kept=a["audio_kept"][0, :n].numpy())
    if "text_importance" in a:
        n = int(a["text_lengths"][0])
        res.update(tokens=(tokens or [])[:n], text_importance=a["text_importance"][0, :n].numpy(),
                   text_kept=a["text_kept"][0, :n].numpy())
    return res


def attention_for_utterance(run_dir: str | Path, utterance: str, *, fold: str | None = None,
                            data_root: str | None = None) -> tuple[dict[str, Any], Any, str]:
    """Maps of one utterance of a run, from the fold model that held it out.

    Returns:
        (maps as :func:`attention_for_file`, the utterance, the fold name).

    Raises:
        ConfigError: not a ks_transformer run, or the utterance is in no fold's test split.
    """
    from serkit.cli.plot import FoldModel, _pick_fold, fold_dirs
    from serkit.features.text import text_features_for, text_tokens

    folds = fold_dirs(run_dir)
    candidates = [_pick_fold(folds, fold)] if fold is not None else list(folds.items())
    for name, d in candidates:
        fm = FoldModel(d, data_root=data_root)
        if fm.cfg.model.name != "ks_transformer":
            raise ConfigError(f"{run_dir}: attention maps need a ks_transformer run, got model "
                              f"{fm.cfg.model.name!r}; for attention pooling use serkit plot attention-weights")
        pool = fm.test if fold is None else fm.all
        match = [u for u in pool if utterance in (u.id, u.path) or Path(u.path).stem == Path(utterance).stem]
        if match:
            fold_name = name
            break
    else:
        raise ConfigError(f"utterance {utterance!r} is not in the test split of any fold of {run_dir}; "
                          "give an utterance id of the run's corpus (e.g. 03a01Wa) or pass --fold")
    u = match[0]
    mcfg = fm.cfg.model
    feats = fm.features([u])[0]
    model = fm.model()
    tf = None
    if mcfg.modalities != "audio" and mcfg.text_encoder:
        tf = text_features_for([u], encoder=mcfg.text_encoder, transcripts=mcfg.transcripts,
                               max_tokens=mcfg.max_text_tokens, progress=False)
    tokens = None
    if tf is not None:
        tokens = text_tokens([u.text], encoder=mcfg.text_encoder or "minilm", max_tokens=mcfg.max_text_tokens)[0]
    norm = "speaker (as in training)" if fm.cfg.features.speaker_norm else "none"
    res = _forward(model, mcfg, feats, tf[0] if tf is not None else None, tokens, fm.label_names,
                   fm.cfg.features.hop_length / 16000, norm)
    return res, u, fold_name


def attention_for_file(checkpoint: str | Path, file: str | Path, *, text: str | None = None,
                       speaker_files: Sequence[str] | None = None) -> dict[str, Any]:
    """Run a ks_transformer checkpoint on one file and return arrays to plot.

    Returns:
        dict with ``features (T, F)``, ``audio_importance``/``audio_kept`` ``(T,)`` and/or
        ``tokens``, ``text_importance``/``text_kept`` ``(L,)``, ``label``, ``prob``, ``k``,
        ``hop_seconds`` and ``norm`` (how features were standardised).

    Raises:
        ConfigError: not a ks_transformer checkpoint, or text needed but not given.
    """
    from serkit.data import audio
    from serkit.features.extract import compute_features, speaker_standardise
    from serkit.features.text import encode_texts, text_tokens
    from serkit.models.checkpoint import load_model

    model, ck = load_model(checkpoint)
    mcfg = ck.model_config
    if mcfg.name != "ks_transformer":
        raise ConfigError(f"{checkpoint}: attention maps need a ks_transformer checkpoint, got model {mcfg.name!r}")
    fcfg = ck.features
    labels = list(ck.label_names)
    feats = compute_features(audio.load(str(file)), fcfg)  # (T, F)
    norm = "none"
    if fcfg.speaker_norm:
        # the file and the speaker's other recordings standardised together, as training does
        others = [compute_features(audio.load(str(f)), fcfg) for f in (speaker_files or [])]
        feats = speaker_standardise([feats, *others], ["speaker"] * (1 + len(others)))[0]
        norm = f"per speaker ({len(speaker_files)} files)" if speaker_files else "the file's own statistics"
    if feats.shape[1] != ck.input_dim:
        raise ConfigError(f"{file}: features have {feats.shape[1]} bins but the model expects {ck.input_dim}")
    tf = tokens = None
    if mcfg.modalities != "audio":
        if not text:
            raise ConfigError(f"this model reads text (modalities={mcfg.modalities}); pass --text 'transcript'")
        tf = encode_texts([text], encoder=mcfg.text_encoder or "minilm", max_tokens=mcfg.max_text_tokens,
                          progress=False)[0]
        tokens = text_tokens([text], encoder=mcfg.text_encoder or "minilm", max_tokens=mcfg.max_text_tokens)[0]
    return _forward(model, mcfg, feats, tf, tokens, labels, fcfg.hop_length / audio.SAMPLE_RATE, norm)


def run(args: argparse.Namespace) -> int:
    """Compute the maps and save the PNG."""
    from serkit.viz.attention_maps import plot_attention

    target = Path(args.target)
    if target.is_dir():
        if not args.utterance:
            raise ConfigError(f"{target} is a run folder: pass --utterance ID (e.g. --utterance 03a01Wa)")
        r, u, fold = attention_for_utterance(target, args.utterance, fold=args.fold, data_root=args.data_root)
        out = Path(args.out) if args.out else target / f"{u.id}.attention.png"
        title = (f"{u.id} (speaker {u.speaker}, fold {fold} held out): true {u.emotion}, predicted {r['label']} "
                 f"({r['prob']:.0%}); key-sparse k={r['k']}")
    else:
        if not args.file:
            raise ConfigError(f"{target} is a checkpoint: pass --file AUDIO (and --text for models that read text)")
        r = attention_for_file(target, args.file, text=args.text, speaker_files=args.speaker_files)
        out = Path(args.out) if args.out else Path(Path(args.file).stem + ".attention.png")
        title = (f"{Path(args.file).name}: predicted {r['label']} ({r['prob']:.0%}); key-sparse k={r['k']}; "
                 f"features standardised by {r['norm']}")
    plot_attention(out, features=r["features"], audio_importance=r.get("audio_importance"),
                   audio_kept=r.get("audio_kept"), tokens=r.get("tokens"), text_importance=r.get("text_importance"),
                   text_kept=r.get("text_kept"), hop_seconds=r["hop_seconds"], title=title)
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
