"""``--engine`` options shared by ``serkit predict`` and ``serkit evaluate`` (Ray, ``serkit[scale]``).

Only argument parsing and printing live here; the work is in :mod:`serkit.scale`. Nothing here
imports Ray unless ``--engine ray`` is given.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

ENGINES = ("local", "ray")


def _add_cluster_arguments(g) -> None:
    g.add_argument("--engine", choices=ENGINES, default="local",
                   help="local: this process (default); ray: a Ray cluster or a local Ray instance "
                        "(pip install 'serkit[scale]')")
    g.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="Ray cluster to join (ray://HEAD:10001, HEAD:6379 or auto; default $RAY_ADDRESS, "
                        "else the instance started on this machine by `ray start`, else a local Ray "
                        "instance that ends with the command)")


def add_predict_engine_arguments(p: argparse.ArgumentParser) -> None:
    """``--engine ray`` and its worker options for ``serkit predict``."""
    g = p.add_argument_group("distributed prediction (--engine ray: --out is a folder of JSONL shards, resumable)")
    _add_cluster_arguments(g)
    g.add_argument("--num-workers", type=int, default=1, metavar="N", help="model replicas (Ray actors; default 1)")
    g.add_argument("--batch-size", type=int, default=16, metavar="N", help="files per Ray batch (default 16)")
    g.add_argument("--cpus-per-worker", type=float, default=1.0, metavar="N",
                   help="CPUs reserved by each worker, also its torch threads (default 1)")
    g.add_argument("--gpus-per-worker", type=float, default=0.0, metavar="N",
                   help="GPUs reserved by each worker; > 0 runs its model on cuda (default 0)")
    g.add_argument("--shard-size", type=int, default=1000, metavar="N", help="JSON lines per output shard (default 1000)")
    g.add_argument("--read-tasks", action="store_true",
                   help="decode files in separate Ray tasks in front of the workers (overlaps I/O with the model; "
                        "default: each worker decodes its own files, cheaper on CPU nodes)")


def run_ray_predict(args: argparse.Namespace, inputs: list[tuple[str, str | None]],
                    predictor_kwargs: dict[str, Any]) -> int:
    """``serkit predict --engine ray``: JSONL shards in ``--out``; exit code 1 if any file failed.

    ``inputs`` are ``expand_inputs``' ``(path, error)`` pairs: an input that names no file (an empty
    folder, a pattern without matches) is reported here and is not part of the job.
    """
    from serkit.errors import ConfigError
    from serkit.scale.ray_predict import predict_to_dir

    if not args.out:
        raise ConfigError("--engine ray writes JSONL shards into a folder; pass --out DIR")
    if args.format != "json" and args.format != "table":
        raise ConfigError(f"--engine ray writes JSON lines (the fields of --format json), not {args.format}; "
                          "drop --format or pass --format json")
    if args.paths == ["-"]:
        raise ConfigError("--engine ray predicts files; a stream on stdin runs with the default --engine local")
    if getattr(args, "speaker_from", None) or getattr(args, "speaker_map", None):
        raise ConfigError("speaker adaptation (--speaker-from/--speaker-map) reads each speaker's files together; "
                          "--engine ray predicts files independently: use the default --engine local for it")
    if args.segments:
        raise ConfigError("--segments shapes table/csv rows; the JSON lines of --engine ray always hold the segments")
    files = [p for p, err in inputs if err is None]
    for _, err in inputs:
        if err is not None:
            print(f"serkit predict: {err}", file=sys.stderr)
    s = predict_to_dir(files, args.out, model=args.model, predictor_kwargs=predictor_kwargs,
                       num_workers=args.num_workers, batch_size=args.batch_size,
                       cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker,
                       shard_size=args.shard_size, address=args.ray_address,
                       read_in_workers=not args.read_tasks)
    print(f"serkit predict: {s.written} files written to {args.out} ({len(s.shards)} shards), "
          f"{s.skipped} already there, {s.failed} failed; {s.wall_time_s:.1f} s", file=sys.stderr)
    return 1 if s.failed or len(files) < len(inputs) else 0


def add_evaluate_engine_arguments(p: argparse.ArgumentParser) -> None:
    """``--engine ray``, ``--seeds`` and task resources for ``serkit evaluate``."""
    g = p.add_argument_group("seeds and fold-parallel evaluation (--engine ray: every fold of every seed is a Ray task)")
    _add_cluster_arguments(g)
    g.add_argument("--seeds", type=int, default=1, metavar="N",
                   help="run the recipe with train.seed, train.seed+1, ... (N runs on the same folds); one report "
                        "per seed (--json OUT writes OUT.seed<S>.json) and the mean ± std over seeds (default 1)")
    g.add_argument("--cpus-per-task", type=float, default=1.0, metavar="N",
                   help="--engine ray: CPUs reserved by each fold task, also its torch threads (default 1)")


def seed_summary(reports: list, seeds: list[int]) -> str:
    """One line per metric: mean ± std over seeds of the reports' fold means, with the protocol."""
    import numpy as np

    r0 = reports[0]
    lines = [f"{len(reports)} seeds (train.seed {seeds}); {r0.header().splitlines()[0]}"]
    for m in r0.metric_names:
        v = np.array([r.mean()[m] for r in reports], dtype=float)
        lines.append(f"  {m}: {v.mean():.4f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.4f} "
                     f"(mean ± std over {len(v)} seeds of the {len(r0.folds)}-fold means)")
    return "\n".join(lines)
