"""``serkit plot attention CHECKPOINT FILE``: key-sparse attention map of one recording.

Shows, for one file, the attention each audio frame and each text token received in the last
deep-fusion layer of a Key-Sparse Transformer checkpoint, and which ones key-sparse attention
kept. Wired as the ``attention`` sub-command of ``serkit plot``; also runnable on its own with
``python -m serkit.cli.plot_attention``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from serkit.errors import ConfigError, ModelNotFoundError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``serkit plot attention``."""
    p.add_argument("checkpoint", help="ks_transformer checkpoint or run folder (e.g. runs/chen2022/emodb_both/fold_03)")
    p.add_argument("file", help="audio file (any format serkit reads; resampled to 16 kHz mono)")
    p.add_argument("--text", default=None, help="transcript of the file (needed when the model uses text)")
    p.add_argument("--speaker-files", nargs="*", default=None, metavar="WAV",
                   help="other recordings of the same speaker, to standardise features per speaker as in "
                        "training (features.speaker_norm); default: the file's own statistics")
    p.add_argument("--out", default=None, help="output PNG (default: <file stem>.attention.png)")
    p.set_defaults(func=run)


def add_parser(sub) -> None:
    """Register ``attention`` in the sub-parsers of ``serkit plot``."""
    p = sub.add_parser("attention", help="key-sparse attention map of one file (ks_transformer)",
                       description=__doc__.splitlines()[2])
    add_arguments(p)


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
    import numpy as np
    import torch

    from serkit.config import FeatureConfig, from_dict
    from serkit.data import audio
    from serkit.features.extract import compute_features
    from serkit.features.text import encode_texts, text_tokens
    from serkit.train.checkpoint import load_checkpoint, model_from_checkpoint

    ck = load_checkpoint(checkpoint)
    cfg = ck["config"]
    if cfg["model"].get("name") != "ks_transformer":
        raise ConfigError(f"{checkpoint}: attention maps need a ks_transformer checkpoint, got model "
                          f"{cfg['model'].get('name')!r}")
    model, mcfg = model_from_checkpoint(ck)
    fcfg = from_dict(FeatureConfig, cfg.get("features"), where="features")
    labels = list(ck["label_names"])
    feats = compute_features(audio.load(str(file)), fcfg)  # (T, F)
    norm = "none"
    if fcfg.speaker_norm:
        pool = [compute_features(audio.load(str(f)), fcfg) for f in (speaker_files or [])] or [feats]
        stack = np.concatenate(pool, axis=0)
        feats = ((feats - stack.mean(0)) / (stack.std(0) + 1e-8)).astype(np.float32)
        norm = f"per speaker ({len(speaker_files)} files)" if speaker_files else "the file's own statistics"
    if feats.shape[1] != int(ck["input_dim"]):
        raise ConfigError(f"{file}: features have {feats.shape[1]} bins but the model expects {ck['input_dim']}")
    kw: dict[str, Any] = {}
    tokens = None
    if mcfg.modalities != "audio":
        if not text:
            raise ConfigError(f"this model reads text (modalities={mcfg.modalities}); pass --text 'transcript'")
        tf = encode_texts([text], encoder=mcfg.text_encoder or "minilm", max_tokens=mcfg.max_text_tokens,
                          progress=False)[0]
        tokens = text_tokens([text], encoder=mcfg.text_encoder or "minilm", max_tokens=mcfg.max_text_tokens)[0]
        kw = {"text": torch.from_numpy(tf)[None], "text_lengths": torch.tensor([tf.shape[0]])}
    with torch.no_grad():
        out = model(torch.from_numpy(feats)[None], torch.tensor([feats.shape[0]]), **kw)
    prob = torch.softmax(out.logits[0], -1)
    i = int(prob.argmax())
    res: dict[str, Any] = {"label": labels[i], "prob": float(prob[i]), "k": mcfg.k,
                           "hop_seconds": fcfg.hop_length / audio.SAMPLE_RATE, "norm": norm, "features": feats}
    a = out.attn
    if "audio_importance" in a:
        n = int(a["audio_lengths"][0])
        res.update(audio_importance=a["audio_importance"][0, :n].numpy(), audio_kept=a["audio_kept"][0, :n].numpy())
    if "text_importance" in a:
        n = int(a["text_lengths"][0])
        res.update(tokens=tokens[:n], text_importance=a["text_importance"][0, :n].numpy(),
                   text_kept=a["text_kept"][0, :n].numpy())
    return res


def run(args: argparse.Namespace) -> int:
    """Compute the maps and save the PNG."""
    from serkit.viz.attention_maps import plot_attention

    r = attention_for_file(args.checkpoint, args.file, text=args.text, speaker_files=args.speaker_files)
    out = args.out or str(Path(args.file).with_suffix("").name + ".attention.png")
    title = (f"{Path(args.file).name}: predicted {r['label']} ({r['prob']:.0%}); key-sparse k={r['k']}; "
             f"features standardised by {r['norm']}")
    plot_attention(out, features=r["features"], audio_importance=r.get("audio_importance"),
                   audio_kept=r.get("audio_kept"), tokens=r.get("tokens"), text_importance=r.get("text_importance"),
                   text_kept=r.get("text_kept"), hop_seconds=r["hop_seconds"], title=title)
    print(f"wrote {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point (``python -m serkit.cli.plot_attention``)."""
    p = argparse.ArgumentParser(prog="serkit plot attention", description=__doc__.splitlines()[0])
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run(args)
    except (ConfigError, ModelNotFoundError) as e:
        print(f"serkit plot attention: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
