"""SSL encoders: local Hugging Face folders, the hub-name error, scratch encoder, layer sum, features."""

from __future__ import annotations

import pytest
import torch

from serkit.config import FeatureConfig
from serkit.errors import ConfigError, ModelNotFoundError, UnknownKeyError
from serkit.features.ssl import SslEncoder, WeightedLayerSum, ssl_features
from serkit.testing import pseudo_wave

TINY = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
            conv_dim=(16, 16), conv_kernel=(10, 4), conv_stride=(5, 4), conv_bias=True,
            num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, mask_time_prob=0.0)


def save_tiny(folder, model_type: str = "wav2vec2"):
    """A tiny random HF model of ``model_type`` written with save_pretrained; returns the folder."""
    import transformers as tf

    cfg_cls, model_cls = {"wav2vec2": (tf.Wav2Vec2Config, tf.Wav2Vec2Model),
                          "hubert": (tf.HubertConfig, tf.HubertModel),
                          "wavlm": (tf.WavLMConfig, tf.WavLMModel)}[model_type]
    extra = {"feat_extract_norm": "layer"} if model_type != "wavlm" else {"feat_extract_norm": "layer",
                                                                          "num_buckets": 8}
    model = model_cls(cfg_cls(**TINY, **extra))
    model.save_pretrained(folder)
    return folder, model


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder, _ = save_tiny(tmp_path_factory.mktemp("w2v2") / "tiny-wav2vec2")
    return folder


def test_local_folder_loads_through_real_path_and_matches_saved_weights(tmp_path):
    folder, model = save_tiny(tmp_path / "tiny")
    enc = SslEncoder.from_pretrained(folder)
    assert enc.kind == "wav2vec2" and enc.hidden_size == 16 and enc.num_layers == 3
    for (k, a), b in zip(model.state_dict().items(), enc.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    x = torch.randn(2, 4000)
    layers, lens = enc(x, torch.tensor([4000, 3000]))
    assert len(layers) == 3 and all(h.shape == (2, 199, 16) for h in layers)
    assert lens.tolist() == [199, 149]


@pytest.mark.parametrize("model_type", ["hubert", "wavlm"])
def test_hubert_and_wavlm_folders_load(tmp_path, model_type):
    folder, _ = save_tiny(tmp_path / model_type, model_type)
    enc = SslEncoder.from_pretrained(folder)
    assert enc.kind == model_type
    layers, lens = enc(torch.randn(1, 3000), torch.tensor([3000]))
    assert len(layers) == enc.num_layers and layers[-1].shape[1] == int(lens[0])


def test_hub_name_raises_clear_error():
    with pytest.raises(ModelNotFoundError) as e:
        SslEncoder.from_pretrained("facebook/wav2vec2-base")
    msg = str(e.value)
    assert "huggingface-cli download facebook/wav2vec2-base --local-dir" in msg
    assert "never downloads" in msg


def test_folder_without_weights_or_of_other_type_raises(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="config.json"):
        SslEncoder.from_pretrained(tmp_path / "empty")
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(UnknownKeyError, match="wav2vec2"):
        SslEncoder.from_pretrained(tmp_path / "bert")
    (tmp_path / "noweights").mkdir()
    (tmp_path / "noweights" / "config.json").write_text('{"model_type": "wav2vec2"}')
    with pytest.raises(ModelNotFoundError, match="model.safetensors"):
        SslEncoder.from_pretrained(tmp_path / "noweights")


def _scratch():
    return SslEncoder.from_config(hidden_size=16, num_layers=2, num_heads=2, intermediate_size=32,
                                  conv_dim=(16, 16), conv_kernel=(10, 4), conv_stride=(5, 4), dropout=0.0)


def test_padded_batch_matches_single_utterances():
    enc = _scratch().eval()
    a, b = torch.from_numpy(pseudo_wave(0.3, seed=1)), torch.from_numpy(pseudo_wave(0.2, seed=2))
    x = torch.zeros(2, a.numel())
    x[0], x[1, : b.numel()] = a, b
    with torch.no_grad():
        layers, lens = enc(x, torch.tensor([a.numel(), b.numel()]))
        single, slen = enc(b[None], torch.tensor([b.numel()]))
    assert int(lens[1]) == int(slen[0])
    for h, s in zip(layers, single, strict=True):
        torch.testing.assert_close(h[1, : int(lens[1])], s[0], atol=1e-4, rtol=1e-4)


def test_too_short_input_raises_and_rank_checked():
    enc = _scratch()
    assert enc.min_samples == 25  # kernel 10 stride 5, then kernel 4: 5 * 3 + 10 samples
    with pytest.raises(ValueError, match="at least 25"):
        enc(torch.randn(2, 100), torch.tensor([100, 20]))
    with pytest.raises(ValueError, match="waves"):
        enc(torch.randn(2, 1, 100), torch.tensor([100, 100]))


def test_scratch_config_errors():
    with pytest.raises(ConfigError, match="same non-zero length"):
        SslEncoder.from_config(conv_dim=(8,), conv_kernel=(10, 3), conv_stride=(5, 2))
    with pytest.raises(ConfigError, match="divisible"):
        SslEncoder.from_config(hidden_size=15, num_heads=2)


def test_weighted_layer_sum_starts_as_mean_and_learns():
    wls = WeightedLayerSum(3)
    layers = [torch.full((1, 2, 4), float(i)) for i in range(3)]
    torch.testing.assert_close(wls(layers), torch.full((1, 2, 4), 1.0))
    wls(layers).sum().backward()
    assert wls.weights.grad is not None and wls.weights.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="3 layers"):
        wls(layers[:2])


