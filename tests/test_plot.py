"""Plots: t-SNE of embeddings, attention weights over time, and the ``serkit plot`` command."""

from __future__ import annotations

import numpy as np
import pytest

from serkit.viz.attention import plot_attention_weights
from serkit.viz.embeddings import plot_embeddings_tsne, tsne_2d


def test_tsne_panels_are_written(tmp_path):
    rng = np.random.default_rng(0)
    labels = ["angry", "sad", "happy"] * 4
    emb = {"before transformer": rng.normal(size=(12, 6)), "after transformer": rng.normal(size=(12, 6))}
    p = plot_embeddings_tsne(emb, labels, tmp_path / "t.png", title="toy", max_iter=250, perplexity=3)
    assert p.is_file() and p.stat().st_size > 5000
    with pytest.raises(ValueError, match="11 rows but there are 12 labels"):
        plot_embeddings_tsne({"x": rng.normal(size=(11, 6))}, labels, tmp_path / "u.png")
    with pytest.raises(ValueError, match="N >= 3"):
        tsne_2d(np.zeros((2, 4)))


def test_tsne_separates_separable_clusters():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (20, 5)), rng.normal(8, 1, (20, 5))])
    y = tsne_2d(x, perplexity=10, max_iter=300)
    a, b = y[:20].mean(0), y[20:].mean(0)
    spread = max(y[:20].std(0).max(), y[20:].std(0).max())
    assert np.linalg.norm(a - b) > 2 * spread


def test_attention_plot_is_written(tmp_path):
    w = np.random.default_rng(0).dirichlet(np.ones(25), size=3)
    p = plot_attention_weights(np.random.randn(100, 40), w, tmp_path / "a.png", frames_per_step=4, title="x")
    assert p.is_file() and p.stat().st_size > 5000
    with pytest.raises(ValueError, match="expected features"):
        plot_attention_weights(np.zeros(10), w, tmp_path / "b.png")


def test_plot_embeddings_command_draws_before_and_after(tmp_path, make_run, capsys):
    from serkit.cli.main import main

    run, _ = make_run("cnn_bilstm_tf")
    out = tmp_path / "emb.png"
    assert main(["plot", "embeddings", str(run), "--split", "all", "--perplexity", "4", "--out", str(out)]) == 0
    assert out.is_file() and out.stat().st_size > 10000
    assert main(["plot", "embeddings", str(run), "--keys", "nope"]) == 1
    assert "unknown embedding 'nope'" in capsys.readouterr().err


def test_plot_attention_weights_uses_the_fold_that_held_the_file_out(tmp_path, make_run, synthetic, capsys):
    from serkit.cli.main import main

    run, _ = make_run("cnn_blstm_attn")
    held_out = next(u for u in synthetic if u.speaker == "spk1")
    assert main(["plot", "attention-weights", str(run), "--utterance", held_out.id]) == 0
    assert f"attention_{held_out.id}.png" in capsys.readouterr().out
    assert (run / f"attention_{held_out.id}.png").is_file()
    assert main(["plot", "attention-weights", str(run), "--utterance", "no_such_file"]) == 1
    assert "not in the test split of any fold" in capsys.readouterr().err
    assert main(["plot", "embeddings", str(tmp_path / "empty")]) == 1
    assert "no fold_<name>/checkpoint.pt" in capsys.readouterr().err
