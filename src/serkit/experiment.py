"""Run a recipe under its protocol: one model per fold, one :class:`Report`.

Classical models (``model.name`` in :data:`serkit.models.CLASSICAL`) are fitted on
utterance-level features; neural models are trained by :func:`serkit.train.loop.fit_predict`.
Every fold is checked for speaker-disjointness before anything is trained.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serkit.config import ExperimentConfig, apply_overrides, load_dict, parse_recipe
from serkit.data.corpora import corpus_spec, load_corpus
from serkit.data.corpora.common import labels_of
from serkit.data.manifest import Utterance, summary
from serkit.data.splits import CROSS_CORPUS, Fold, recipe_folds, recipe_protocol_name
from serkit.errors import ConfigError
from serkit.eval.metrics import ccc_per_dimension, classification_scores, expected_calibration_error
from serkit.eval.report import FoldResult, Prediction, Report
from serkit.features.extract import UTTERANCE_LEVEL, extract_features
from serkit.models import CLASSICAL, FUSION, build_model, model_config_from_dict
from serkit.train.loop import TrainConfig
from serkit.typing import PathLike

if TYPE_CHECKING:
    from serkit.models.checkpoint import Checkpoint

log = logging.getLogger(__name__)


def recipe_from_dict(d: Mapping[str, Any]) -> ExperimentConfig:
    """The ONE dict -> typed recipe: every section becomes its dataclass, unknown keys raise.

    ``model`` resolves to the model's config (:func:`serkit.models.model_config_from_dict`),
    ``train`` to :class:`serkit.train.loop.TrainConfig`; nothing below sees a raw dict.

    Raises:
        UnknownKeyError: unknown section, key or name (listing the valid ones).
        ConfigError: a missing ``model.name`` or a value of the wrong type.

    Examples:
        >>> cfg = recipe_from_dict({"model": {"name": "compact_cnn"}, "train": {"augment": {"crop_frames": 300}}})
        >>> type(cfg.model).__name__, cfg.train.augment.crop_frames
        ('CompactCnnConfig', 300)
    """
    return parse_recipe(d, model_config=model_config_from_dict, train_config=TrainConfig)


def recipe_diff(want: ExperimentConfig, stored: Mapping[str, Any],
                sections: Sequence[str] = ("features", "model", "train")) -> list[str]:
    """The settings (``section.key``) in which a stored run's resolved recipe differs from ``want``.

    The stored recipe is resolved again first, so a setting added to serkit after that run was
    made counts as its default (an older run of the same recipe still matches).
    """
    a, b = want.to_dict(), recipe_from_dict(dict(stored)).to_dict()
    return sorted(f"{sec}.{k}" for sec in sections for k in set(a[sec]) | set(b[sec]) if a[sec].get(k) != b[sec].get(k))


def load_recipe(path: PathLike, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read a recipe YAML, apply dotted ``key=value`` overrides, and resolve it (:func:`recipe_from_dict`)."""
    return recipe_from_dict(apply_overrides(load_dict(path), list(overrides)))


def load_data(cfg: ExperimentConfig, *, data_root: PathLike | None = None) -> tuple[list[Utterance], list[str]]:
    """The recipe's utterances and label list (label-set order, restricted to present labels)."""
    d = cfg.data
    utts = load_corpus(d.corpus, root=data_root or d.root, labels=d.labels, manifest=d.manifest)
    if d.max_utterances is not None and len(utts) > d.max_utterances:
        utts = subsample(utts, d.max_utterances, seed=cfg.eval.seed)
    spec = corpus_spec(d.corpus)
    present = {u.emotion for u in utts if u.emotion is not None}
    order = labels_of(spec.label_sets.get(d.labels or spec.default_labels or "", {})) if spec.label_sets else []
    labels = [c for c in order if c in present] + sorted(present - set(order))
    return utts, labels


def subsample(utts: Sequence[Utterance], n: int, *, seed: int = 0) -> list[Utterance]:
    """Keep ``n`` utterances, round-robin over speakers and emotions so every group survives."""
    groups: dict[tuple, list[Utterance]] = defaultdict(list)
    for u in utts:
        groups[(u.speaker, u.emotion)].append(u)
    rng = random.Random(seed)
    for g in groups.values():
        rng.shuffle(g)
    keys = sorted(groups, key=str)
    out: list[Utterance] = []
    while len(out) < n:
        for k in keys:
            if groups[k] and len(out) < n:
                out.append(groups[k].pop())
    order = {u.id: i for i, u in enumerate(utts)}
    return sorted(out, key=lambda u: order[u.id])


