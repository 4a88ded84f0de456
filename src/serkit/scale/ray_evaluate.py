"""``serkit evaluate --engine ray``: folds (and seeds) of a recipe as Ray tasks, one report each.

The recipe -> utterances -> folds plan is made once on the driver (:func:`serkit.experiment.plan_experiment`,
the same function as the sequential run); every fold of every seed is one Ray task running
:func:`serkit.experiment.run_fold`; the driver merges the fold results with
:func:`serkit.experiment.report_of`. The report is therefore the one a sequential run gives (same
folds, predictions and scores; only wall times differ).

On a cluster, every node reads the corpora at the paths the driver resolved (shared storage) and
writes fold run folders into ``out_dir`` (shared storage too).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from serkit.config import ExperimentConfig
from serkit.errors import SerkitError
from serkit.eval.report import Report
from serkit.experiment import ExperimentPlan, FoldRun, plan_experiment, report_of, run_fold
from serkit.typing import PathLike

log = logging.getLogger(__name__)


def _fold_task(plan: ExperimentPlan, index: int, out_dir: str | None, resume: bool, threads: int) -> FoldRun:
    import torch

    torch.set_num_threads(max(1, threads))
    return run_fold(plan, index, out_dir=out_dir, progress=False, resume=resume)


def _absolute(plan: ExperimentPlan) -> ExperimentPlan:
    """Audio paths made absolute on the driver: Ray workers do not share its working folder."""
    if all(os.path.isabs(u.path) for u in plan.utts):
        return plan
    return plan.with_utterances([replace(u, path=os.path.abspath(u.path)) for u in plan.utts])


def run_experiments_ray(cfgs: Sequence[ExperimentConfig], *, data_root: PathLike | None = None,
                        out_dirs: Sequence[PathLike | None] | None = None, resume: bool = False,
                        progress: bool = True, address: str | None = None, cpus_per_task: float = 1.0) -> list[Report]:
    """Run recipes (e.g. one per seed) with every fold as a Ray task; one report per recipe.

    Args:
        cfgs: recipes; all their folds are submitted at once.
        data_root: overrides ``data.root``.
        out_dirs: run folder per recipe (fold checkpoints), or None.
        resume: continue neural folds from their ``last.pt``.
        progress: a progress bar over finished folds.
        address: Ray cluster; None uses ``$RAY_ADDRESS`` or starts a local instance.
        cpus_per_task: CPUs reserved by each fold task (also its torch threads).

    Returns:
        the reports, in the order of ``cfgs``; each equals the sequential run's.

    Raises:
        MissingDependencyError: Ray is not installed (``pip install 'serkit[scale]'``).
    """
    from tqdm.auto import tqdm

    from serkit.scale.cluster import ray_session

    outs = list(out_dirs) if out_dirs is not None else [None] * len(cfgs)
    plans = [_absolute(plan_experiment(c, data_root=data_root, progress=progress)) for c in cfgs]
    with ray_session(address) as ray:
        task = ray.remote(num_cpus=cpus_per_task, max_retries=1)(_fold_task)
        refs: list[list] = []
        for plan, out in zip(plans, outs, strict=True):
            pref = ray.put(plan)
            refs.append([task.remote(pref, i, str(Path(out).resolve()) if out else None, resume,
                                     int(cpus_per_task)) for i in range(len(plan.folds))])
        pending = [r for rs in refs for r in rs]
        try:
            with tqdm(total=len(pending), desc="folds (ray)", unit="fold", disable=not progress) as bar:
                while pending:
                    done, pending = ray.wait(pending, num_returns=1)
                    ray.get(done)  # a failed fold raises now, not after the others
                    bar.update(len(done))
            runs = [ray.get(rs) for rs in refs]
        except ray.exceptions.RayTaskError as e:
            for r in pending:
                ray.cancel(r)
            cause = e.cause if isinstance(getattr(e, "cause", None), Exception) else None
            if isinstance(cause, SerkitError):  # the fold's own error, as a sequential run raises it
                raise cause from None
            raise
    return [report_of(p, r) for p, r in zip(plans, runs, strict=True)]
