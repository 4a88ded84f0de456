"""CompactCnn (the default model's architecture): shapes, padding invariance, gradients, overfit."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from serkit.models import MODELS, model_config_from_dict
from serkit.models.compact_cnn import build_compact_cnn, tiny_config


@pytest.mark.parametrize("norm", [{"utterance_cmn": False}, {"utterance_cmn": True},
                                  {"input_norm": "utterance"}, {"input_norm": "utterance_mean"}])
def test_padding_invariance(norm):
    m = build_compact_cnn(dataclasses.replace(tiny_config(), **norm, avd=True), input_dim=8,
                          num_classes=3).eval()
    a, b = torch.randn(1, 40, 8), torch.randn(1, 23, 8)
    batch = torch.zeros(2, 40, 8)
    batch[0], batch[1, :23] = a[0], b[0]
    batch[1, 23:] = 100.0  # garbage in the padding must not leak
    out = m(batch, torch.tensor([40, 23]))
    assert out.logits.shape == (2, 3) and out.avd.shape == (2, 3)
    torch.testing.assert_close(out.logits[0], m(a, torch.tensor([40])).logits[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.logits[1], m(b, torch.tensor([23])).logits[0], atol=1e-5, rtol=1e-5)


def test_backward_reaches_every_parameter_and_overfits():
    torch.manual_seed(0)
    m = build_compact_cnn(tiny_config(), input_dim=8, num_classes=2)
    x, lens, y = torch.randn(4, 30, 8), torch.tensor([30, 25, 20, 9]), torch.tensor([0, 1, 0, 1])
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    first = None
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(m(x, lens).logits, y)
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())
        opt.step()
    assert float(loss.detach()) < 0.2 * first


def test_registry_and_bad_input():
    cfg = model_config_from_dict({"name": "compact_cnn", "channels": [8, 8], "hidden_dim": 16})
    assert cfg.channels == (8, 8) and "compact_cnn" in MODELS
    m = MODELS["compact_cnn"][1](cfg, input_dim=4, num_classes=2).eval()
    with pytest.raises(ValueError, match="expects features"):
        m(torch.randn(2, 100), torch.tensor([100, 100]))
    out = m(torch.randn(1, 1, 4), torch.tensor([1]))  # one frame still classifies
    assert torch.isfinite(out.logits).all()


def _model(norm: str) -> torch.nn.Module:
    torch.manual_seed(0)
    m = build_compact_cnn(dataclasses.replace(tiny_config(), input_norm=norm), input_dim=8, num_classes=3)
    m.set_input_stats(torch.linspace(-8, -2, 8), torch.linspace(1, 3, 8))
    return m.eval()


@pytest.mark.parametrize("norm", ["utterance", "utterance_mean"])
def test_utterance_norm_ignores_gain_and_channel(norm):
    """A gain or a fixed channel colour adds a constant per log-Mel bin: per-utterance norms cancel it."""
    m = _model(norm)
    x = torch.randn(2, 50, 8) - 6
    lens = torch.tensor([50, 31])
    colour = torch.linspace(-2.0, 1.5, 8)  # e.g. a -20 dB gain plus a tilt
    torch.testing.assert_close(m(x + colour, lens).logits, m(x, lens).logits, atol=1e-4, rtol=1e-4)
    g = _model("global")
    assert not torch.allclose(g(x + colour, lens).logits, g(x, lens).logits, atol=1e-3)


def test_norm_stats_replace_the_statistics():
    x = torch.randn(2, 40, 8) - 6
    lens = torch.tensor([40, 40])
    # utterance mode fed with each utterance's own statistics equals the plain utterance mode
    m = _model("utterance")
    own = (x.mean(1), x.std(1, unbiased=False))
    torch.testing.assert_close(m(x, lens, norm_stats=own).logits, m(x, lens).logits, atol=1e-3, rtol=1e-3)
    # global mode: a speaker's statistics stand in for the training-set ones
    g = _model("global")
    spk = (torch.full((2, 8), -5.0), torch.full((2, 8), 2.0))
    torch.testing.assert_close(g.normalise(x, lens, spk), (x + 5.0) / 2.0)
    assert not torch.allclose(g(x, lens, norm_stats=spk).logits, g(x, lens).logits)


def test_nan_rows_of_norm_stats_keep_their_own_statistics():
    """train.speaker_norm mixes rows: NaN rows are normalised by themselves, the others by the given stats."""
    m = _model("utterance").eval()
    x = torch.randn(3, 40, 8) - 6
    lens = torch.tensor([40, 33, 40])
    spk = (torch.full((3, 8), -5.0), torch.full((3, 8), 2.0))
    mixed = (spk[0].clone(), spk[1].clone())
    mixed[0][1] = float("nan")
    own_row = m.normalise(x, lens)[1]
    spk_rows = m.normalise(x, lens, spk)
    out = m.normalise(x, lens, mixed)
    torch.testing.assert_close(out[1], own_row)
    torch.testing.assert_close(out[[0, 2]], spk_rows[[0, 2]])
    assert not torch.allclose(spk_rows[0], m.normalise(x, lens)[0])


def test_unknown_input_norm():
    with pytest.raises(ValueError, match="input_norm"):
        model_config_from_dict({"name": "compact_cnn", "input_norm": "speaker"})