def test_ssl_features_frozen_cached_path(tiny_folder):
    from serkit.features.extract import compute_features

    sig = pseudo_wave(0.5, seed=3)
    cfg = FeatureConfig(name="ssl", encoder=str(tiny_folder), layer=1)
    x = ssl_features(sig, cfg)
    assert x.dtype.name == "float32" and x.shape == (399, 16)
    y = compute_features(sig, cfg)
    assert (x == y).all()
    last = ssl_features(sig, FeatureConfig(name="ssl", encoder=str(tiny_folder)))
    assert not (last == x).all()
    with pytest.raises(ConfigError, match="out of range"):
        ssl_features(sig, FeatureConfig(name="ssl", encoder=str(tiny_folder), layer=7))
    with pytest.raises(ConfigError, match="features.encoder"):
        ssl_features(sig, FeatureConfig(name="ssl"))


def test_cpc_encoder_through_the_same_interface(tmp_path):
    cpc = pytest.importorskip("serkit.features.cpc")
    from serkit.train.cpc import save_cpc

    path = save_cpc(tmp_path / "cpc.pt", cpc.CpcModel(cpc.tiny_cpc_config()))
    enc = SslEncoder.from_cpc(path)
    assert enc.kind == "custom" and enc.num_layers == 1 and enc.hidden_size == 16
    wav = torch.from_numpy(pseudo_wave(0.3, seed=4))[None]
    with torch.no_grad():
        layers, lens = enc(wav, torch.tensor([wav.shape[1]]))
        # cached frozen-conv frames (features.name cpc, layer 0) give the same context
        z = torch.from_numpy(cpc.cpc_features(wav[0].numpy(), FeatureConfig(name="cpc", encoder=str(path),
                                                                            layer=0)))[None]
        from_frames, flens = enc(z, torch.tensor([z.shape[1]]))
    assert layers[0].shape == (1, 30, 16) and lens.tolist() == [30] == flens.tolist()
    torch.testing.assert_close(layers[0], from_frames[0])
    with pytest.raises(ModelNotFoundError, match="pretrain"):
        SslEncoder.from_cpc(tmp_path / "missing.pt")
