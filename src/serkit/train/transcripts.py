"""Transcripts from the CTC by-product of a multitask checkpoint (e.g. ``w2v2_ctc``).

The multitask system (wav2vec 2.0 + an auxiliary CTC head over characters) emits per-frame
character logits (``ModelOutput.aux["ctc"]``) next to its emotion logits. Greedy decoding with
the :class:`serkit.data.vocab.CharVocab` stored in its checkpoint turns them into transcripts for
the text path of multimodal models (``model.transcripts: ctc:<checkpoint>``), for utterances
whose manifest has none. This lives in ``train`` because it rebuilds a trained checkpoint; the
text features (``serkit.features.text``) receive it as the ``transcribe`` callable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from serkit.data.manifest import Utterance
from serkit.errors import CheckpointError, ConfigError
from serkit.typing import PathLike


def ctc_transcripts(utts: Sequence[Utterance], checkpoint: PathLike, *, progress: bool = True) -> list[str | None]:
    """Greedy CTC transcripts of utterances from a multitask checkpoint.

    Args:
        utts: utterances to transcribe.
        checkpoint: ``checkpoint.pt`` (or its fold folder) of a model trained with
            ``train.loss_weights.ctc > 0``.
        progress: progress bar.

    Returns:
        one transcript per utterance (None where the audio could not be read).

    Raises:
        CheckpointError: the checkpoint does not exist or cannot be loaded.
        ConfigError: the checkpoint has no CTC vocabulary, or its model gives no CTC output.
    """
    from serkit.data.dataset import UtteranceDataset
    from serkit.data.vocab import CharVocab
    from serkit.features.extract import extract_features
    from serkit.models.checkpoint import load_checkpoint
    from serkit.train.loop import run_model

    p = Path(checkpoint)
    if not p.exists():
        raise CheckpointError(f"{p}: CTC checkpoint not found; train a multitask model with CTC "
                                 "(train.loss_weights.ctc > 0, e.g. configs/w2v2_ctc) or use model.transcripts=manifest")
    ck = load_checkpoint(p)
    if not ck.vocab:
        raise ConfigError(f"{p}: checkpoint has no character vocabulary, so no CTC head; use a checkpoint "
                          "trained with train.loss_weights.ctc > 0")
    vocab = CharVocab.from_dict(ck.vocab)
    model = ck.build_model()
    mname = ck.model_config.name
    feats, _ = extract_features(utts, ck.features, progress=progress, skip_errors=True, desc="ctc inputs")
    kept = [(i, x) for i, x in enumerate(feats) if x is not None]
    keep = [i for i, _ in kept]
    ds = UtteranceDataset([utts[i] for i in keep], [x for _, x in kept])
    res = run_model(model, ds, progress=progress, desc="ctc transcripts")
    if res and res[0]["ctc"] is None:
        raise ConfigError(f"{p}: model {mname!r} gives no CTC output (aux['ctc'])")
    out: list[str | None] = [None] * len(utts)
    for i, r in zip(keep, res, strict=True):
        out[i] = vocab.decode_ctc(r["ctc"])
    return out


__all__ = ["ctc_transcripts"]
