"""Connect to a Ray cluster or start a local Ray instance for the duration of one job."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from serkit.errors import MissingDependencyError

log = logging.getLogger(__name__)


def import_ray() -> Any:
    """``import ray`` (and Ray Data), or a MissingDependencyError naming the ``scale`` extra."""
    try:
        import ray
        import ray.data  # noqa: F401 - the batch pipeline needs Ray Data, not only Ray core
    except ImportError:
        raise MissingDependencyError("ray[data]", "scale") from None
    return ray


def local_ray_options(num_cpus: int | None = None) -> dict[str, Any]:
    """``ray.init`` arguments of a local instance: loopback only, no dashboard, and workers that
    import the same serkit as this process (its source folder first on their ``PYTHONPATH``)."""
    import serkit

    src = str(Path(serkit.__file__).resolve().parents[1])
    path = os.pathsep.join([src, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]])
    return {"num_cpus": num_cpus, "include_dashboard": False, "_node_ip_address": "127.0.0.1",
            "runtime_env": {"env_vars": {"PYTHONPATH": path}}}


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None, quiet: bool = True) -> Iterator[Any]:
    """Ray, initialised for one job; shut down afterwards only if this call started it.

    Args:
        address: a running cluster (``ray://head:10001`` or ``head:6379``); None uses
            ``$RAY_ADDRESS``, and without that starts a local instance on 127.0.0.1
            (no dashboard) that ends with the job. ``"auto"`` joins the cluster this machine
            is a node of.
        num_cpus: CPUs of a local instance (default: all of this machine's).
        quiet: hide Ray's own progress bars and info logs (serkit shows its own bar).

    Yields:
        the ``ray`` module.

    Raises:
        MissingDependencyError: Ray is not installed (``pip install 'serkit[scale]'``).
    """
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        address = address or os.environ.get("RAY_ADDRESS") or None
        kw: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False} if quiet else {}
        if address:
            log.info("connecting to the Ray cluster at %s", address)
            ray.init(address=address, **kw)
        else:
            ray.init(**local_ray_options(num_cpus), **kw)
        started = True
    if quiet:
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"ray\.data")
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()