@dataclass
class ExperimentPlan:
    """A recipe resolved into data and folds, before any model is trained (picklable: Ray sends it
    to fold tasks).

    Attributes:
        cfg: the recipe.
        utts: its utterances; ``by_id`` indexes them.
        labels: class names (restricted to the shared ones for cross-corpus protocols).
        folds: the folds to run (``eval.only_folds`` applied).
        protocol_name: the report header's protocol description.
        notes: report notes gathered while planning.
        cross: cross-corpus facts for the report, or None.
        features: utterance-level features ``{id: (D,)}`` of classical models (extracted once,
            before the folds), else None.
        t0: when planning started (the report's wall time counts from here).
    """

    cfg: ExperimentConfig
    utts: list[Utterance]
    labels: list[str]
    folds: list[Fold]
    protocol_name: str
    notes: list[str]
    cross: dict[str, Any] | None = None
    features: dict[str, np.ndarray] | None = None
    t0: float = field(default_factory=time.time)
    #: folds of the whole protocol when ``eval.only_folds`` runs only some (a partial report), else None
    folds_total: int | None = None
    #: ``model.name: fusion``: the members' resolved recipes, and the utterance-level features
    #: ``{member index: {id: (D,)}}`` of its classical members (extracted once, before the folds)
    members: list[ExperimentConfig] | None = None
    member_features: dict[int, dict[str, np.ndarray]] | None = None

    @property
    def by_id(self) -> dict[str, Utterance]:
        """Utterances by id."""
        return {u.id: u for u in self.utts}

    def with_utterances(self, utts: list[Utterance]) -> ExperimentPlan:
        """The same plan over other copies of its utterances (same ids, e.g. absolute paths)."""
        return replace(self, utts=utts)


@dataclass
class FoldRun:
    """One fold's outcome: its report row and its test predictions."""

    result: FoldResult
    predictions: list[Prediction]


def run_experiment(cfg: ExperimentConfig, *, data_root: PathLike | None = None, out_dir: PathLike | None = None,
                   progress: bool = True, resume: bool = False) -> Report:
    """Evaluate a recipe under its protocol (folds one after the other, in this process).

    ``serkit evaluate --engine ray`` runs the same three steps with the folds as Ray tasks
    (:mod:`serkit.scale.ray_evaluate`): :func:`plan_experiment`, :func:`run_fold` per fold,
    :func:`report_of`.

    Args:
        cfg: the recipe.
        data_root: overrides ``data.root``.
        out_dir: run folder (per-fold checkpoints and logs of neural models).
        progress: progress bars.
        resume: continue each neural fold from ``out_dir/fold_<name>/last.pt`` (a finished fold
            only predicts its test set again).

    Returns:
        the report (not yet saved).

    Raises:
        SpeakerOverlapError: a speaker-independent fold shares speakers.
        UnknownKeyError: bad names in the recipe.
    """
    plan = plan_experiment(cfg, data_root=data_root, progress=progress)
    runs = [run_fold(plan, i, out_dir=out_dir, progress=progress, resume=resume) for i in range(len(plan.folds))]
    return report_of(plan, runs)


def seed_recipes(cfg: ExperimentConfig, n: int) -> list[ExperimentConfig]:
    """``serkit evaluate --seeds N``: the recipe with ``train.seed`` = its own seed + 0 .. N-1.

    The folds stay the same (they follow ``eval.seed``), so the spread over these runs is the
    training seed's noise.

    Raises:
        ConfigError: ``n < 1``.
    """
    if n < 1:
        raise ConfigError(f"--seeds must be at least 1, got {n}")
    return [replace(cfg, train=replace(cfg.train, seed=cfg.train.seed + i)) for i in range(n)]


