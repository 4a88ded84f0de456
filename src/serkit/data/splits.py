"""Speaker- (or session-) independent folds, and the check that keeps them honest.

A random utterance split (SpeechBrain's IEMOCAP default) lets the model recognise the speaker
instead of the emotion; serkit only makes one when asked explicitly, and reports then say
"speaker-dependent".

Examples:
    >>> from serkit.data.manifest import Utterance
    >>> us = [Utterance(id=str(i), path="x.wav", speaker=f"s{i % 3}") for i in range(6)]
    >>> [f.name for f in make_folds(us, "loso")]
    ['s0', 's1', 's2']
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from serkit.config import ExperimentConfig
from serkit.data.manifest import Utterance
from serkit.errors import ConfigError, SpeakerOverlapError, UnknownKeyError

PROTOCOLS = ("loso", "speaker_kfold", "loso_session", "official", "random_kfold", "holdout", "dev",
             "cross_corpus", "leave_one_corpus_out")
#: protocols whose test sets are whole corpora never seen in training (reports are stamped so)
CROSS_CORPUS = ("cross_corpus", "leave_one_corpus_out")

PROTOCOL_NAMES = {
    "loso": "leave-one-speaker-out",
    "speaker_kfold": "speaker-grouped {k}-fold",
    "loso_session": "leave-one-session-out",
    "official": "official partition",
    "random_kfold": "random utterance {k}-fold (speaker-dependent)",
    "holdout": "held-out speakers (1 fold)",
    "dev": "development speakers of the training set (1 fold; test speakers excluded)",
    "cross_corpus": "cross-corpus (train on {train}, test on each of {test})",
    "leave_one_corpus_out": "leave-one-corpus-out (one fold per corpus of {test})",
}


@dataclass(frozen=True)
class Fold:
    """One train/test split.

    Attributes:
        name: fold name (the held-out speaker, session or fold index).
        train: utterance ids to train on.
        test: utterance ids to test on.
    """

    name: str
    train: tuple[str, ...]
    test: tuple[str, ...]


def check_speaker_disjoint(train: Sequence[Utterance], test: Sequence[Utterance], *,
                           fold: str = "", speaker_dependent: bool = False) -> None:
    """Raise if a speaker is in both ``train`` and ``test``.

    Args:
        train: training utterances (including any validation part).
        test: test utterances.
        fold: fold name for the message.
        speaker_dependent: the user asked for a speaker-dependent run; then nothing is raised.

    Raises:
        SpeakerOverlapError: naming the shared speakers and the fix.
    """
    if speaker_dependent:
        return
    shared = sorted({u.speaker for u in train} & {u.speaker for u in test})
    if shared:
        raise SpeakerOverlapError(
            f"fold {fold!r}: train and test share {len(shared)} speaker(s) {shared[:5]}; a "
            "speaker-independent split needs disjoint speakers. Use a speaker-grouped protocol "
            "(loso, speaker_kfold, loso_session), or set eval.speaker_dependent=true to run a "
            "speaker-dependent evaluation on purpose (the report will say so)"
        )


def _group_kfold(groups: dict[str, list[str]], k: int, seed: int) -> list[list[str]]:
    """Assign whole groups to k folds, balancing utterance counts (largest group first)."""
    if k < 2:
        raise ConfigError(f"eval.folds must be >= 2 for a k-fold protocol, got {k}; to run only some folds "
                          "of a protocol, list them in eval.only_folds (e.g. one speaker of loso)")
    if k > len(groups):
        raise ConfigError(f"eval.folds={k} but only {len(groups)} speakers; use at most {len(groups)} folds")
    names = sorted(groups)
    random.Random(seed).shuffle(names)
    names.sort(key=lambda g: -len(groups[g]))  # stable: ties keep the seeded order
    bins: list[list[str]] = [[] for _ in range(k)]
    sizes = [0] * k
    for g in names:
        i = min(range(k), key=lambda j: (sizes[j], len(bins[j])))
        bins[i].append(g)
        sizes[i] += len(groups[g])
    return [sorted(b) for b in bins]


def make_folds(utts: Sequence[Utterance], protocol: str, *, k: int | None = None, seed: int = 0,
               speaker_dependent: bool = False, official_train: Sequence[str] = ("Train",),
               official_test: str = "Test1", test_speakers: Sequence[str] = (),
               dev_speakers: Sequence[str] = (), train_corpora: Sequence[str] = (),
               test_corpora: Sequence[str] = ()) -> list[Fold]:
    """Split utterances into folds under a protocol, checking speaker-disjointness.

    Args:
        utts: utterances.
        protocol: one of :data:`PROTOCOLS`.
        k: folds for ``speaker_kfold`` / ``random_kfold`` (default 5); for ``loso``, when given,
            the speakers are grouped into k folds (each speaker in exactly one test fold, as
            ``speaker_kfold``), so a quicker run still tests every speaker.
        seed: seed of fold assignment.
        speaker_dependent: required for ``random_kfold``.
        official_train: partitions (``custom["partition"]``) used for training in ``official``.
        official_test: partition used for testing in ``official``.
        test_speakers: the held-out speakers of ``holdout`` (one fold); ``dev`` drops them.
        dev_speakers: the speakers ``dev`` tests on: a model-selection split that trains on the
            speakers in neither list, so choices made on it never see a test speaker.
        train_corpora: ``cross_corpus``: the corpora (``Utterance.corpus``) to train on; empty
            means every corpus not in ``test_corpora``.
        test_corpora: ``cross_corpus``: the corpora to test on, one fold each (fold name = corpus);
            ``leave_one_corpus_out``: the corpora to hold out in turn (empty = all of them).

    Returns:
        folds in a deterministic order. Under the cross-corpus protocols only utterances of the
        classes that every corpus involved has (:func:`shared_labels`) are kept.

    Raises:
        UnknownKeyError: unknown protocol.
        ConfigError: ``random_kfold`` without ``speaker_dependent``, or bad k.
        SpeakerOverlapError: a speaker-independent fold shares a speaker.
    """
    if protocol not in PROTOCOLS:
        raise UnknownKeyError("protocol", protocol, PROTOCOLS)
    by_id = {u.id: u for u in utts}
    folds: list[Fold] = []
    if protocol in ("loso", "loso_session", "speaker_kfold"):
        key = (lambda u: u.session) if protocol == "loso_session" else (lambda u: u.speaker)
        groups: dict[str, list[str]] = defaultdict(list)
        for u in utts:
            g = key(u)
            if g is None:
                raise ConfigError(f"utterance {u.id} has no session; leave-one-session-out needs sessions")
            groups[g].append(u.id)
        if protocol == "speaker_kfold" or (protocol == "loso" and k is not None):
            parts = _group_kfold(groups, k or 5, seed)
            tests = [(f"fold{i + 1}", [i_ for g in p for i_ in groups[g]]) for i, p in enumerate(parts)]
        else:
            names = sorted(groups)
            tests = [(g, groups[g]) for g in names]
        for name, test in tests:
            ts = set(test)
            folds.append(Fold(name, tuple(u.id for u in utts if u.id not in ts), tuple(test)))
    elif protocol == "holdout":
        held = set(test_speakers)
        known = {u.speaker for u in utts}
        if not held or held - known:
            raise ConfigError(f"protocol 'holdout' needs eval.test_speakers from the corpus; "
                              f"unknown {sorted(held - known)}, valid e.g. {sorted(known)[:6]}")
        folds.append(Fold("holdout", tuple(u.id for u in utts if u.speaker not in held),
                          tuple(u.id for u in utts if u.speaker in held)))
    elif protocol == "dev":
        held_out, dev, known = set(test_speakers), set(dev_speakers), {u.speaker for u in utts}
        bad = sorted((dev & held_out) | (dev - known))
        if not dev or bad:
            raise ConfigError(f"protocol 'dev' needs eval.dev_speakers: training speakers of the corpus, not in "
                              f"eval.test_speakers; bad {bad}, valid e.g. {sorted(known - held_out)[:6]}")
        folds.append(Fold("dev", tuple(u.id for u in utts if u.speaker not in held_out | dev),
                          tuple(u.id for u in utts if u.speaker in dev)))
    elif protocol in CROSS_CORPUS:
        folds = _corpus_folds(utts, protocol, train_corpora, test_corpora)
    elif protocol == "official":
        part = {u.id: (u.custom or {}).get("partition") for u in utts}
        if not any(part.values()):
            raise ConfigError("protocol 'official' needs custom['partition'] on every utterance (MSP-Podcast)")
        tr_ids = tuple(i for i, p in part.items() if p in set(official_train))
        te_ids = tuple(i for i, p in part.items() if p == official_test)
        if not te_ids:
            raise ConfigError(f"no utterances in partition {official_test!r}; found {sorted(set(filter(None, part.values())))}")
        folds.append(Fold(official_test, tr_ids, te_ids))
    else:  # random_kfold
        if not speaker_dependent:
            raise ConfigError(
                "random_kfold mixes speakers across train and test; set eval.speaker_dependent=true "
                "to run it on purpose (reports then say speaker-dependent)"
            )
        ids = [u.id for u in utts]
        random.Random(seed).shuffle(ids)
        kk = k or 5
        for i in range(kk):
            test = ids[i::kk]
            ts = set(test)
            folds.append(Fold(f"fold{i + 1}", tuple(x for x in ids if x not in ts), tuple(test)))
    for f in folds:
        check_speaker_disjoint([by_id[i] for i in f.train], [by_id[i] for i in f.test],
                               fold=f.name, speaker_dependent=speaker_dependent or protocol == "random_kfold")
    return folds


def recipe_fold_count(cfg: ExperimentConfig) -> int | None:
    """``k`` of the recipe's protocol: ``eval.folds``, else the corpus default (:func:`corpus_spec`).

    For ``loso`` only an explicit ``eval.folds`` counts (it groups the speakers into k folds); the
    corpus default of k-fold protocols does not turn leave-one-speaker-out into k folds.
    """
    from serkit.data.corpora import corpus_spec

    if cfg.eval.folds is not None or cfg.eval.protocol == "loso":
        return cfg.eval.folds
    return corpus_spec(cfg.data.corpus).default_folds


def recipe_protocol_name(cfg: ExperimentConfig, folds: Sequence[Fold] = (),
                         utts: Sequence[Utterance] = ()) -> str:
    """Report header of the recipe's protocol, e.g. ``speaker-grouped 10-fold``.

    Args:
        cfg: the recipe.
        folds: its folds (cross-corpus protocols name their corpora from them).
        utts: its utterances (the training corpora of cross-corpus folds).
    """
    return protocol_name(cfg.eval.protocol, recipe_fold_count(cfg), folds=folds,
                         corpus_of={u.id: u.corpus for u in utts} if utts else None)


def recipe_folds(cfg: ExperimentConfig, utts: Sequence[Utterance], *, all_folds: bool = False) -> list[Fold]:
    """The folds a recipe's ``eval`` section asks for: the ONE recipe -> folds function.

    Every caller (``serkit evaluate``, ``serkit train --fold``, plots, benchmarks) uses this, so
    each honours every setting: ``protocol``, ``folds`` (else the corpus default of
    :func:`serkit.data.corpora.corpus_spec`, pooled ``a+b`` corpora included), ``seed``,
    ``speaker_dependent``, ``official_train`` / ``official_test``, ``test_speakers``,
    ``dev_speakers``, ``train_corpora`` / ``test_corpora`` and ``only_folds``.

    Args:
        cfg: the recipe.
        utts: its utterances (:func:`serkit.experiment.load_data`).
        all_folds: ignore ``eval.only_folds`` (all folds of the protocol).

    Returns:
        folds in a deterministic order (only the ``only_folds`` ones unless ``all_folds``).

    Raises:
        ConfigError: bad protocol settings, or an ``only_folds`` name that is not a fold.
        SpeakerOverlapError: a speaker-independent fold shares a speaker.

    Examples:
        >>> from types import SimpleNamespace as NS
        >>> from serkit.config import DataConfig, EvalConfig
        >>> from serkit.data.manifest import Utterance
        >>> us = [Utterance(id=str(i), path="x.wav", speaker=f"s{i % 3}") for i in range(6)]
        >>> cfg = NS(data=DataConfig(corpus="manifest"), eval=EvalConfig(protocol="holdout", test_speakers=("s1",)))
        >>> [(f.name, len(f.train), len(f.test)) for f in recipe_folds(cfg, us)]
        [('holdout', 4, 2)]
    """
    ev = cfg.eval
    folds = make_folds(utts, ev.protocol, k=recipe_fold_count(cfg), seed=ev.seed,
                       speaker_dependent=ev.speaker_dependent, official_train=ev.official_train,
                       official_test=ev.official_test, test_speakers=ev.test_speakers,
                       dev_speakers=ev.dev_speakers, train_corpora=ev.train_corpora, test_corpora=ev.test_corpora)
    if all_folds or not ev.only_folds:
        return folds
    names = [f.name for f in folds]
    unknown = sorted(set(ev.only_folds) - set(names))
    if unknown:
        raise ConfigError(f"eval.only_folds: no fold named {unknown}; the folds of this protocol are {names}")
    return [f for f in folds if f.name in set(ev.only_folds)]
def _corpus_folds(utts: Sequence[Utterance], protocol: str, train_corpora: Sequence[str],
                  test_corpora: Sequence[str]) -> list[Fold]:
    """Folds whose test set is a whole corpus (``cross_corpus``, ``leave_one_corpus_out``)."""
    known = sorted({u.corpus for u in utts})
    unknown = sorted((set(train_corpora) | set(test_corpora)) - set(known))
    if unknown:
        raise ConfigError(f"eval.train_corpora / eval.test_corpora name corpora {unknown} that are not in "
                          f"the data; the data holds {known} (pool corpora with data.corpus: a+b)")
    if protocol == "cross_corpus":
        if not test_corpora:
            raise ConfigError(f"protocol 'cross_corpus' needs eval.test_corpora, e.g. [{known[-1]}]; "
                              f"the data holds {known}")
        train = list(train_corpora) or [c for c in known if c not in set(test_corpora)]
        both = sorted(set(train) & set(test_corpora))
        if both:
            raise ConfigError(f"cross_corpus: corpora {both} are in both eval.train_corpora and "
                              "eval.test_corpora; a cross-corpus test corpus must be unseen in training")
        if not train:
            raise ConfigError(f"cross_corpus: nothing left to train on; the data holds only {known}. "
                              "Pool more corpora (data.corpus: a+b) or set eval.train_corpora")
        splits = [(c, train) for c in test_corpora]
    else:
        if len(known) < 2:
            raise ConfigError(f"protocol 'leave_one_corpus_out' needs two or more corpora, got {known}; "
                              "pool them with data.corpus: a+b+c")
        if train_corpora:
            raise ConfigError("leave_one_corpus_out trains on all other corpora; leave eval.train_corpora "
                              "empty (use protocol cross_corpus for a fixed training set)")
        splits = [(c, [o for o in known if o != c]) for c in (test_corpora or known)]
    keep = set(shared_labels(utts, sorted({c for t, tr in splits for c in [t, *tr]})))
    folds = []
    for test_c, train_c in splits:
        tr = set(train_c)
        folds.append(Fold(test_c,
                          tuple(u.id for u in utts if u.corpus in tr and u.emotion in keep),
                          tuple(u.id for u in utts if u.corpus == test_c and u.emotion in keep)))
    return folds


def shared_labels(utts: Sequence[Utterance], corpora: Sequence[str]) -> list[str]:
    """The classes every one of ``corpora`` has, sorted (the label set of a cross-corpus test).

    Args:
        utts: utterances (``corpus`` and ``emotion`` are read).
        corpora: the corpora that must all have a class for it to be kept.

    Raises:
        ConfigError: the corpora share no class.

    Examples:
        >>> us = [Utterance(id=f"{c}{e}", path="x", speaker=c, corpus=c, emotion=e)
        ...       for c, es in [("a", "xyz"), ("b", "yzw")] for e in es]
        >>> shared_labels(us, ["a", "b"])
        ['y', 'z']
    """
    per: dict[str, set[str]] = {c: set() for c in corpora}
    for u in utts:
        if u.corpus in per and u.emotion is not None:
            per[u.corpus].add(u.emotion)
    common = set.intersection(*per.values()) if per else set()
    if not common:
        raise ConfigError(f"corpora {list(corpora)} share no emotion class "
                          f"({ {c: sorted(v) for c, v in per.items()} }); map them to one label set, "
                          "e.g. data.labels: common6")
    return sorted(common)


def validation_split(utts: Sequence[Utterance], fraction: float, *, seed: int = 0) -> tuple[list[Utterance], list[Utterance]]:
    """Hold out whole *training* speakers for early stopping (never test speakers).

    With a single training speaker, falls back to an utterance split of that speaker.

    Args:
        utts: the fold's training utterances.
        fraction: share of speakers (at least one) to hold out; 0 returns no validation set.
        seed: seed.

    Returns:
        (train, valid).
    """
    if fraction <= 0:
        return list(utts), []
    speakers = sorted({u.speaker for u in utts})
    rng = random.Random(seed)
    if len(speakers) < 2:
        idx = list(range(len(utts)))
        rng.shuffle(idx)
        n = max(1, int(round(fraction * len(utts))))
        hold = set(idx[:n])
        return [u for i, u in enumerate(utts) if i not in hold], [u for i, u in enumerate(utts) if i in hold]
    rng.shuffle(speakers)
    n = min(len(speakers) - 1, max(1, int(round(fraction * len(speakers)))))
    held = set(speakers[:n])
    return [u for u in utts if u.speaker not in held], [u for u in utts if u.speaker in held]


def protocol_name(protocol: str, k: int | None = None, *, folds: Sequence[Fold] = (),
                  corpus_of: dict[str, str] | None = None) -> str:
    """Human-readable protocol name for report headers.

    Args:
        protocol: protocol key.
        k: fold count of k-fold protocols.
        folds: the folds (cross-corpus protocols name their training and test corpora).
        corpus_of: utterance id -> corpus, for the training corpora of cross-corpus folds.
    """
    if protocol == "loso" and k is not None:  # eval.folds=k groups the speakers (see make_folds)
        return f"speaker-grouped {k}-fold (leave-one-speaker-out with eval.folds={k})"
    test = "+".join(f.name for f in folds) or "?"
    train = "?"
    if folds and corpus_of:
        train = "+".join(sorted({corpus_of[i] for i in folds[0].train if i in corpus_of}))
    return PROTOCOL_NAMES.get(protocol, protocol).format(k=k or 5, train=train, test=test)
