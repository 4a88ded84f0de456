"""Beyond one machine: files/s of ``serkit predict`` in one process vs Ray, and fold-parallel evaluation.

Measures on this machine (run it with ``/work/bin/cpu -x``, which waits for a quiet machine and
prints the load average; the figures are written with the load beside them):

- **predict**: the same N files (default 2,000: every EmoDB and RAVDESS clip, then LJSpeech
  clips, read in place from the shared corpora through a ``.txt`` manifest, nothing copied)
  predicted with the bundled default model by (a) one process, ``serkit predict LIST --format
  json``, (b) ``--engine ray --num-workers 1`` and (c) ``--num-workers 2`` on a local Ray
  instance. Each run is a fresh process; reported: end-to-end wall time (process start to exit),
  start-up (imports + Ray + model loading until the first result), and steady throughput after
  start-up. The Ray output is checked to hold the same lines as the single process.
- **repeat**: the head-to-head of the acceptance, repeated: ``--repeat`` rounds (default 3), each
  one process then Ray with 2 workers on the same files (fresh processes, alternating), plus the
  machine's own ceiling for two processes: two plain single-process runs side by side, each on
  half of the files (what ``xargs -P 2`` would do, with a perfect static split). Mean ± std of the
  wall times.
- **evaluate**: wall time of ``serkit evaluate RECIPE`` sequentially vs ``--engine ray`` on the
  same recipe (default a cheap EmoDB LOSO recipe, 10 folds); the two reports must have equal
  per-fold scores.
- **cluster estimate**: throughput and cost on N nodes, from the measured per-file cost and
  per-file Ray overhead (a model, stated as such; not a measurement).

Usage:
    /work/bin/cpu -x python benchmarks/scale.py predict              # 2,000 files; writes docs section
    /work/bin/cpu -x python benchmarks/scale.py repeat --repeat 3   # 1 process vs Ray 2 workers, 3 rounds
    /work/bin/cpu -x python benchmarks/scale.py repeat --warm       # the same, Ray jobs joining a `ray start` instance
    /work/bin/cpu -x python benchmarks/scale.py evaluate         # EmoDB LOSO, default recipe at 10 epochs
    /work/bin/cpu -x python benchmarks/scale.py ddp              # UA: 1 process vs torchrun (2 procs), 3 seeds
    python benchmarks/scale.py table                                  # rewrite docs from the JSON
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / "docs" / "benchmarks.scale.json"
SECTION = "## Scale: Ray batch prediction and fold-parallel evaluation"
PY = sys.executable
RAY_CLI = str(Path(PY).with_name("ray"))  # the ``ray`` command of this environment
#: EmoDB LOSO with the default model's recipe, shortened to 10 epochs (a cheap neural recipe)
EVAL_SET = ["data.corpus=emodb", "data.labels=null", "eval.protocol=loso", "train.epochs=10"]
#: a small recipe for the DDP check: the default model's recipe on EmoDB, 2 held-out speakers, 30 epochs
DDP_SET = ["data.corpus=emodb", "data.labels=null", "eval.test_speakers=[emodb_03,emodb_08]", "train.epochs=30"]


def _load() -> str:
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3])


def _data_root(arg: str | None) -> Path:
    return Path(arg or os.environ.get("SERKIT_DATA") or ROOT.parent / "shared" / "data")


def file_list(root: Path, n: int, out: Path) -> Path:
    """The first n files of EmoDB, RAVDESS, LJSpeech (sorted within each), as a .txt manifest."""
    from serkit.data.audio import find_audio

    files: list[str] = []
    for corpus in ("emodb", "ravdess", "ljspeech"):
        files += [str(p) for p in find_audio(root / corpus)]
    if len(files) < n:
        raise SystemExit(f"only {len(files)} audio files under {root}; pass --files {len(files)} or fewer")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(files[:n]) + "\n")
    return out


# ----------------------------------------------------------------------------- child processes
def child_local(args) -> None:
    """One process: the work of ``serkit predict LIST --format json --out F``, timed in parts."""
    t0 = time.time()
    from serkit.cli.predict import expand_inputs
    from serkit.inference import Predictor, result_json

    files = [p for p, _ in expand_inputs([args.list])]
    pred = Predictor.load(args.model, threads=1)
    t_load = time.time()
    n = failed = 0
    with open(args.out, "w", encoding="utf-8") as f:
        for r in pred.predict_batch(files):
            if n == 0:
                t_first = time.time()
            f.write(result_json(r) + "\n")
            n += 1
            failed += "error" in r
    t1 = time.time()
    print(json.dumps({"files": n, "failed": failed, "startup_s": round(t_first - t0, 3),
                      "load_s": round(t_load - t0, 3), "run_s": round(t1 - t0, 3)}))


def child_ray(args) -> None:
    """``serkit predict --engine ray`` through its library call, timed in parts."""
    t0 = time.time()
    from serkit.cli.predict import expand_inputs
    from serkit.scale.ray_predict import predict_to_dir

    files = [p for p, _ in expand_inputs([args.list])]
    t_call = time.time()
    s = predict_to_dir(files, args.out, model=args.model, num_workers=args.workers, batch_size=args.batch_size,
                       read_in_workers=not args.read_tasks, progress=False)
    t1 = time.time()
    print(json.dumps({"files": s.written, "failed": s.failed, "startup_s": round(t_call - t0 + s.startup_s, 3),
                      "run_s": round(t1 - t0, 3)}))


def _child_env() -> dict[str, str]:
    """The environment of a child process: this checkout's serkit first on ``PYTHONPATH``."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}


