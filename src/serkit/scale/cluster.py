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
    """``ray.init`` arguments of a local instance: loopback only, no dashboard.

    No ``runtime_env``: a job-level runtime environment makes Ray start fresh worker processes for
    the job instead of handing it the workers it prestarted at ``ray.init``, which cost about 4 s
    of start-up on 2 cores (measured). The workers find this serkit through the environment they
    inherit instead (see :func:`init_local_ray`).
    """
    return {"num_cpus": num_cpus, "include_dashboard": False, "_node_ip_address": "127.0.0.1"}


def worker_pythonpath() -> str:
    """``PYTHONPATH`` under which Ray workers import the same serkit as this process (its source
    folder first, then the current ``PYTHONPATH``)."""
    import serkit

    src = str(Path(serkit.__file__).resolve().parents[1])
    return os.pathsep.join([src, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != src]])


def init_local_ray(num_cpus: int | None = None, **kwargs: Any) -> Any:
    """Start a local Ray instance whose workers import the same serkit as this process.

    The local Ray processes (raylet, and the workers it starts, prestarted ones included) inherit
    this process's environment at ``ray.init``, so ``PYTHONPATH`` is set for the duration of the
    call (and restored after) rather than passed as a ``runtime_env``.

    Args:
        num_cpus: CPUs of the instance (default: all of this machine's).
        **kwargs: further ``ray.init`` arguments (logging).

    Returns:
        what ``ray.init`` returns.
    """
    ray = import_ray()
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = worker_pythonpath()
    try:
        return ray.init(**local_ray_options(num_cpus), **kwargs)
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def stop_local_monitor(ray: Any) -> None:
    """Stop the autoscaler monitor of the local instance this process started, before ``ray.shutdown``.

    ``ray.shutdown`` stops the raylet and the GCS first and then sends the monitor SIGTERM; the
    monitor's handler tries to report its end to the GCS that is already gone, and shutdown waits
    a full second for it before killing it (measured: 1.00 of the 1.31 s of ``ray.shutdown``).
    A local instance of fixed size has nothing to autoscale, so the monitor is killed outright and
    shutdown takes 0.3 s. Does nothing when this process joined an instance it did not start (a
    cluster, or one started by ``ray start``: no processes of its own) or if Ray's internals differ
    from the ones this was written for (Ray 2.x: ``_global_node.all_processes``).
    """
    try:
        from ray._private import ray_constants

        node = ray._private.worker._global_node
        infos = node.all_processes.get(ray_constants.PROCESS_TYPE_MONITOR, []) if node is not None else []
    except (AttributeError, ImportError):  # pragma: no cover - another Ray version
        return
    for info in infos:
        if info.process.poll() is None:
            info.process.kill()
            info.process.wait(timeout=5)


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None, quiet: bool = True) -> Iterator[Any]:
    """Ray, initialised for one job; shut down afterwards only if this call started it.

    Args:
        address: a running cluster (``ray://head:10001`` or ``head:6379``); None uses
            ``$RAY_ADDRESS``, and without that joins the instance started on this machine with
            ``ray start`` (Ray's own lookup) or else starts a local instance on 127.0.0.1
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
            init_local_ray(num_cpus, **kw)
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
            stop_local_monitor(ray)  # a no-op unless this process started the instance
            ray.shutdown()
