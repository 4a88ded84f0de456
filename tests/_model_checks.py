"""Checks shared by the model tests (tiny config builds, backward, overfit, padding invariance)."""

from __future__ import annotations

import torch
from torch import nn

from serkit.models.layers import zero_padded


def random_batch(b: int = 4, t: int = 48, f: int = 24, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A zero-padded ``(B, T, F)`` batch with varied lengths."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, t, f, generator=g)
    lengths = torch.tensor([t] + [max(1, t - 9 * i) for i in range(1, b)], dtype=torch.long)
    return zero_padded(x, lengths), lengths


def check_backward_reaches_every_parameter(model: nn.Module, x, lengths, *, use_gender: bool = False) -> None:
    model.train()
    out = model(x, lengths)
    loss = out.logits.logsumexp(-1).sum()
    if use_gender:
        loss = loss + out.aux["gender"].logsumexp(-1).sum()
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]
    assert not missing, f"no gradient reaches {missing}"


def check_overfits_one_batch(model: nn.Module, x, lengths, num_classes: int, *, steps: int = 40) -> None:
    y = torch.arange(x.shape[0]) % num_classes
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    first = None
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x, lengths).logits, y)
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    model.eval()
    with torch.no_grad():
        pred = model(x, lengths).logits.argmax(-1)
    assert loss.item() < 0.2 * first, f"loss {first:.3f} -> {loss.item():.3f}"
    assert (pred == y).all()


def check_padding_invariance(model: nn.Module, x, lengths, *, keys=("logits",)) -> None:
    model.eval()
    with torch.no_grad():
        out = model(x, lengths)
        for i in range(x.shape[0]):
            one = model(x[i: i + 1, : lengths[i]], lengths[i: i + 1])
            torch.testing.assert_close(out.logits[i: i + 1], one.logits, atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(out.embedding[i: i + 1], one.embedding, atol=1e-4, rtol=1e-4)
            for k, v in out.aux.items():
                torch.testing.assert_close(v[i: i + 1], one.aux[k], atol=1e-4, rtol=1e-4)
            for k, v in out.embeddings.items():
                torch.testing.assert_close(v[i: i + 1], one.embeddings[k], atol=1e-4, rtol=1e-4)
            if out.attn is not None:
                t = one.attn.shape[-1]
                torch.testing.assert_close(out.attn[i: i + 1, :, :t], one.attn, atol=1e-4, rtol=1e-4)
                assert (out.attn[i, :, t:] == 0).all()
