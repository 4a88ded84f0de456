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

from tqdm.auto import tqdm

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
    import torch

    from serkit.data.vocab import CharVocab
    from serkit.features.extract import extract_features
    from serkit.models.checkpoint import load_checkpoint

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
    out: list[str | None] = []
    with torch.no_grad():
        for x in tqdm(feats, desc="ctc transcripts", disable=not progress, unit="utt"):
            if x is None:
                out.append(None)
                continue
            o = model(torch.from_numpy(x)[None], torch.tensor([x.shape[0]]))
            if "ctc" not in o.aux:
                raise ConfigError(f"{p}: model {mname!r} gives no CTC output (aux['ctc'])")
            lg, ln = o.aux["ctc"]
            out.append(vocab.decode_ctc(lg[0, : int(ln[0])].argmax(-1).tolist()))
    return out


__all__ = ["ctc_transcripts"]
