"""Corpus adapters: one module per corpus, each exposing ``prepare_<corpus>(corpus_dir, ...)``.

``CORPORA`` is the registry used where a recipe's ``data.corpus`` string becomes an adapter.
"""

from __future__ import annotations

from serkit.data.corpora import emodb, generic, iemocap, ljspeech, msp_podcast, ravdess
from serkit.data.corpora.common import CorpusSpec, corpus_spec, find_data_root, load_corpus

#: name -> CorpusSpec(prepare function, label sets, default label set, default protocol, folder)
CORPORA: dict[str, CorpusSpec] = {
    "emodb": emodb.SPEC,
    "ravdess": ravdess.SPEC,
    "iemocap": iemocap.SPEC,
    "msp_podcast": msp_podcast.SPEC,
    "ljspeech": ljspeech.SPEC,
    "manifest": generic.SPEC,
}

__all__ = ["CORPORA", "CorpusSpec", "corpus_spec", "find_data_root", "load_corpus"]
