"""Shared fixtures: seeds, asset paths, a temporary cache, synthetic corpora."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest

ASSETS = Path(__file__).parent / "assets"
DATA_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def deterministic_rng():
    """Seed every RNG before each test (lhotse's deterministic_rng)."""
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tests run single-threaded: tiny models on a shared 2-core CPU are many times slower with
    thread contention, and one thread keeps float results reproducible."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session writes features to its own cache folder."""
    monkeypatch.setenv("SERKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    yield


@pytest.fixture
def assets() -> Path:
    """tests/assets: 4 EmoDB clips (2 speakers x angry/sad) and manifest.jsonl."""
    return ASSETS


@pytest.fixture
def data_root() -> Path:
    """../shared/data; skips when the corpora are not beside the checkout."""
    root = Path(os.environ.get("SERKIT_DATA") or DATA_ROOT)
    if not (root / "emodb").is_dir():
        pytest.skip("shared corpora not found")
    return root


@pytest.fixture
def synthetic(tmp_path):
    """8 seeded synthetic wavs (4 speakers x 4 emotions cycling) with a manifest."""
    from serkit.testing import create_audio_files

    return create_audio_files(tmp_path / "synthetic", n=16, speakers=4)


#: word-level vocabulary of the tiny BERT: the words of the test transcripts (EmoDB asset sentences
#: and the synthetic ones), so every test sentence tokenises without [UNK]
TINY_BERT_WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "kids", "are", "talking", "by", "the", "door",
                   "dogs", "sitting", "der", "lappen", "liegt", "auf", "dem", "eisschrank", "."]


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A random-weight 2-layer BERT (hidden 16) with a word-level vocabulary, saved as a local
    Hugging Face folder (the real offline loading path); built once per test session."""
    pytest.importorskip("transformers")
    from transformers import BertConfig, BertModel, BertTokenizerFast

    d = tmp_path_factory.mktemp("tiny_bert")
    (d / "vocab.txt").write_text("\n".join(TINY_BERT_WORDS) + "\n")
    # transformers >= 5 takes the vocabulary as ``vocab`` and silently ignores ``vocab_file``
    # (every word then became [UNK]); 4.x takes ``vocab_file``
    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(TINY_BERT_WORDS)})
    if tok.convert_tokens_to_ids("kids") != TINY_BERT_WORDS.index("kids"):
        tok = BertTokenizerFast(vocab_file=str(d / "vocab.txt"))
    if tok.tokenize("Kids are talking by the door") != ["kids", "are", "talking", "by", "the", "door"]:
        raise RuntimeError("tiny BERT tokenizer does not use its vocabulary; check the transformers version")
    tok.save_pretrained(d)
    import torch

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(TINY_BERT_WORDS), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64)
    BertModel(cfg).eval().save_pretrained(d)
    return d


@pytest.fixture
def make_run(tmp_path, synthetic):
    """``make_run(model_name) -> (run_dir, labels)``: a run folder as ``serkit evaluate --out``
    writes it (LOSO over the synthetic corpus, per-speaker features), with untrained tiny models
    for its first two folds."""
    import dataclasses
    from importlib import import_module

    import torch

    from serkit.config import dump_yaml
    from serkit.data.manifest import write_jsonl
    from serkit.experiment import recipe_from_dict
    from serkit.models import build_model
    from serkit.models.checkpoint import Checkpoint

    def make(model_name: str) -> tuple[Path, list[str]]:
        tiny = import_module(f"serkit.models.{model_name}").tiny_config()
        manifest = write_jsonl(synthetic, tmp_path / "manifest.jsonl")
        cfg = recipe_from_dict({
            "data": {"corpus": "manifest", "manifest": str(manifest)},
            "features": {"name": "logmel", "n_mels": 24, "speaker_norm": True},
            "model": {**dataclasses.asdict(tiny), "name": model_name}, "eval": {"protocol": "loso"},
        })
        labels = sorted({str(u.emotion) for u in synthetic})
        run = tmp_path / "run"
        for spk in sorted({u.speaker for u in synthetic})[:2]:
            torch.manual_seed(0)
            m = build_model(cfg.model, input_dim=24, num_classes=len(labels))
            d = run / f"fold_{spk}"
            dump_yaml(cfg, d / "resolved.yaml")
            Checkpoint(config=cfg.to_dict(), state_dict=m.state_dict(), label_names=labels,
                       input_dim=24).save(d / "checkpoint.pt")
        return run, labels

    return make
