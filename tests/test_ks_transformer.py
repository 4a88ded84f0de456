"""Key-Sparse Transformer: key selection, dense equivalence, padding, gradients, recipes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from serkit.errors import ConfigError
from serkit.models import MODELS, model_config_from_dict
from serkit.models.ks_transformer import (
    KsAttention,
    KsTransformer,
    key_sparse,
    keys_kept,
    stack_frames,
    tiny_config,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "chen2022"


def _model(**kw) -> KsTransformer:
    return KsTransformer(tiny_config(**kw), input_dim=8, num_classes=4).eval()


def _batch(b=3, t=(30, 17, 9), lt=(6, 3, 5)):
    x = torch.randn(b, max(t), 8)
    txt = torch.randn(b, max(lt), 24)
    return x, torch.tensor(t), txt, torch.tensor(lt)


@pytest.mark.parametrize("k", [0.1, 0.3, 0.5, 0.7, 0.9, 1.0])
def test_exactly_ceil_k_l_keys_kept_per_head(k):
    att = KsAttention(16, 4, k=k).eval()
    key_len = torch.tensor([13, 7, 1, 10])
    q_len = torch.tensor([5, 9, 2, 1])
    _, info = att(torch.randn(4, 9, 16), torch.randn(4, 13, 16), q_len, key_len)
    n = info["kept"].sum(-1)  # (B, H)
    expect = torch.tensor([max(1, math.ceil(round(k * L, 9))) for L in key_len.tolist()])
    assert torch.equal(n, expect[:, None].expand(4, 4))
    # sparsified weights are zero exactly on the dropped keys, for every query
    w = info["weights"]
    dropped = ~info["kept"]
    assert torch.all(w.masked_select(dropped[:, :, None, :].expand_as(w)) == 0)


def test_keys_kept_formula():
    assert keys_kept(0.5, torch.tensor([10, 11, 1, 3])).tolist() == [5, 6, 1, 2]
    assert keys_kept(0.1, torch.tensor([460, 20])).tolist() == [46, 2]
    assert keys_kept(0.3, torch.tensor([10])).tolist() == [3]  # 0.3 * 10 is 3.0000000000000004 in floats


def test_kept_keys_are_the_top_column_sums():
    w = torch.softmax(torch.randn(2, 3, 6, 8), -1)
    key_pad = torch.zeros(2, 8, dtype=torch.bool)
    _, imp, kept = key_sparse(w, key_pad, None, 0.25)
    top = imp.topk(2, dim=-1).indices
    assert torch.equal(kept, torch.zeros_like(kept).scatter(-1, top, True))


def test_k_one_equals_dense_multihead_attention():
    torch.manual_seed(1)
    att = KsAttention(16, 4, k=1.0).eval()
    ref = torch.nn.MultiheadAttention(16, 4, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([att.q_proj.weight, att.k_proj.weight, att.v_proj.weight]))
        ref.in_proj_bias.copy_(torch.cat([att.q_proj.bias, att.k_proj.bias, att.v_proj.bias]))
        ref.out_proj.weight.copy_(att.out_proj.weight)
        ref.out_proj.bias.copy_(att.out_proj.bias)
    q, kv = torch.randn(3, 7, 16), torch.randn(3, 11, 16)
    key_len = torch.tensor([11, 6, 2])
    out, info = att(q, kv, torch.tensor([7, 7, 7]), key_len)
    pad = torch.arange(11)[None] >= key_len[:, None]
    expect, w_ref = ref(q, kv, kv, key_padding_mask=pad, average_attn_weights=False)
    torch.testing.assert_close(out, expect, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(info["weights"], w_ref, rtol=1e-5, atol=1e-6)


def test_k_below_one_differs_from_dense():
    torch.manual_seed(2)
    sparse = KsAttention(16, 2, k=0.5).eval()
    dense = KsAttention(16, 2, k=1.0).eval()
    dense.load_state_dict(sparse.state_dict())
    q = torch.randn(1, 6, 16)
    ln = torch.tensor([6])
    assert not torch.allclose(sparse(q, q, ln, ln)[0], dense(q, q, ln, ln)[0])


@pytest.mark.parametrize("k", [0.1, 0.5, 0.9, 1.0])
def test_padding_keys_never_kept(k):
    att = KsAttention(16, 2, k=k).eval()
    kv = torch.randn(3, 12, 16)
    key_len = torch.tensor([12, 5, 2])
    kv[1, 5:] = 1e3  # large padding values must not attract selection
    kv[2, 2:] = -1e3
    _, info = att(torch.randn(3, 4, 16), kv, torch.tensor([4, 4, 4]), key_len)
    pad = torch.arange(12)[None] >= key_len[:, None]
    assert not (info["kept"] & pad[:, None, :]).any()
    assert torch.all(info["weights"][pad[:, None, None, :].expand_as(info["weights"])] == 0)


def test_padded_queries_do_not_change_importance():
    att = KsAttention(16, 2, k=0.5).eval()
    q, kv = torch.randn(1, 5, 16), torch.randn(1, 7, 16)
    ln_q, ln_k = torch.tensor([5]), torch.tensor([7])
    _, a = att(q, kv, ln_q, ln_k)
    qp = torch.cat([q, 50 * torch.randn(1, 4, 16)], 1)
    _, b = att(qp, kv, ln_q, ln_k)
    torch.testing.assert_close(a["importance"], b["importance"])
    assert torch.equal(a["kept"], b["kept"])


@pytest.mark.parametrize("modalities", ["both", "audio", "text"])
def test_forward_shapes_and_attention_maps(modalities):
    m = _model(modalities=modalities, text_encoder=None if modalities == "audio" else "minilm")
    x, ln, txt, tln = _batch()
    out = m(x, ln, text=txt, text_lengths=tln)
    assert out.logits.shape == (3, 4) and out.embedding.shape == (3, 16)
    assert torch.isfinite(out.logits).all()
    if modalities != "text":
        assert out.attn["audio_importance"].shape == (3, 30)
        assert torch.equal(out.attn["audio_lengths"], ln)
        assert (out.attn["audio_importance"][1, 17:] == 0).all()
    if modalities != "audio":
        assert out.attn["text_kept"].shape == (3, 6)
        assert (out.attn["text_kept"][1, 3:] == 0).all()


def test_padding_invariance_batch_equals_single():
    m = _model(k=0.5, frame_stack=2)
    x, ln, txt, tln = _batch()
    out = m(x, ln, text=txt, text_lengths=tln)
    for i in range(3):
        a, t = int(ln[i]), int(tln[i])
        single = m(x[i:i + 1, :a], ln[i:i + 1], text=txt[i:i + 1, :t], text_lengths=tln[i:i + 1])
        torch.testing.assert_close(out.logits[i:i + 1], single.logits, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(out.attn["text_kept"][i, :t], single.attn["text_kept"][0])
        torch.testing.assert_close(out.attn["audio_importance"][i, :a], single.attn["audio_importance"][0],
                                   rtol=1e-4, atol=1e-5)


def test_gradients_reach_both_modalities_and_every_parameter():
    m = _model().train()
    x, ln, txt, tln = _batch()
    x.requires_grad_(True)
    txt.requires_grad_(True)
    out = m(x, ln, text=txt, text_lengths=tln)
    torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 1, 2])).backward()
    assert x.grad[0, :30].abs().sum() > 0 and txt.grad[0, :6].abs().sum() > 0
    assert (x.grad[1, 17:] == 0).all() and (txt.grad[1, 3:] == 0).all()  # padding gets no gradient
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_text_only_ignores_audio_and_audio_only_needs_no_text():
    m = _model(modalities="text")
    x, ln, txt, tln = _batch()
    a = m(x, ln, text=txt, text_lengths=tln).logits
    b = m(torch.randn_like(x), ln, text=txt, text_lengths=tln).logits
    torch.testing.assert_close(a, b)
    ma = _model(modalities="audio", text_encoder=None)
    assert ma(x, ln).logits.shape == (3, 4)
    with pytest.raises(ConfigError, match="text_encoder"):
        m(x, ln)


def test_max_lengths_crop():
    m = _model(max_audio_len=20, max_text_tokens=4)
    x, ln, txt, tln = _batch()
    out = m(x, ln, text=txt, text_lengths=tln)
    assert out.attn["audio_importance"].shape == (3, 20)
    assert out.attn["text_importance"].shape == (3, 4)
    assert out.attn["audio_lengths"].tolist() == [20, 17, 9]


def test_stack_frames_lengths():
    x = torch.arange(2 * 5 * 1, dtype=torch.float32).view(2, 5, 1)
    y, ln = stack_frames(x, torch.tensor([5, 3]), 2)
    assert y.shape == (2, 3, 2) and ln.tolist() == [3, 2]
    assert y[1, 1].tolist() == [7.0, 0.0]  # the padded frame is zeroed


def test_bad_config_and_inputs_raise():
    with pytest.raises(ConfigError, match="model.k"):
        _model(k=0.0)
    with pytest.raises(ConfigError, match="text_encoder"):
        _model(modalities="both", text_encoder=None)
    with pytest.raises(ConfigError, match="modalities"):
        _model(modalities="video")
    m = _model()
    x, ln, txt, tln = _batch()
    with pytest.raises(ConfigError, match="text_dim=7"):
        m(x, ln, text=torch.randn(3, 6, 7), text_lengths=tln)
    with pytest.raises(ConfigError, match="frame features"):
        m(torch.randn(3, 100), ln, text=txt, text_lengths=tln)


def test_overfits_one_batch():
    torch.manual_seed(0)
    m = _model().train()
    x, ln, txt, tln = _batch()
    y = torch.tensor([0, 1, 3])
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _ in range(40):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(m(x, ln, text=txt, text_lengths=tln).logits, y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.1


def test_registry_and_recipes_build():
    cfg = model_config_from_dict({"name": "ks_transformer", "k": 0.3, "modalities": "audio", "text_encoder": None})
    assert cfg.k == 0.3
    build = MODELS["ks_transformer"][1]
    assert build(cfg, input_dim=8, num_classes=3).head.out_features == 3
    from serkit.config import load_dict
    from serkit.experiment import recipe_from_dict

    recipes = sorted(CONFIGS.glob("*.yaml"))
    assert len(recipes) == 6
    for p in recipes:
        exp = recipe_from_dict(load_dict(p))
        mcfg = exp.model
        m = build(mcfg, input_dim=exp.features.n_mels, num_classes=7)
        assert mcfg.modalities in p.stem
        assert (mcfg.text_encoder is None) == (mcfg.modalities == "audio"), p
        assert isinstance(m, KsTransformer)
