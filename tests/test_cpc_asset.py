"""The CPC encoder shipped in the package (``bundled:cpc``, src/serkit/assets/cpc, docs/cpc_card.md)."""

from __future__ import annotations

import numpy as np
import torch

from serkit.config import FeatureConfig
from serkit.features.cpc import CpcConfig, CpcModel, cpc_features, load_cpc
from serkit.models.checkpoint import load_checkpoint
from serkit.train.cpc import info_nce


def test_bundled_encoder_by_name_extracts_features_from_a_test_clip(assets):
    """``features.encoder: bundled:cpc`` (what configs/li2021 and configs/cai2021 name) loads the
    shipped encoder; it was pretrained on LJSpeech only and, on EmoDB clips it never heard, picks
    the true future frame far above chance (a random-weight CPC stays near chance)."""
    from serkit.checkpoint_file import find_checkpoint
    from serkit.data import audio

    ck = load_checkpoint("bundled:cpc")
    assert ck.model_config == CpcConfig(segment_seconds=ck.model_config.segment_seconds)  # paper architecture
    assert ck.extra["audio"] and all("ljspeech" in a and "emodb" not in a.lower() for a in ck.extra["audio"])
    assert find_checkpoint("bundled:cpc").stat().st_size < 6_000_000  # a small package asset
    clip = sorted(assets.glob("*.wav"))[0]
    sig = audio.load(clip)
    f = cpc_features(sig, FeatureConfig(name="cpc", encoder="bundled:cpc"))
    assert f.shape == (len(sig) // 160, 256) and f.dtype == np.float32 and np.isfinite(f).all()
    assert load_cpc("bundled:cpc") is load_cpc("bundled:cpc")  # cached once per process

    w = torch.from_numpy(np.stack([audio.load(p)[:23200] for p in sorted(assets.glob("*.wav"))]))  # (4, 1.45 s)
    lengths = torch.full((w.shape[0],), w.shape[1])

    def accuracy(m: CpcModel) -> float:
        with torch.no_grad():
            z, c, n = m(w, lengths)
            return float(info_nce(z, c, m.predictors, n, negatives=50, generator=torch.Generator().manual_seed(0))[1])

    trained = accuracy(ck.build_model())
    torch.manual_seed(0)
    random = accuracy(CpcModel(ck.model_config))
    assert random < 0.05 and trained > 3 / 51, (trained, random)  # chance is 1/51