def _run_child(argv: list[str], env: dict[str, str] | None = None) -> dict:
    env = env or _child_env()
    t0 = time.time()
    r = subprocess.run([PY, __file__, *argv], capture_output=True, text=True, env=env)
    wall = time.time() - t0
    if r.returncode != 0:
        raise SystemExit(f"child {argv} failed:\n{r.stderr[-3000:]}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["wall_s"] = round(wall, 3)
    return out


def _lines(path: Path) -> list[str]:
    files = [path] if path.is_file() else sorted(path.glob("part-*.jsonl"))
    return sorted(line for f in files for line in f.read_text().splitlines())


# ----------------------------------------------------------------------------- predict
def bench_predict(args) -> dict:
    work = Path(args.work)
    lst = file_list(_data_root(args.data_root), args.files, work / "files.txt")
    res: dict = {"files": args.files, "model": args.model, "batch_size": args.batch_size,
                 "load_start": _load(), "python": platform.python_version(), "cpus": os.cpu_count(), "runs": {}}
    print(f"[scale] load at start {res['load_start']}", file=sys.stderr)
    ref = work / "local.jsonl"
    res["runs"]["1 process"] = _run_child(["--child", "local", "--list", str(lst), "--out", str(ref),
                                           "--model", args.model])
    print(f"[scale] 1 process: {res['runs']['1 process']}", file=sys.stderr)
    want = _lines(ref)
    # each worker decodes its own files (the default), and, for the largest worker count, the
    # pipeline with separate read/decode tasks (--read-tasks) for comparison
    variants = [(w, False) for w in args.workers] + [(max(args.workers), True)]
    for w, read_tasks in variants:
        out = work / f"ray{w}{'_tasks' if read_tasks else ''}"
        if out.exists():
            import shutil

            shutil.rmtree(out)
        name = f"Ray, {w} worker{'s' if w > 1 else ''}" + (", separate read tasks" if read_tasks else "")
        r = _run_child(["--child", "ray", "--list", str(lst), "--out", str(out), "--model", args.model,
                        "--workers", str(w), "--batch-size", str(args.batch_size),
                        *(["--read-tasks"] if read_tasks else [])])
        r["same_lines_as_1_process"] = _lines(out) == want
        res["runs"][name] = r
        print(f"[scale] {name}: {r}", file=sys.stderr)
    res["load_end"] = _load()
    for r in res["runs"].values():
        r["files_per_s"] = round(r["files"] / r["wall_s"], 1)
        steady = r["run_s"] - r["startup_s"]
        r["steady_files_per_s"] = round((r["files"] - 1) / steady, 1) if steady > 0 else None
        r["startup_total_s"] = round(r["wall_s"] - r["run_s"] + r["startup_s"], 2)
    return res


def _verdict(pred: dict) -> list[str]:
    """One process vs Ray with the most workers (default pipeline): which is faster on these files, and
    where the lines of wall = start-up + files / steady rate cross (an extrapolation, not a measurement)."""
    one = pred["runs"].get("1 process")
    rays = [(k, v) for k, v in pred["runs"].items() if k.startswith("Ray, ") and "separate" not in k]
    if not one or not rays:
        return []
    name, ray = max(rays, key=lambda kv: int(kv[0].split()[1]))
    faster = ray["wall_s"] <= one["wall_s"]
    out = ["", f"In this one run, on these {pred['files']:,} files {name.replace('Ray, ', 'Ray with ')} {'is not slower than' if faster else 'is **slower** than'} "
           f"one process ({ray['wall_s']:.1f} s vs {one['wall_s']:.1f} s wall). "]
    r1, r2 = one["steady_files_per_s"], ray["steady_files_per_s"]
    if r1 and r2 and r2 > r1:
        n = (ray["startup_total_s"] - one["startup_total_s"]) / (1 / r1 - 1 / r2)
        out[-1] += (f"Ray's fixed start-up ({ray['startup_total_s']:.1f} s vs {one['startup_total_s']:.1f} s: a Ray "
                    f"instance, worker processes importing torch and loading the model) is paid back by its steady "
                    f"rate ({r2} vs {r1} files/s) after about **{n:,.0f} files** of this length (extrapolated from "
                    "these figures, not measured). On 2 cores Ray's own processes (driver, raylet, object store) "
                    "share the CPUs with both workers, so 2 workers do not reach twice one process's rate; on "
                    "nodes with more cores and long archives the start-up is a small fixed cost.")
    return out


def cluster_estimate(pred: dict, *, nodes=(1, 4, 16, 64), cpus_per_node: int = 16, node_hour_usd: float = 0.70,
                     archive_files: int = 1_000_000) -> dict:
    """Throughput and cost of a cluster, from the measured per-file costs (a model, not a measurement)."""
    local = pred["runs"]["1 process"]
    ray1 = next(v for k, v in pred["runs"].items() if k.startswith("Ray, 1 "))
    per_file = 1.0 / local["steady_files_per_s"]  # CPU-seconds per file, one process
    per_file_ray = 1.0 / ray1["steady_files_per_s"]  # the same work through Ray (one worker)
    overhead = per_file_ray - per_file
    workers = cpus_per_node  # one worker per CPU
    rows = []
    for n in nodes:
        fps = n * workers / per_file_ray
        hours = archive_files / fps / 3600 + ray1["startup_total_s"] / 3600
        rows.append({"nodes": n, "workers": n * workers, "files_per_s": round(fps), "hours_for_archive": round(hours, 2),
                     "usd_for_archive": round(hours * n * node_hour_usd, 2)})
    return {"per_file_s": round(per_file, 5), "per_file_ray_s": round(per_file_ray, 5),
            "ray_overhead_per_file_s": round(overhead, 5), "cpus_per_node": cpus_per_node,
            "node_hour_usd": node_hour_usd, "archive_files": archive_files, "rows": rows}


def _start_ray_head(port: int = 6399) -> str:
    """``ray start --head`` on loopback with 2 CPUs (workers import this checkout's serkit); the address
    to join it with (``auto``: Ray resolves an explicit ``127.0.0.1:port`` to the machine's public IP,
    where a loopback-only head does not listen)."""
    subprocess.run([RAY_CLI, "start", "--head", "--num-cpus", str(os.cpu_count() or 2), "--include-dashboard=false",
                    "--node-ip-address=127.0.0.1", f"--port={port}", "--disable-usage-stats"],
                   check=True, env=_child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return "auto"


def _stop_ray_head() -> None:
    subprocess.run([RAY_CLI, "stop"], env=_child_env(), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def bench_repeat(args) -> dict:
    """``--repeat`` rounds of (1 process, Ray with 2 workers), then two plain processes on halves.

    With ``--warm`` the Ray runs go to a Ray instance started once beforehand (``ray start --head``, as
    on a cluster, where the instance is up before jobs are submitted; a 32-file job runs first, as on
    an instance that has served jobs before); without, each Ray run starts its own local instance.
    """
    import shutil

    work = Path(args.work)
    lst = file_list(_data_root(args.data_root), args.files, work / "files.txt")
    res: dict = {"files": args.files, "model": args.model, "batch_size": args.batch_size, "load_start": _load(),
                 "warm": bool(args.warm), "rounds": []}
    print(f"[scale] load at start {res['load_start']}", file=sys.stderr)
    ref = work / "local.jsonl"
    ray_env = None
    if args.warm:
        ray_env = {**_child_env(), "RAY_ADDRESS": _start_ray_head()}
        warm_list = work / "warmup.txt"
        warm_list.write_text("\n".join(lst.read_text().splitlines()[:32]) + "\n")
        shutil.rmtree(work / "ray_warmup", ignore_errors=True)
        _run_child(["--child", "ray", "--list", str(warm_list), "--out", str(work / "ray_warmup"), "--model",
                    args.model, "--workers", "2", "--batch-size", str(args.batch_size)], env=ray_env)
    try:
        for i in range(args.repeat):
            one = _run_child(["--child", "local", "--list", str(lst), "--out", str(ref), "--model", args.model])
            out = work / "ray_repeat"
            shutil.rmtree(out, ignore_errors=True)
            ray = _run_child(["--child", "ray", "--list", str(lst), "--out", str(out), "--model", args.model,
                              "--workers", "2", "--batch-size", str(args.batch_size)], env=ray_env)
            ray["same_lines_as_1_process"] = _lines(out) == _lines(ref)
            res["rounds"].append({"1 process": one, "Ray, 2 workers": ray})
            print(f"[scale] round {i + 1}: 1 process {one['wall_s']} s, Ray 2 workers {ray['wall_s']} s",
                  file=sys.stderr)
    finally:
        if args.warm:
            _stop_ray_head()
    names = lst.read_text().splitlines()
    halves = [work / "half1.txt", work / "half2.txt"]
    half = len(names) // 2
    halves[0].write_text("\n".join(names[:half]) + "\n")
    halves[1].write_text("\n".join(names[half:]) + "\n")
    env = _child_env()
    t0 = time.time()
    procs = [subprocess.Popen([PY, __file__, "--child", "local", "--list", str(h), "--out", str(work / f"{h.stem}.jsonl"),
                               "--model", args.model], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
             for h in halves]
    if any(p.wait() != 0 for p in procs):
        raise SystemExit("the two plain processes failed")
    res["two_plain_processes_wall_s"] = round(time.time() - t0, 3)
    res["load_end"] = _load()
    print(f"[scale] two plain processes on halves: {res['two_plain_processes_wall_s']} s", file=sys.stderr)
    return res


def _repeat_lines(rep: dict) -> list[str]:
    import statistics

    def ms(xs: list[float]) -> str:
        return f"{statistics.mean(xs):.1f} ± {statistics.stdev(xs) if len(xs) > 1 else 0.0:.1f}"

    one = [r["1 process"]["wall_s"] for r in rep["rounds"]]
    ray = [r["Ray, 2 workers"]["wall_s"] for r in rep["rounds"]]
    su1 = [r["1 process"]["startup_s"] for r in rep["rounds"]]
    su2 = [r["Ray, 2 workers"]["startup_s"] + r["Ray, 2 workers"]["wall_s"] - r["Ray, 2 workers"]["run_s"]
           for r in rep["rounds"]]
    same = all(r["Ray, 2 workers"].get("same_lines_as_1_process") for r in rep["rounds"])
    wins = sum(b <= a for a, b in zip(one, ray, strict=True))
    warm = rep.get("warm", False)
    m1, m2, halves = statistics.mean(one), statistics.mean(ray), rep["two_plain_processes_wall_s"]
    if warm:
        title = "running Ray instance (`ray start --head`, started once before the rounds)"
        how = ("Ray with 2 workers submits each job to a Ray instance started once before the rounds "
               "(`ray start --head --num-cpus 2`, loopback), as on a cluster, where the instance is up before jobs "
               "arrive; a 32-file job ran on it first. The job still starts its own 2 Predictor actors (torch import, "
               "model loading) and connects as a new driver; only the Ray instance start-up is not in its wall time. "
               "The 1-process runs ran with that instance idle in the background.")
    else:
        title = "each Ray run starts its own local instance"
        how = "Ray with 2 workers starts its own local Ray instance and shuts it down at the end (the default of `--engine ray`)."
    lines = ["", f"### Repeated head-to-head: {rep['files']} files, {len(one)} rounds, {title}", "",
             f"Each round: one process, then Ray with 2 workers (batch {rep['batch_size']}), fresh processes, the "
             f"same files as above; then two plain single-process runs side by side on the two halves of the list "
             f"(the machine's ceiling for two processes). {how} Load average at start {rep['load_start']}, at end "
             f"{rep['load_end']}. Same lines as one process in every Ray run: **{'yes' if same else 'no'}**.", "",
             "| engine | wall per round (s) | mean ± std (s) | start-up mean (s) |", "|---|---|---|---:|",
             f"| 1 process | {', '.join(f'{x:.1f}' for x in one)} | {ms(one)} | {statistics.mean(su1):.1f} |",
             f"| Ray, 2 workers | {', '.join(f'{x:.1f}' for x in ray)} | {ms(ray)} | {statistics.mean(su2):.1f} |",
             f"| two plain processes, half the files each (ceiling) | {halves:.1f} | | |", "",
             f"Ray with 2 workers was not slower than one process in **{wins} of {len(one)}** rounds; on the mean "
             f"{m2:.1f} s vs {m1:.1f} s ({(m2 / m1 - 1) * 100:+.0f} %). Two plain processes on halves need "
             f"{halves:.1f} s: this machine runs two of these jobs side by side only {m1 / halves:.2f}x as fast as one "
             "(the single process already keeps a second core partly busy: Praat's pitch tracker in the speech "
             "check runs in 2 threads; and the cores share caches and memory bandwidth). Start-up (s) for Ray is "
             "start-up until the first result plus shutdown."]
    return lines


def _repeat_summary(cold: dict, warm: dict) -> list[str]:
    """The acceptance question in two lines: Ray with 2 workers vs one process, with and without Ray's start-up."""
    import statistics

    def means(rep: dict) -> tuple[float, float]:
        return (statistics.mean(r["1 process"]["wall_s"] for r in rep["rounds"]),
                statistics.mean(r["Ray, 2 workers"]["wall_s"] for r in rep["rounds"]))

    (c1, c2), (w1, w2) = means(cold), means(warm)
    return ["", f"**In short.** On {warm['files']:,} files, Ray with 2 workers on a running Ray instance took "
            f"{w2:.1f} s against {w1:.1f} s for one process ({(w2 / w1 - 1) * 100:+.0f} %); a job that also starts "
            f"and stops its own Ray instance took {c2:.1f} s against {c1:.1f} s ({(c2 / c1 - 1) * 100:+.0f} %). The "
            "difference is Ray's own start-up (its processes and Ray Data's helper actors, about 3-4 s here), paid "
            "once per instance: start the instance once (`ray start --head`, docs/scale.md) when several jobs run "
            "on one machine; on a cluster it is up before jobs arrive."]


# ----------------------------------------------------------------------------- evaluate
def bench_evaluate(args) -> dict:
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    res: dict = {"recipe": args.recipe, "overrides": args.eval_set, "load_start": _load(), "runs": {}}
    print(f"[scale] load at start {res['load_start']}", file=sys.stderr)
    env = _child_env()
    reports = {}
    for name, extra in (("sequential", []), ("Ray", ["--engine", "ray"])):
        js = work / f"eval_{'ray' if extra else 'seq'}.json"
        sets = [x for o in args.eval_set for x in ("--set", o)]
        cmd = [PY, "-m", "serkit", "evaluate", args.recipe, *sets, "--json", str(js), "--no-progress", *extra]
        t0 = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.time() - t0
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-3000:]}")
        rep = json.loads(js.read_text())
        reports[name] = rep
        res["runs"][name] = {"wall_s": round(wall, 1), "command": " ".join(["serkit", "evaluate", "RECIPE", *extra]),
                             "folds": len(rep["folds"]), "mean": rep.get("mean"), "std": rep.get("std"),
                             "protocol": f"{rep['corpus']} {rep['protocol_name']}, {rep['n_folds']} folds, "
                                         f"{len(rep['labels'])} classes"}
        print(f"[scale] {name}: {res['runs'][name]}", file=sys.stderr)
    a, b = ([(f["name"], f["scores"]) for f in reports[k]["folds"]] for k in ("sequential", "Ray"))
    res["same_fold_scores"] = a == b
    res["load_end"] = _load()
    return res


# ----------------------------------------------------------------------------- DDP
def bench_ddp(args) -> dict:
    """UA of one holdout fold trained in one process vs ``torchrun --nproc-per-node 2``, per seed."""
    import re

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    env = {**_child_env(), "OMP_NUM_THREADS": "1"}
    res: dict = {"recipe": args.ddp_recipe, "overrides": args.ddp_set, "load_start": _load(), "runs": []}
    sets = [x for o in args.ddp_set for x in ("--set", o)]
    for seed in range(args.seeds):
        for name, pre in (("1 process", [PY, "-m", "serkit"]),
                          ("DDP, 2 processes (gloo)", [PY, "-m", "torch.distributed.run", "--standalone",
                                                       "--nproc-per-node", "2", "-m", "serkit"])):
            out = work / f"ddp_{'single' if name.startswith('1') else 'ddp'}_s{seed}"
            cmd = [*pre, "train", args.ddp_recipe, *sets, "--set", f"train.seed={seed}", "--fold", "holdout",
                   "--out", str(out), "--no-progress"]
            t0 = time.time()
            r = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if r.returncode != 0:
                raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-3000:]}")
            ua = float(re.search(r"UA=([0-9.]+)", r.stdout).group(1))
            row = {"engine": name, "seed": seed, "ua": ua, "wall_s": round(time.time() - t0, 1),
                   "header": r.stdout.strip().splitlines()[-1].split(":")[0]}
            res["runs"].append(row)
            print(f"[scale] {row}", file=sys.stderr)
    res["load_end"] = _load()
    return res


