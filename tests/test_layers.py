"""Shared model blocks: length arithmetic, masked pooling, attentive pooling, conv stack, LSTM."""

from __future__ import annotations

import pytest
import torch

from serkit.models.layers import (
    AttentivePooling,
    CnnStack2d,
    ConvPoolBlock2d,
    PackedLSTM,
    check_inputs,
    conv_lengths,
    ensure_min_frames,
    masked_mean,
    masked_mean_std,
    zero_padded,
)


def test_conv_lengths_match_pytorch():
    for k, s, p, d in [(3, 1, 1, 1), (2, 2, 0, 1), (5, 2, 2, 1), (3, 1, 2, 2), (4, 3, 0, 1)]:
        conv = torch.nn.Conv1d(1, 1, k, stride=s, padding=p, dilation=d)
        for n in [4, 7, 8, 13]:
            want = conv(torch.zeros(1, 1, n)).shape[-1]
            assert int(conv_lengths(torch.tensor([n]), k, s, p, d)) == want
    assert conv_lengths(torch.tensor([1]), 2, 2).tolist() == [0]  # never negative


def test_masked_pooling_ignores_padding_and_differs_from_unmasked():
    x = torch.randn(2, 10, 3)
    lengths = torch.tensor([10, 4])
    x_noisy = x.clone()
    x_noisy[1, 4:] = 100.0  # garbage in the padding must not matter
    m = masked_mean(x_noisy, lengths)
    torch.testing.assert_close(m[1], x[1, :4].mean(0))
    ms = masked_mean_std(x_noisy, lengths)
    torch.testing.assert_close(ms[1, 3:], torch.sqrt(x[1, :4].var(0, unbiased=False) + 1e-5))
    assert not torch.allclose(m[1], x_noisy[1].mean(0))  # unmasked pooling would differ


def test_attentive_pooling_weights_sum_to_one_on_valid_frames():
    pool = AttentivePooling(6, num_heads=3, hidden_dim=5)
    x, lengths = torch.randn(2, 9, 6), torch.tensor([9, 5])
    pooled, w = pool(x, lengths)
    assert pooled.shape == (2, 18) and w.shape == (2, 3, 9)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3))
    assert (w[1, :, 5:] == 0).all()
    p1, w1 = pool(x[1:, :5], lengths[1:])
    torch.testing.assert_close(pooled[1:], p1)
    torch.testing.assert_close(w[1:, :, :5], w1)


def test_conv_block_and_stack_are_padding_invariant():
    torch.manual_seed(0)
    stack = CnnStack2d(12, (3, 5), kernel_size=3, pool_time=(2, 2), pool_freq=(2, 1), activation="elu").eval()
    assert stack.min_frames == 4 and stack.out_dim == 5 * 6
    x, lengths = torch.randn(3, 21, 12), torch.tensor([21, 13, 8])
    x = zero_padded(x, lengths)
    y, yl = stack(x, lengths)
    assert yl.tolist() == [5, 3, 2] and y.shape == (3, 5, 30)
    for i in range(3):
        yi, _ = stack(x[i: i + 1, : lengths[i]], lengths[i: i + 1])
        torch.testing.assert_close(y[i: i + 1, : yl[i]], yi, atol=1e-5, rtol=1e-4)
        assert (y[i, yl[i]:] == 0).all()


def test_conv_block_rejects_even_kernel_and_unknown_names():
    with pytest.raises(ValueError, match="odd"):
        ConvPoolBlock2d(1, 2, kernel_size=2)
    with pytest.raises(ValueError, match="pool_type"):
        ConvPoolBlock2d(1, 2, pool_type="median")
    with pytest.raises(ValueError, match="no bins"):
        CnnStack2d(4, (2, 2, 2), pool_time=(1, 1, 1), pool_freq=(2, 2, 2))


def test_packed_lstm_is_padding_invariant():
    lstm = PackedLSTM(4, 5, num_layers=2).eval()
    x, lengths = torch.randn(2, 7, 4), torch.tensor([7, 3])
    y, h = lstm(x, lengths)
    assert y.shape == (2, 7, 10) and h.shape == (2, 10)
    y1, h1 = lstm(x[1:, :3], lengths[1:])
    torch.testing.assert_close(y[1:, :3], y1)
    torch.testing.assert_close(h[1:], h1)
    assert (y[1, 3:] == 0).all()
    # forward final state = output at the last valid frame, backward final state = output at frame 0
    torch.testing.assert_close(h[1, :5], y[1, 2, :5])
    torch.testing.assert_close(h[1, 5:], y[1, 0, 5:])


def test_short_inputs_are_padded_and_bad_inputs_raise():
    x, lengths = ensure_min_frames(torch.randn(2, 2, 3), torch.tensor([2, 1]), 4)
    assert x.shape == (2, 4, 3) and lengths.tolist() == [4, 4]
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 5\]"):
        check_inputs(torch.randn(2, 5, 3), torch.tensor([5, 0]), input_dim=3, model="m")
    with pytest.raises(ValueError, match="expected 4 features"):
        check_inputs(torch.randn(2, 5, 3), torch.tensor([5, 2]), input_dim=4, model="m")
    with pytest.raises(ValueError, match=r"\(B, T, F\)"):
        check_inputs(torch.randn(2, 5), torch.tensor([5, 2]), input_dim=4, model="m")
