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