# ----------------------------------------------------------------------------- docs
def write_docs(results: dict, docs: Path = DOCS) -> None:
    lines = [SECTION, "",
             "Commands: `python benchmarks/scale.py predict`, `... evaluate`, `... ddp` (each writes its part of "
             "this section and `docs/benchmarks.scale.json`; `... table` rewrites the section from the JSON). "
             "Machine: 2 CPU cores, no GPU, shared with other jobs. Every run held both CPU slots of the session "
             "(`/work/bin/cpu -x`, or `/work/bin/cpu /work/bin/cpu` where the 15-minute wait of `-x` for a load "
             "average below 1.5 could not fit the session); the load average at the start and end of each run is "
             "given beside its table: at a load above 2 other jobs shared the cores and wall times are inflated.", ""]
    pred = results.get("predict")
    if pred:
        lines += [f"### Batch prediction: {pred['files']} files, bundled default model", "",
                  f"Files: every EmoDB and RAVDESS clip, then LJSpeech clips ({pred['files']} files, read in place "
                  "through a `.txt` manifest). Each run is a fresh process. *Start-up* = imports, Ray start and "
                  "model loading until the first result; *steady* = files/s after it. "
                  f"Load average (1/5/15 min) at start {pred['load_start']}, at end {pred['load_end']}.", "",
                  "| engine | wall (s) | files/s end to end | start-up (s) | steady files/s | failed | same lines as 1 process |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for name, r in pred["runs"].items():
            same = "(reference)" if name == "1 process" else ("yes" if r.get("same_lines_as_1_process") else "**no**")
            lines.append(f"| {name} | {r['wall_s']:.1f} | {r['files_per_s']} | {r['startup_total_s']:.1f} | "
                         f"{r['steady_files_per_s']} | {r['failed']} | {same} |")
        lines += _verdict(pred)
        if results.get("repeat"):
            lines += ["", "One run is not enough to tell: run to run the walls vary by a few seconds (next table)."]
            lines += _repeat_lines(results["repeat"])
        if results.get("repeat_warm"):
            lines += _repeat_lines(results["repeat_warm"])
        if results.get("repeat") and results.get("repeat_warm"):
            lines += _repeat_summary(results["repeat"], results["repeat_warm"])
        est = results.get("cluster")
        if est:
            lines += ["", f"Per-file cost: {est['per_file_s'] * 1000:.1f} ms in one process, "
                      f"{est['per_file_ray_s'] * 1000:.1f} ms through Ray with one worker, so the Ray overhead is "
                      f"**{est['ray_overhead_per_file_s'] * 1000:.1f} ms per file** (hashing for resume, Ray's "
                      "scheduling and batching, results through the object store), plus the fixed start-up above.", "",
                      f"Estimate (a model from these figures, not a measurement): nodes of {est['cpus_per_node']} CPUs, "
                      f"one worker per CPU, each at the Ray per-file cost measured here; {est['archive_files']:,} "
                      f"files of this length; ${est['node_hour_usd']:.2f} per node-hour (an assumed on-demand price; "
                      "put in your own). Input and output on shared storage fast enough to keep up (at these rates "
                      "~0.1 MB of audio per file).", "",
                      "| nodes | workers | files/s | hours for the archive | cost (USD) |", "|---:|---:|---:|---:|---:|"]
            for r in est["rows"]:
                lines.append(f"| {r['nodes']} | {r['workers']} | {r['files_per_s']:,} | {r['hours_for_archive']} | "
                             f"{r['usd_for_archive']} |")
    ev = results.get("evaluate")
    if ev:
        lines += ["", f"### Fold-parallel evaluation: `{ev['recipe']}` with `{' '.join('--set ' + o for o in ev.get('overrides', []))}`", "",
                  f"Load average at start {ev['load_start']}, at end {ev['load_end']}. Fold scores of the two "
                  f"reports equal: **{'yes' if ev['same_fold_scores'] else 'no'}**.", "",
                  "| engine | command | protocol | UA mean ± std over folds | wall (s) |", "|---|---|---|---|---:|"]
        for name, r in ev["runs"].items():
            ua = f"{r['mean']['ua']:.3f} ± {r['std']['ua']:.3f}" if r.get("mean") and "ua" in r["mean"] else "-"
            lines.append(f"| {name} | `{r['command']}` | {r.get('protocol', '')} | {ua} | {r['wall_s']} |")
    dd = results.get("ddp")
    if dd:
        import statistics

        lines += ["", "### DDP training: one process vs `torchrun --nproc-per-node 2` (gloo)", "",
                  f"Recipe `{dd['recipe']}` with `{' '.join('--set ' + o for o in dd['overrides'])}`, trained "
                  "with `serkit train ... --fold holdout` (test speakers held out, never seen in training or model "
                  f"selection), one run per seed. Load average at start {dd['load_start']}, at end {dd['load_end']}. "
                  "The acceptance check is the UA (same recipe, same held-out speakers); the wall times only show "
                  "that on 2 shared cores a small model gains nothing from 2 processes (gloo all-reduce each step).",
                  "", "| engine | seeds | test UA per seed | UA mean ± std | wall per run (s) |", "|---|---|---|---|---:|"]
        for eng in dict.fromkeys(r["engine"] for r in dd["runs"]):
            rs = [r for r in dd["runs"] if r["engine"] == eng]
            uas = [r["ua"] for r in rs]
            sd = statistics.stdev(uas) if len(uas) > 1 else 0.0
            lines.append(f"| {eng} | {len(rs)} | {', '.join(f'{u:.3f}' for u in uas)} | "
                         f"{statistics.mean(uas):.3f} ± {sd:.3f} | {statistics.mean(r['wall_s'] for r in rs):.0f} |")
        if dd["runs"]:
            lines += ["", f"Protocol as printed by serkit: `{dd['runs'][0]['header']}`."]
    text = docs.read_text() if docs.exists() else "# Benchmarks\n"
    block = "\n".join(lines) + "\n"
    if SECTION in text:
        head, rest = text.split(SECTION, 1)
        nxt = rest.find("\n## ")
        text = head + block + (rest[nxt + 1:] if nxt >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    docs.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", nargs="?", choices=("predict", "repeat", "evaluate", "ddp", "table"), default="predict")
    ap.add_argument("--seeds", type=int, default=3, help="ddp: seeds per engine")
    ap.add_argument("--ddp-recipe", default="configs/default.yaml")
    ap.add_argument("--ddp-set", nargs="*", default=DDP_SET, help="ddp: recipe overrides")
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3, help="repeat: rounds of (1 process, Ray 2 workers)")
    ap.add_argument("--warm", action="store_true",
                    help="repeat: Ray runs use a Ray instance started once beforehand (ray start --head)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--model", default="default")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--work", default="/work/runs/scale/bench", help="scratch folder for outputs (not committed)")
    ap.add_argument("--recipe", default="configs/default.yaml", help="evaluate: recipe")
    ap.add_argument("--eval-set", nargs="*", default=EVAL_SET, help="evaluate: recipe overrides")
    ap.add_argument("--docs", default=str(DOCS), help="markdown file whose section is (re)written")
    ap.add_argument("--results", default=str(RESULTS), help="JSON file of all results (read, updated, written)")
    ap.add_argument("--child", choices=("local", "ray"), help=argparse.SUPPRESS)
    ap.add_argument("--list", help=argparse.SUPPRESS)
    ap.add_argument("--read-tasks", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args, _ = ap.parse_known_args()
    if args.child:
        args.workers = args.workers[0]
        (child_local if args.child == "local" else child_ray)(args)
        return
    res_path, docs = Path(args.results), Path(args.docs)
    results = json.loads(res_path.read_text()) if res_path.exists() else {}
    if args.what == "predict":
        results["predict"] = bench_predict(args)
        results["cluster"] = cluster_estimate(results["predict"])
    elif args.what == "repeat":
        results["repeat_warm" if args.warm else "repeat"] = bench_repeat(args)
    elif args.what == "evaluate":
        results["evaluate"] = bench_evaluate(args)
    elif args.what == "ddp":
        results["ddp"] = bench_ddp(args)
    res_path.write_text(json.dumps(results, indent=2) + "\n")
    write_docs(results, docs)
    print(f"wrote {docs} and {res_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