def plan_experiment(cfg: ExperimentConfig, *, data_root: PathLike | None = None, progress: bool = True) -> ExperimentPlan:
    """Load the recipe's data, make its folds and (classical models) extract the features once.

    Raises:
        ConfigError: a classical model with frame-level features.
    """
    t0 = time.time()
    utts, labels = load_data(cfg, data_root=data_root)
    ev = cfg.eval
    folds = recipe_folds(cfg, utts)
    all_folds = recipe_folds(cfg, utts, all_folds=True) if ev.only_folds else folds
    n_all = len(all_folds)
    by_id = {u.id: u for u in utts}
    notes: list[str] = []
    cross = None
    if ev.protocol in CROSS_CORPUS:  # only the classes every corpus involved has
        kept = {by_id[i].emotion for f in all_folds for i in (*f.train, *f.test)}
        dropped = [c for c in labels if c not in kept]
        labels = [c for c in labels if c in kept]
        cross = {"train_corpora": sorted({by_id[i].corpus for f in all_folds for i in f.train}),
                 "test_corpora": [f.name for f in all_folds], "shared_labels": labels}
        notes.append(f"cross-corpus: test corpora {cross['test_corpora']} unseen in training; one fold per "
                     f"test corpus, mean ± std over test corpora; labels = classes shared by all corpora"
                     + (f" (dropped {dropped})" if dropped else ""))
    name = recipe_protocol_name(cfg, all_folds, utts)
    log.info("%s: %s; %d folds", cfg.data.corpus, summary(utts), len(folds))
    if cfg.features.speaker_norm:
        notes.append("features standardised per speaker (each test speaker's own unlabelled audio)")
    if len(folds) < n_all:
        notes.append(f"partial run: only folds {[f.name for f in folds]} of the protocol's {n_all} (eval.only_folds)")
    X = None
    if cfg.model.name in CLASSICAL:
        X = _classical_features(cfg, utts, notes, progress)
    members, member_X = None, None
    if cfg.model.name in FUSION:
        members, member_X = _plan_fusion(cfg, utts, notes, progress)
    return ExperimentPlan(cfg, utts, labels, folds, name, notes, cross, X, t0,
                          folds_total=n_all if len(folds) < n_all else None, members=members,
                          member_features=member_X)


def _classical_features(cfg: ExperimentConfig, utts: list[Utterance], notes: list[str], progress: bool, *,
                        who: str = "", note: str = "") -> dict[str, np.ndarray]:
    """Utterance-level features of a classical model's recipe, by utterance id (files that fail are
    skipped and named in ``notes``)."""
    if cfg.features.name not in UTTERANCE_LEVEL:
        raise ConfigError(f"{who}model {cfg.model.name} needs utterance-level features "
                          f"{list(UTTERANCE_LEVEL)}, got features.name={cfg.features.name}")
    feats, errors = extract_features(utts, cfg.features, skip_errors=True, progress=progress)
    if errors:
        notes.append(f"{note}{len(errors)} files skipped: " + "; ".join(list(errors.values())[:3]))
    return {u.id: x for u, x in zip(utts, feats, strict=True) if x is not None}


def _plan_fusion(cfg: ExperimentConfig, utts: list[Utterance], notes: list[str],
                 progress: bool) -> tuple[list[ExperimentConfig], dict[int, dict[str, np.ndarray]]]:
    """Resolve a fusion recipe's members, check they use its data, extract classical members' features."""
    fc = cfg.model
    members = fc.parsed_members()
    cfgs, feats = [], {}
    desc = []
    for k, m in enumerate(members):
        mc = load_recipe(m.recipe, m.set)
        if mc.model.name in FUSION:
            raise ConfigError(f"{m.recipe}: a fusion member cannot itself be a fusion")
        if (mc.data.corpus, mc.data.labels) != (cfg.data.corpus, cfg.data.labels):
            raise ConfigError(f"{m.recipe}: member data ({mc.data.corpus}, labels {mc.data.labels}) differs from the "
                              f"fusion recipe's ({cfg.data.corpus}, labels {cfg.data.labels}); use member recipes "
                              "of the same corpus and label set")
        cfgs.append(mc)
        if mc.model.name in CLASSICAL:
            feats[k] = _classical_features(mc, utts, notes, progress, who=f"{m.recipe}: ", note=f"member {k}: ")
        seeds = f" x {m.seeds} seeds (probabilities averaged)" if m.seeds > 1 and mc.model.name not in CLASSICAL else ""
        norm = ", per-speaker standardised features" if mc.features.speaker_norm else ""
        desc.append(f"{k}: {mc.model.name} on {mc.features.name}{norm}{seeds} ({m.recipe}"
                    + (f" --set {' '.join(m.set)}" if m.set else "") + ")")
    notes.append(f"score fusion of {len(members)} systems [{'; '.join(desc)}]; weights fitted in each fold on "
                 f"development speakers drawn from its training speakers (model.valid_fraction={fc.valid_fraction}, "
                 f"valid_seed={fc.valid_seed}), never on test speakers")
    if any(c.features.speaker_norm for c in cfgs):
        notes.append("members' features standardised per speaker (each test speaker's own unlabelled audio)")
    return cfgs, feats


