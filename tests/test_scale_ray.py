"""``serkit predict --engine ray``: same JSON lines as one process, errors recorded, exactly-once resume.

One local Ray instance (2 CPUs, loopback, no dashboard) serves the whole module and is shut down
at its end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from serkit.cli.main import main
from serkit.testing import save_tiny_checkpoint

ray = pytest.importorskip("ray", reason="Ray is the serkit[scale] extra")

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module")
def local_ray():
    from serkit.scale.cluster import init_local_ray, stop_local_monitor

    if ray.is_initialized():  # pragma: no cover - another module left one running
        ray.shutdown()
    init_local_ray(2, logging_level="ERROR", log_to_driver=False)
    yield ray
    stop_local_monitor(ray)
    ray.shutdown()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("m") / "model.pt")


@pytest.fixture
def folder(assets, tmp_path):
    """The 4 asset clips, one of them twice under another name, and one corrupt file."""
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    for f in sorted(assets.glob("*.wav")):
        (d / f.name).write_bytes(f.read_bytes())
    (d / "sub" / "copy.wav").write_bytes((assets / "03a02Ta.wav").read_bytes())
    (d / "corrupt.wav").write_bytes((assets / "08a01Wa.wav").read_bytes()[:3000])  # truncated WAV
    return d


def _shard_lines(out: Path) -> list[str]:
    return sorted(line for f in sorted(out.glob("part-*.jsonl")) for line in f.read_text().splitlines())


def _single_process_lines(folder: Path, model: Path, tmp_path: Path) -> list[str]:
    ref = tmp_path / "ref.jsonl"
    assert main(["predict", str(folder), "--model", str(model), "--format", "json", "--out", str(ref)]) == 1
    return sorted(ref.read_text().splitlines())


@pytest.mark.parametrize("read_tasks", [False, True], ids=["read-in-workers", "read-tasks"])
def test_ray_lines_equal_single_process(local_ray, folder, model, tmp_path, capsys, read_tasks):
    ref = _single_process_lines(folder, model, tmp_path)
    out = tmp_path / "out"
    rc = main(["predict", str(folder), "--engine", "ray", "--out", str(out), "--model", str(model),
               "--num-workers", "2", "--batch-size", "2", *(["--read-tasks"] if read_tasks else [])])
    assert rc == 1  # the corrupt file failed; the others went on
    assert "1 failed" in capsys.readouterr().err
    got = _shard_lines(out)
    assert got == ref  # same files, fields, labels and scores, byte for byte
    rows = [json.loads(x) for x in got]
    bad = [r for r in rows if "error" in r]
    assert [Path(r["file"]).name for r in bad] == ["corrupt.wav"] and "truncated" in bad[0]["error"]
    assert all(r["label"] and abs(sum(r["scores"].values()) - 1) < 1e-3 for r in rows if "error" not in r)


def test_resume_after_interruption_writes_each_file_once(local_ray, folder, model, tmp_path, monkeypatch):
    from serkit.scale import ray_predict
    from serkit.scale.ray_predict import INDEX_DIR, _ShardWriter, predict_to_dir

    files = sorted(str(p) for p in folder.rglob("*.wav"))
    out = tmp_path / "out"
    real_add = _ShardWriter.add
    calls = {"n": 0}

    def add_then_die(self, *a):
        calls["n"] += 1
        if calls["n"] == 4:  # the job is killed after one 2-line shard and one result in memory
            raise KeyboardInterrupt
        real_add(self, *a)

    monkeypatch.setattr(ray_predict._ShardWriter, "add", add_then_die)
    with pytest.raises(KeyboardInterrupt):
        predict_to_dir(files, out, model=str(model), shard_size=2, batch_size=1, progress=False)
    first = _shard_lines(out)
    assert len(first) == 3  # the shard, and the line flushed on the way out
    # what a hard kill can leave: a temporary shard, and a shard whose index was never written
    (out / ".part-x.jsonl.tmp").write_text("partial")
    (out / "part-orphan.jsonl").write_text(first[0] + "\n")
    monkeypatch.setattr(ray_predict._ShardWriter, "add", real_add)
    s = predict_to_dir(files, out, model=str(model), shard_size=2, progress=False)
    failed_before = sum('"error"' in x for x in first)
    assert (s.written, s.skipped, s.failed) == (len(files) - 3, 3, 1 - failed_before)
    lines = _shard_lines(out)
    names = [json.loads(x)["file"] for x in lines]
    assert sorted(names) == files  # every file exactly once
    assert not list(out.glob(".*.tmp")) and not (out / "part-orphan.jsonl").exists()
    assert len(list((out / INDEX_DIR).glob("*.tsv"))) == len(list(out.glob("part-*.jsonl")))
    # a file whose content changed is predicted again; the unchanged ones are not
    changed = folder / "sub" / "copy.wav"
    changed.write_bytes((folder / "08a02Tb.wav").read_bytes())
    s = predict_to_dir(files, out, model=str(model), progress=False)
    assert (s.written, s.skipped) == (1, len(files) - 1)


def test_manifest_sources(folder):
    from serkit.cli.predict import expand_inputs

    lst = folder / "files.txt"
    lst.write_text("# two files\n03a02Ta.wav\nsub/copy.wav\n")
    man = folder / "m.jsonl"
    man.write_text(json.dumps({"path": "08a02Tb.wav", "speaker": "08"}) + "\n" + json.dumps({"path": "03a02Ta.wav"}) + "\n")
    files = [p for p, _ in expand_inputs([str(lst), str(man)])]
    assert files == [str(folder / "03a02Ta.wav"), str(folder / "sub" / "copy.wav"), str(folder / "08a02Tb.wav"),
                     str(folder / "03a02Ta.wav")]


def test_bad_engine_options(model, folder, tmp_path, capsys):
    assert main(["predict", str(folder), "--engine", "ray", "--model", str(model)]) == 1
    assert "--out DIR" in capsys.readouterr().err
    assert main(["predict", str(folder), "--engine", "ray", "--out", str(tmp_path), "--format", "csv",
                 "--model", str(model)]) == 1
    assert "JSON lines" in capsys.readouterr().err


def test_default_predict_does_not_import_ray(model, assets):
    code = ("import sys; from serkit.cli.main import main; "
            f"rc = main(['predict', {str(assets / '03a02Ta.wav')!r}, '--model', {str(model)!r}, '--format', 'json']); "
            "assert rc == 0, rc; assert 'ray' not in sys.modules, 'ray imported'; print('ok')")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]


def _tiny_neural_recipe(manifest: Path):
    import dataclasses

    from serkit.experiment import recipe_from_dict
    from serkit.models.cnn_blstm_attn import tiny_config

    return recipe_from_dict({
        "data": {"corpus": "manifest", "manifest": str(manifest)},
        "features": {"name": "logmel", "n_mels": 24, "max_seconds": 0.5},
        "model": {**dataclasses.asdict(tiny_config()), "gender_head": False},
        "train": {"epochs": 2, "batch_size": 4, "loss_weights": {"emotion": 1.0}, "valid_fraction": 0.25},
        "eval": {"protocol": "speaker_kfold", "folds": 3},
    })


def test_evaluate_ray_report_equals_sequential(local_ray, synthetic, tmp_path):
    from serkit.data.manifest import write_jsonl
    from serkit.experiment import run_experiment
    from serkit.scale.ray_evaluate import run_experiments_ray

    cfg = _tiny_neural_recipe(write_jsonl(synthetic, tmp_path / "m.jsonl"))
    seq = run_experiment(cfg, out_dir=tmp_path / "seq", progress=False)
    [par] = run_experiments_ray([cfg], out_dirs=[tmp_path / "ray"], progress=False)
    assert [(f.name, f.n_train, f.n_test, f.test_speakers, f.scores) for f in par.folds] == \
        [(f.name, f.n_train, f.n_test, f.test_speakers, f.scores) for f in seq.folds]
    assert [(p.id, p.fold, p.pred, p.scores) for p in par.predictions] == \
        [(p.id, p.fold, p.pred, p.scores) for p in seq.predictions]
    assert par.to_table().splitlines()[0] == seq.to_table().splitlines()[0]
    assert sorted(x.name for x in (tmp_path / "ray").iterdir()) == sorted(x.name for x in (tmp_path / "seq").iterdir())


def test_evaluate_cli_seeds_with_ray(local_ray, tmp_path, capsys):
    import yaml

    from serkit.testing import create_audio_files

    create_audio_files(tmp_path / "wav", n=16, speakers=4, seconds=0.6)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({
        "data": {"corpus": "manifest", "manifest": str(tmp_path / "wav" / "manifest.jsonl")},
        "features": {"name": "logmel", "n_mels": 16},
        "model": {"name": "pooled_mlp", "hidden_dim": 16},
        "train": {"epochs": 2, "batch_size": 4, "valid_fraction": 0.0},
        "eval": {"protocol": "loso"}}))
    args = ["evaluate", str(recipe), "--seeds", "2", "--no-progress", "--json", str(tmp_path / "r.json")]
    assert main([*args, "--engine", "ray"]) == 0
    out = capsys.readouterr().out
    assert "2 seeds (train.seed [0, 1])" in out and "mean ± std over 2 seeds of the 4-fold means" in out
    reports = [json.loads((tmp_path / f"r.seed{s}.json").read_text()) for s in (0, 1)]
    assert [r["config"]["train"]["seed"] for r in reports] == [0, 1]
    assert all(len(r["folds"]) == 4 for r in reports)


def test_ray_workers_import_this_serkit_and_driver_needs_no_torch(local_ray):
    import serkit

    @ray.remote(num_cpus=0)
    def where() -> str:
        import serkit as s

        return s.__file__

    # PYTHONPATH reaches the workers through the environment they inherit (no runtime_env)
    assert ray.get(where.remote()) == serkit.__file__
    code = ("import sys; import serkit.scale.ray_predict, serkit.cli.engine, serkit.cli.predict; "
            "assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]


def test_stop_local_monitor_ends_the_autoscaler_monitor(local_ray):
    """The monitor is killed before ``ray.shutdown`` (which would otherwise wait 1 s for it)."""
    from ray._private import ray_constants

    from serkit.scale.cluster import stop_local_monitor

    procs = [i.process for i in ray._private.worker._global_node.all_processes[ray_constants.PROCESS_TYPE_MONITOR]]
    assert procs and all(p.poll() is None for p in procs)
    stop_local_monitor(ray)
    assert all(p.poll() is not None for p in procs)
    assert ray.get(ray.put(1)) == 1  # the instance itself is unaffected
