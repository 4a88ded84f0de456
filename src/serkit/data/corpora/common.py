"""Shared corpus helpers: locating the data root, label maps, the CorpusSpec record."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serkit.data.manifest import Utterance, validate, write_jsonl
from serkit.errors import ManifestError, UnknownKeyError
from serkit.typing import PathLike

LabelMap = Mapping[str, "str | None"]


@dataclass(frozen=True)
class CorpusSpec:
    """How to prepare one corpus.

    Attributes:
        name: registry name.
        prepare: ``prepare(corpus_dir, *, labels=...) -> list[Utterance]``.
        label_sets: label-set name -> raw label -> serkit label (None drops the utterance).
        default_labels: label set used when the recipe gives none.
        default_protocol: the corpus' standard speaker-independent protocol.
        folder: sub-folder name under the data root.
        default_folds: k for k-fold protocols.
    """

    name: str
    prepare: Callable[..., list[Utterance]]
    label_sets: Mapping[str, LabelMap]
    default_labels: str | None
    default_protocol: str
    folder: str
    default_folds: int | None = None


def finish_prepare(utts: list[Utterance], name: str, out_dir: PathLike | None, *, empty: str) -> list[Utterance]:
    """Common tail of the ``prepare_*`` adapters: raise ``ManifestError(empty)`` when nothing was
    found, else write ``out_dir/<name>.jsonl`` (when given) and return the utterances."""
    if not utts:
        raise ManifestError(empty)
    if out_dir is not None:
        write_jsonl(utts, Path(out_dir) / f"{name}.jsonl")
    return utts


def label_map(spec_name: str, label_sets: Mapping[str, LabelMap], name: str | None, default: str | None) -> LabelMap:
    """Look up a label set by name, listing the valid ones when unknown."""
    key = name or default
    if key is None:
        return {}
    if key not in label_sets:
        raise UnknownKeyError(f"label set for {spec_name}", key, label_sets)
    return label_sets[key]


def labels_of(label_set: LabelMap) -> list[str]:
    """The distinct target labels of a label map, in first-seen order."""
    out: list[str] = []
    for v in label_set.values():
        if v is not None and v not in out:
            out.append(v)
    return out


def find_data_root(explicit: PathLike | None = None) -> Path:
    """Where the corpora live: explicit argument, then ``$SERKIT_DATA``, then ``../shared/data``.

    ``../shared/data`` is searched relative to the current directory and to the serkit source
    tree (for an editable install next to the shared folder).

    Raises:
        ManifestError: nothing found, with how to point serkit at the data.
    """
    if explicit:
        return Path(explicit)
    env = os.environ.get("SERKIT_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for base in [Path.cwd(), *Path.cwd().parents, *here.parents]:
        cand = base / "shared" / "data"
        if cand.is_dir():
            return cand
    raise ManifestError(
        "no corpus folder found; pass --data-root DIR or set SERKIT_DATA=DIR "
        "(a folder holding emodb/, ravdess/, ...)"
    )


def corpus_dir(spec: CorpusSpec, root: PathLike | None) -> Path:
    """The corpus folder: ``root`` itself if it looks like the corpus, else ``root/<folder>``."""
    r = find_data_root(root)
    d = r / spec.folder
    if d.is_dir():
        return d
    if r.is_dir() and r.name.lower() == spec.folder.lower():
        return r
    if root is not None and Path(root).is_dir():
        return Path(root)
    raise ManifestError(f"{d}: {spec.name} folder not found; pass --data-root pointing at it or its parent")


def load_corpus(name: str, *, root: PathLike | None = None, labels: str | None = None,
                manifest: PathLike | None = None, **kwargs: Any) -> list[Utterance]:
    """Prepare a registered corpus and return its utterances (label map applied).

    Args:
        name: registry name (``emodb``, ``ravdess``, ``iemocap``, ``msp_podcast``, ``ljspeech``,
            ``manifest``), or several joined by ``+`` (e.g. ``emodb+ravdess``) to pool them under
            one label set that every part defines (e.g. ``common6``).
        root: data root or corpus folder.
        labels: label-set name.
        manifest: manifest file for ``name="manifest"``.
        **kwargs: passed to the adapter.

    Raises:
        UnknownKeyError: unknown corpus or label set.
    """
    from serkit.data.corpora import CORPORA

    if "+" in name:  # several corpora pooled, e.g. "emodb+ravdess" (speaker ids are corpus-prefixed)
        utts = [u for part in name.split("+")
                for u in load_corpus(part.strip(), root=root, labels=labels, manifest=manifest, **kwargs)]
        validate(utts, where=name)
        return utts
    if name not in CORPORA:
        raise UnknownKeyError("corpus", name, CORPORA)
    spec = CORPORA[name]
    if name == "manifest":
        if manifest is None:
            raise ManifestError("data.corpus is 'manifest' but data.manifest is not set; give a JSONL or CSV file")
        utts = spec.prepare(manifest, labels=labels, **kwargs)
    else:
        utts = spec.prepare(corpus_dir(spec, root), labels=labels, **kwargs)
    validate(utts, where=name)
    return utts


def corpus_spec(name: str) -> CorpusSpec:
    """The registry entry of a corpus; for pooled ``a+b`` names, the first part's entry."""
    from serkit.data.corpora import CORPORA

    first = name.split("+")[0].strip()
    if first not in CORPORA:
        raise UnknownKeyError("corpus", first, CORPORA)
    return CORPORA[first]
