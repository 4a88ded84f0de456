"""DDP training: ``torchrun --nproc-per-node 2 -m serkit train`` (gloo on CPU) trains, writes one
checkpoint from rank 0 that loads and predicts, and resumes; helpers of serkit.train.distributed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from serkit.testing import create_audio_files

SRC = Path(__file__).resolve().parents[1] / "src"


def _recipe(tmp_path: Path, **train) -> Path:
    man = create_audio_files(tmp_path / "wav", n=16, speakers=4, seconds=0.6)
    manifest = tmp_path / "wav" / "manifest.jsonl"
    assert man and manifest.is_file()
    d = {
        "data": {"corpus": "manifest", "manifest": str(manifest)},
        "features": {"name": "logmel", "n_mels": 16},
        "model": {"name": "pooled_mlp", "hidden_dim": 16, "dropout": 0.0},
        "train": {"epochs": 2, "batch_size": 4, "lr": 0.01, "valid_fraction": 0.25, **train},
        "eval": {"protocol": "loso"},
    }
    p = tmp_path / "recipe.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


def _torchrun(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "SERKIT_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "serkit", "train", *args, "--no-progress"]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def test_two_process_gloo_training_checkpoint_predicts_and_resumes(tmp_path, assets):
    recipe = _recipe(tmp_path)
    out = tmp_path / "run"
    r = _torchrun([str(recipe), "--out", str(out)], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout[r.stdout.index("{"):])  # printed once, by rank 0
    assert r.stdout.count('"checkpoint"') == 1
    assert summary["world_size"] == 2 and summary["epochs"] == 2
    log = (out / "train.log").read_text().splitlines()
    assert len(log) == 2  # one line per epoch, from rank 0 only

    from serkit.inference import Predictor
    from serkit.models.checkpoint import load_checkpoint

    ck = load_checkpoint(out)
    assert ck.extra["distributed"]["world_size"] == 2
    res = Predictor.load(out).predict_file(assets / "03a02Ta.wav")
    assert res["label"] in ck.label_names and abs(sum(res["scores"].values()) - 1) < 1e-3

    # resume the 2-epoch run to 3 epochs: continues from rank 0's last.pt on both ranks
    r = _torchrun([str(recipe), "--out", str(out), "--resume", "--set", "train.epochs=3"], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    hist = load_checkpoint(out / "last.pt").extra["history"]
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert len((out / "train.log").read_text().splitlines()) == 3


def test_shard_batch_and_single_process_no_ops():
    from serkit.train import distributed as d

    info = d.DistInfo(rank=1, world_size=2, backend="gloo")
    assert d.shard_batch([5, 6, 7, 8, 9], info) == [8, 9]
    assert d.shard_batch([5, 6, 7, 8, 9], d.DistInfo(rank=0, world_size=2, backend="gloo")) == [5, 6, 7]
    assert d.shard_batch([5], info) == [5]  # a short batch still gives every rank a step
    assert d.shard_batch([1, 2], d.SINGLE) == [1, 2]
    assert d.sum_over_ranks([1.5, 2], d.SINGLE) == [1.5, 2.0]
    assert d.gather_objects({"a": 1}, d.SINGLE) == [{"a": 1}]
    assert not d.launched() and d.init() is d.SINGLE and d.current() is d.SINGLE


@pytest.mark.parametrize("world", [2, 3])
def test_shards_cover_each_batch_once(world):
    from serkit.train import distributed as d

    batch = list(range(10))
    parts = [d.shard_batch(batch, d.DistInfo(rank=r, world_size=world, backend="gloo")) for r in range(world)]
    assert sorted(i for p in parts for i in p) == batch
