"""Every recipe under configs/ parses, resolves its model config, and builds its model."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from serkit.cli.common import load_recipe
from serkit.config import ExperimentConfig
from serkit.models import CLASSICAL, FUSION, MODELS, build_model

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").rglob("*.yaml"))

#: feature name -> input dimension of one frame (for building neural models)
_FRAME_DIMS = {"logmel": lambda f: f.n_mels, "mfcc": lambda f: f.n_mfcc,
               "spectrogram": lambda f: f.n_fft // 2 + 1, "egemaps_lld": lambda f: 25,
               "compare_lld": lambda f: 65, "raw": lambda f: 1, "egemaps": lambda f: 88,
               "compare": lambda f: 6373}


def test_configs_exist():
    names = {p.relative_to(p.parents[1]).as_posix() for p in CONFIGS}
    for n in ["baseline/emodb_compare_svm.yaml", "baseline/emodb_egemaps_svm.yaml",
              "baseline/ravdess_compare_svm.yaml", "baseline/ravdess_egemaps_svm.yaml"]:
        assert n in names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.relative_to(p.parents[1]).as_posix() for p in CONFIGS])
def test_recipe_parses_and_builds(path):
    cfg = load_recipe(str(path), [])  # unknown model names or keys raise here
    assert isinstance(cfg, ExperimentConfig)
    assert isinstance(cfg.model, MODELS[cfg.model.name][0])
    if cfg.model.name in FUSION:  # its members are recipes of the same corpus and labels (paths from the repo root)
        from serkit.models.fusion import ScoreFusion

        assert isinstance(build_model(cfg.model), ScoreFusion)
        for m in cfg.model.parsed_members():
            mc = load_recipe(str(path.parents[2] / m.recipe), list(m.set))
            assert (mc.data.corpus, mc.data.labels) == (cfg.data.corpus, cfg.data.labels), m.recipe
        return
    if cfg.model.name in CLASSICAL:
        clf = build_model(cfg.model, seed=0)
        x = np.random.default_rng(0).normal(size=(12, 5))
        y = ["a", "b", "c"] * 4
        clf.fit(x, y)
        assert set(clf.predict(x)) <= {"a", "b", "c"}
    else:
        dim = _FRAME_DIMS.get(cfg.features.name, lambda f: 64)(cfg.features)
        if cfg.features.deltas:
            dim *= 3
        from serkit.errors import ModelNotFoundError

        try:
            model = build_model(cfg.model, input_dim=dim, num_classes=4, vocab_size=32)
        except ModelNotFoundError as e:
            # pretrained encoder weights the user supplies (the models are built with tiny stand-in
            # encoders in test_cpc_ccc.py / test_w2v2_ctc.py): the error must say how to provide them
            assert re.search(r"pretrain|save_pretrained|snapshot_download|--local-dir", str(e)), str(e)
            return
        assert sum(p.numel() for p in model.parameters()) > 0


def test_demo_runs_the_baseline_recipe():
    """``make demo`` reports the same number as docs/results.md's eGeMAPS row."""
    from serkit.cli.demo import DEMO_RECIPE
    from serkit.experiment import recipe_from_dict

    recipe = next(p for p in CONFIGS if p.name == "emodb_egemaps_svm.yaml")
    assert recipe_from_dict(DEMO_RECIPE) == load_recipe(str(recipe), [])


def test_recipe_diff_counts_settings_added_since_a_run_as_defaults():
    """A run stored before a setting existed still matches its recipe (fusion members, search --reuse)."""
    from serkit.experiment import load_recipe, recipe_diff

    cfg = load_recipe(Path(__file__).resolve().parents[1] / "configs" / "li2019" / "emodb.yaml")
    stored = cfg.to_dict()
    del stored["train"]["speaker_norm"]  # as saved by a serkit without train.speaker_norm
    assert recipe_diff(cfg, stored) == []
    stored["train"]["lr"] = 0.5
    assert recipe_diff(cfg, stored) == ["train.lr"]