def run_fold(plan: ExperimentPlan, index: int, *, out_dir: PathLike | None = None, progress: bool = True,
             resume: bool = False) -> FoldRun:
    """Train and test the model of one fold of a plan.

    Args:
        plan: from :func:`plan_experiment`.
        index: which of ``plan.folds``.
        out_dir: the run folder; the fold's checkpoints go to ``out_dir/fold_<name>``.
        progress: progress bar of the fold's training.
        resume: continue a neural fold from its ``last.pt``.
    """
    cfg, f, labels, by_id = plan.cfg, plan.folds[index], plan.labels, plan.by_id
    if plan.members is not None:
        return _run_fusion_fold(plan, index, out_dir=out_dir, progress=progress)
    if plan.features is not None:
        X = plan.features
        tr = [by_id[i] for i in f.train if i in X]
        te = [by_id[i] for i in f.test if i in X]
        _, preds = fit_classical(cfg, tr, te, labels=labels, features=X, fold=f.name,
                                 out_dir=Path(out_dir) / f"fold_{f.name}" if out_dir else None)
        return FoldRun(_fold_result(f.name, len(tr), te, preds, labels), preds)
    from serkit.train.loop import fit_predict

    fold_dir = Path(out_dir) / f"fold_{f.name}" if out_dir else None
    fo = fit_predict(cfg, [by_id[i] for i in f.train], [by_id[i] for i in f.test], labels=labels,
                     out_dir=fold_dir, progress=progress, fold=f.name, resume=resume and fold_dir is not None)
    r = _fold_result(f.name, len(f.train), [by_id[i] for i in f.test], fo.predictions, labels)
    r.extra.update(fo.extra)
    cer = transcript_cer([by_id[i] for i in f.test], fo.extra.get("transcripts") or {})
    if cer is not None:  # CTC by-product (w2v2_ctc): character error rate of the transcripts
        r.scores["cer"] = cer
    return FoldRun(r, fo.predictions)


def fit_classical(cfg: ExperimentConfig, train: Sequence[Utterance], test: Sequence[Utterance] = (), *,
                  labels: Sequence[str], features: Mapping[str, np.ndarray] | None = None, fold: str = "",
                  out_dir: PathLike | None = None, progress: bool = True) -> tuple[Checkpoint, list[Prediction]]:
    """Fit a classical model (``linear_svm``) on utterance-level features; predict ``test``.

    ``serkit evaluate`` runs this per fold (features extracted once for all folds) and
    ``serkit train`` once. The fitted pipeline is kept as a :class:`Checkpoint` whose
    ``state_dict`` holds the arrays of :class:`serkit.models.classical.LinearScorer`, written
    to ``out_dir/checkpoint.pt`` (with ``resolved.yaml``) when ``out_dir`` is given, so that
    :class:`serkit.inference.Predictor` can load it like any run folder.

    Args:
        cfg: the recipe (``features.name`` egemaps or compare).
        train: training utterances (those whose features failed are left out).
        test: utterances to predict.
        labels: class names in report order.
        features: ``{id: (D,)}`` already extracted (per-speaker standardised when the recipe
            says so); None extracts them here over ``train`` and ``test`` together.
        fold: fold name for the predictions.
        out_dir: run folder to save the model in, or None.
        progress: progress bar of the feature extraction.

    Returns:
        ``(checkpoint, predictions of test)``.

    Raises:
        ConfigError: frame-level features, or no training utterance with features.
    """
    from serkit.config import dump_yaml
    from serkit.models.checkpoint import Checkpoint
    from serkit.models.classical import LinearScorer

    if cfg.features.name not in UTTERANCE_LEVEL:
        raise ConfigError(f"model {cfg.model.name} needs utterance-level features {list(UTTERANCE_LEVEL)}, "
                          f"got features.name={cfg.features.name}")
    if features is None:
        both = [*train, *test]
        feats, _ = extract_features(both, cfg.features, skip_errors=True, progress=progress)
        features = {u.id: x for u, x in zip(both, feats, strict=True) if x is not None}
    tr = [u for u in train if u.id in features and u.emotion is not None]
    if not tr:
        raise ConfigError(f"no training utterance of {cfg.data.corpus} has features and a label; check the manifest")
    te = [u for u in test if u.id in features]
    t0 = time.time()
    clf = build_model(cfg.model, seed=cfg.eval.seed)
    clf.fit(np.stack([features[u.id] for u in tr]), [u.emotion for u in tr])
    seen = {str(c) for c in clf.named_steps["svm"].classes_}
    names = [c for c in labels if c in seen] + sorted(seen - set(labels))
    scorer = LinearScorer.from_pipeline(clf, names)
    ck = Checkpoint(config=cfg.to_dict(), state_dict=scorer.state_dict(), label_names=names,
                    input_dim=scorer.input_dim,
                    extra={"n_parameters": int(scorer.coef.size + scorer.intercept.size), "n_train": len(tr),
                           "train_time_s": round(time.time() - t0, 3)})
    if out_dir is not None:
        ck.save(Path(out_dir) / "checkpoint.pt")
        dump_yaml(cfg, Path(out_dir) / "resolved.yaml")
    yp = clf.predict(np.stack([features[u.id] for u in te])) if te else []
    preds = [Prediction(u.id, fold, u.speaker, u.emotion, str(p)) for u, p in zip(te, yp, strict=True)]
    return ck, preds


def _run_fusion_fold(plan: ExperimentPlan, index: int, *, out_dir: PathLike | None, progress: bool) -> FoldRun:
    """One fold of a fusion recipe: members score the development and the test speakers, the
    weights are fitted on the development scores, the fused scores predict the test speakers."""
    from serkit.data.splits import check_speaker_disjoint, validation_split
    from serkit.models.fusion import ScoreFusion

    cfg, f, labels, by_id = plan.cfg, plan.folds[index], plan.labels, plan.by_id
    fc = cfg.model
    train, test = [by_id[i] for i in f.train], [by_id[i] for i in f.test]
    check_speaker_disjoint(train, test, fold=f.name, speaker_dependent=cfg.eval.speaker_dependent)
    inner, dev = validation_split(train, fc.valid_fraction, seed=fc.valid_seed)
    check_speaker_disjoint(dev, test, fold=f.name, speaker_dependent=cfg.eval.speaker_dependent)
    members = fc.parsed_members()
    dev_s, test_s, names = [], [], []
    for k, (m, mc) in enumerate(zip(members, plan.members or [], strict=True)):
        if mc.model.name in CLASSICAL:
            d, t = _classical_member_scores(mc, (plan.member_features or {})[k], inner, train, dev, test, labels,
                                            seed=cfg.eval.seed)
        else:
            d, t = _neural_member_scores(mc, m, fc, train, dev, test, labels, fold=f.name, progress=progress,
                                         out_dir=Path(out_dir) / f"member{k}" if out_dir else None)
        dev_s.append(d)
        test_s.append(t)
        names.append(f"{k}:{mc.model.name}/{mc.features.name}")
    idx = {c: i for i, c in enumerate(labels)}
    dev_ids = [u.id for u in dev if u.emotion in idx and all(u.id in d for d in dev_s)]
    test_ids = [u.id for u in test if all(u.id in t for t in test_s)]
    if not dev_ids:
        raise ConfigError(f"fold {f.name}: no labelled development utterance scored by every member; "
                          "raise model.valid_fraction")
    fusion = ScoreFusion(fc).fit([np.stack([d[i] for i in dev_ids]) for d in dev_s],
                                 [idx[str(by_id[i].emotion)] for i in dev_ids])
    probs = fusion.predict_proba([np.stack([t[i] for i in test_ids]) for t in test_s])
    preds = []
    for i, p in zip(test_ids, probs, strict=True):
        u = by_id[i]
        sc = {c: float(v) for c, v in zip(labels, p, strict=True)}
        preds.append(Prediction(i, f.name, u.speaker, u.emotion if u.emotion in idx else None, max(sc, key=sc.__getitem__),
                                scores=sc))
    r = _fold_result(f.name, len(train), [by_id[i] for i in test_ids], preds, labels)

    def member_ua(scores: dict[str, np.ndarray], ids: list[str]) -> float:
        y = [by_id[i].emotion for i in ids]
        return classification_scores(y, [labels[int(np.argmax(scores[i]))] for i in ids], labels)["ua"]

    assert fusion.weights_ is not None  # set by fit
    r.extra.update({"fusion_weights": dict(zip(names, (float(w) for w in fusion.weights_), strict=True)),
                    "dev_speakers": sorted({u.speaker for u in dev}), "n_dev": len(dev_ids),
                    "member_dev_ua": {n: member_ua(d, dev_ids) for n, d in zip(names, dev_s, strict=True)},
                    "member_test_ua": {n: member_ua(t, [i for i in test_ids if by_id[i].emotion in idx])
                                       for n, t in zip(names, test_s, strict=True)}})
    return FoldRun(r, preds)


def _classical_member_scores(mc: ExperimentConfig, X: dict[str, np.ndarray], inner: list[Utterance],
                             train: list[Utterance], dev: list[Utterance], test: list[Utterance],
                             labels: list[str], *, seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Decision values ``{id: (C,)}`` of a classical member: fitted without the development speakers
    for their scores, refitted on all training speakers for the test scores."""

    def scores(fit_on: list[Utterance], score: list[Utterance]) -> dict[str, np.ndarray]:
        tr = [u for u in fit_on if u.id in X and u.emotion is not None]
        te = [u for u in score if u.id in X]
        clf = build_model(mc.model, seed=seed)
        clf.fit(np.stack([X[u.id] for u in tr]), [u.emotion for u in tr])
        d = np.asarray(clf.decision_function(np.stack([X[u.id] for u in te])), dtype=np.float64)
        if d.ndim == 1:  # two classes: one column, positive = classes_[1]
            d = np.stack([-d, d], 1)
        cols = {str(c): j for j, c in enumerate(clf.classes_)}
        floor = d.min() - 1.0  # a class absent from training gets a score below every other
        out = np.array([[d[n, cols[c]] if c in cols else floor for c in labels] for n in range(len(te))])
        return {u.id: out[n] for n, u in enumerate(te)}

    return scores(inner, dev), scores(train, test)


def _neural_member_scores(mc: ExperimentConfig, member: Any, fc: Any, train: list[Utterance], dev: list[Utterance],
                          test: list[Utterance], labels: list[str], *, fold: str, progress: bool,
                          out_dir: Path | None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Log seed-averaged probabilities ``{id: (C,)}`` of a neural member on the development and test
    speakers. Its early stopping uses the fusion's development speakers; fold models come from
    ``member.runs`` when that run has them, else they are trained here."""
    from serkit.models.checkpoint import load_model
    from serkit.train.loop import TrainResult, fit, predict_prepared, prepare

    dev_ids = {u.id for u in dev}
    acc: list[list[dict[str, np.ndarray]]] = [[], []]
    for s in range(member.seeds):
        c = replace(mc, train=replace(mc.train, seed=mc.train.seed + s, valid_fraction=fc.valid_fraction,
                                      valid_seed=fc.valid_seed))
        res = None
        ck_path = Path(member.runs.format(seed=c.train.seed)) / f"fold_{fold}" / "checkpoint.pt" if member.runs else None
        if ck_path is not None and ck_path.is_file():
            model, ck = load_model(ck_path)
            diff = recipe_diff(c, ck.config)
            if diff or list(ck.label_names) != list(labels):
                raise ConfigError(f"{ck_path}: its run does not match fusion member {member.recipe} "
                                  f"(differs in {diff or 'label_names'}); re-run that recipe with the fusion's "
                                  f"train.valid_fraction={fc.valid_fraction} train.valid_seed={fc.valid_seed}, or drop "
                                  "the member's runs")
            res = TrainResult(model, ck, list(ck.extra.get("history") or []), 0.0)
        else:
            fitted = fit(c, train, labels=labels, progress=progress, desc=f"fold {fold} seed {c.train.seed}",
                         out_dir=out_dir / f"seed{c.train.seed}" / f"fold_{fold}" if out_dir else None)
            if {u.id for u in fitted.valid} != dev_ids:  # the loop's development speakers must be the fusion's
                raise ConfigError(f"fold {fold}: member {member.recipe} held out other development speakers "
                                  f"{sorted({u.speaker for u in fitted.valid})} than the fusion's {sorted({u.speaker for u in dev})}")
            res = fitted.result
        for j, utts in enumerate((dev, test)):
            preds = predict_prepared(res, prepare(c, utts, progress=False), fold=fold, batch_size=c.train.batch_size)
            acc[j].append({p.id: np.array([(p.scores or {})[lb] for lb in labels]) for p in preds})

    def log_mean(runs: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        ids = set.intersection(*(set(r) for r in runs))
        return {i: np.log(np.clip(np.mean([r[i] for r in runs], 0), 1e-12, None)) for i in ids}

    return log_mean(acc[0]), log_mean(acc[1])


def report_of(plan: ExperimentPlan, runs: Sequence[FoldRun]) -> Report:
    """The report of a plan from its fold runs (in the plan's fold order)."""
    cfg, ev = plan.cfg, plan.cfg.eval
    spec = corpus_spec(cfg.data.corpus)
    notes = list(plan.notes)
    results = [r.result for r in runs]
    cal = [r for r in results if r.extra.get("calibration")]
    if cal:
        cals = [r.extra["calibration"] for r in cal]
        notes.append("scores calibrated by temperature scaling on each fold's development speakers (train."
                     "calibration=temperature): T = " + ", ".join(f"{c['temperature']:.2f}" for c in cals)
                     + "; test ECE before -> after: " + ", ".join(
                         f"{c['test_ece_before']:.3f} -> {r.scores['ece']:.3f}"
                         for c, r in zip(cals, cal, strict=True)
                         if c.get("test_ece_before") is not None and "ece" in r.scores))
    return Report(
        corpus=cfg.data.corpus, label_set=cfg.data.labels or spec.default_labels, labels=plan.labels,
        protocol=ev.protocol, protocol_name=plan.protocol_name, speaker_dependent=ev.speaker_dependent,
        seed=ev.seed, n_utterances=len(plan.utts), model=cfg.model.name,
        features="+".join(c.features.name for c in plan.members) if plan.members
        else "+".join((cfg.features.name, *cfg.features.append)),
        folds=results, predictions=[p for r in runs for p in r.predictions], notes=notes,
        wall_time_s=round(time.time() - plan.t0, 1), config=cfg.to_dict(), cross_corpus=plan.cross,
        folds_total=plan.folds_total,
        train_seed=None if cfg.model.name in CLASSICAL or cfg.model.name in FUSION else cfg.train.seed,
    )


def _fold_result(name: str, n_train: int, test: Sequence[Utterance], preds: Sequence[Prediction],
                 labels: Sequence[str]) -> FoldResult:
    scores: dict[str, float] = {}
    cls = [p for p in preds if p.true is not None and p.pred is not None]
    if cls:
        scores.update(classification_scores([p.true for p in cls], [p.pred for p in cls], labels))
        if all(p.scores for p in cls):  # class probabilities (neural models): calibration error
            idx = {c: i for i, c in enumerate(labels)}
            probs = np.array([[(p.scores or {}).get(c, 0.0) for c in labels] for p in cls])
            scores["ece"] = expected_calibration_error(probs, [idx[t] for t in (p.true for p in cls) if t is not None])
    dims = [p for p in preds if p.avd_true is not None and p.avd_pred is not None]
    if len(dims) > 1:
        c = ccc_per_dimension(np.array([p.avd_true for p in dims]), np.array([p.avd_pred for p in dims]))
        scores.update({f"ccc_{k}": v for k, v in c.items()})
    return FoldResult(name, n_train, len(test), sorted({u.speaker for u in test}), scores)


def transcript_cer(utts: Sequence[Utterance], hyps: dict[str, str]) -> float | None:
    """Character error rate of CTC transcripts ``{id: text}`` against the normalised references.

    Utterances without a reference transcript or without a hypothesis are left out; None when
    nothing is left.
    """
    from serkit.data.vocab import normalize_text
    from serkit.eval.metrics import character_error_rate

    pairs = [(normalize_text(u.text), hyps[u.id]) for u in utts if u.text and u.id in hyps]
    pairs = [(r, h) for r, h in pairs if r]
    return character_error_rate([r for r, _ in pairs], [h for _, h in pairs]) if pairs else None
