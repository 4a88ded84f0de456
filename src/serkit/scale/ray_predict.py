"""``serkit predict --engine ray``: batch prediction of an archive with a Ray Data pipeline.

Pipeline (one Ray Data dataset, streamed)::

    list (driver)  ->  read/decode + features + model (a pool of Ray actors, one Predictor
    each)  ->  write (driver: sharded JSONL + an index for resume)

With ``read_in_workers=False`` (``--read-tasks``) read/decode runs as separate Ray tasks in front
of the actors, which overlaps I/O with the model (worth it with GPU workers and slow storage); on
CPU nodes it costs more, because every decoded file then crosses Ray's object store.

- **Same lines as one process.** Each file is read with
  :func:`serkit.data.audio.stream` exactly as :meth:`Predictor.predict_file` does, and the actors
  call :meth:`Predictor.predict_blocks` on those blocks, so each output line equals the line of
  ``serkit predict --format json`` for that file (same fields, labels and scores). Lines come
  in completion order, not input order.
- **Resumable.** Each finished file is listed by absolute path and SHA-256 of its bytes in
  ``OUT/.serkit-index/<shard>.tsv``. A re-run lists the inputs again, and a file whose path and
  content hash are in the index is skipped, so every file is written exactly once however often
  the job is interrupted. A file whose content changed is predicted again (its new line is in a
  newer shard). Shards are written whole (temporary name, then rename) and the index after its
  shard; a shard left without index by a crash between the two renames is removed on the next
  run and its files are predicted again.
- **Errors never stop the job.** A file that cannot be read, decoded or classified gets
  ``{"file", "error"}`` as in the single-process path; the others go on.

The decode stage passes decoded audio through Ray's object store (a one-hour file is 230 MB of
float32); features and model share one actor, because segments of different lengths are padded
per batch inside the Predictor.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serkit.errors import ConfigError
from serkit.typing import PathLike

if TYPE_CHECKING:
    from serkit.inference import Predictor

log = logging.getLogger(__name__)

INDEX_DIR = ".serkit-index"
SHARD_PREFIX = "part-"
_HASH_CHUNK = 1 << 20


@dataclass
class RayPredictSummary:
    """What one ``predict_to_dir`` run did.

    Attributes:
        total: input files listed.
        written: files predicted and written in this run (errors included).
        failed: of those, files written as ``{file, error}``.
        skipped: files already in the output (same path and content hash).
        shards: shard files written in this run.
        wall_time_s: wall time of the run, Ray start-up included.
        startup_s: wall time until the first result reached the driver (Ray start, model
            loading in the workers, the first batch).
    """

    total: int = 0
    written: int = 0
    failed: int = 0
    skipped: int = 0
    shards: list[str] = field(default_factory=list)
    wall_time_s: float = 0.0
    startup_s: float = 0.0


def file_sha256(path: PathLike) -> str:
    """SHA-256 of a file's bytes (hex), read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_HASH_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def read_index(out_dir: PathLike) -> dict[str, set[str]]:
    """Files already written to ``out_dir``: ``{absolute path: {sha256, ...}}``.

    Also tidies what an interrupted run left: temporary files, and shards whose index was not
    written (their files will be predicted again).
    """
    out = Path(out_dir)
    idx = out / INDEX_DIR
    done: dict[str, set[str]] = {}
    for tmp in [*out.glob(".*.tmp"), *idx.glob(".*.tmp")]:
        tmp.unlink(missing_ok=True)
    for shard in sorted(out.glob(f"{SHARD_PREFIX}*.jsonl")):
        entry = idx / (shard.stem + ".tsv")
        if not entry.is_file():
            log.warning("%s: no index (interrupted while it was written); its files are predicted again", shard)
            shard.unlink()
            continue
        for line in entry.read_text(encoding="utf-8").splitlines():
            if "\t" in line:
                path, sha = line.split("\t", 1)
                done.setdefault(path, set()).add(sha)
    return done


class _ShardWriter:
    """Writes result lines in whole shards (temporary name, rename), then their index entries."""

    def __init__(self, out_dir: Path, *, shard_size: int, flush_seconds: float) -> None:
        self.out, self.idx = out_dir, out_dir / INDEX_DIR
        self.idx.mkdir(parents=True, exist_ok=True)
        self.run = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self.shard_size, self.flush_seconds = shard_size, flush_seconds
        self.lines: list[str] = []
        self.keys: list[str] = []
        self.shards: list[str] = []
        self.t_last = time.monotonic()

    def add(self, line: str, key: str, sha: str) -> None:
        self.lines.append(line)
        self.keys.append(f"{key}\t{sha}")
        if len(self.lines) >= self.shard_size or time.monotonic() - self.t_last > self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        self.t_last = time.monotonic()
        if not self.lines:
            return
        name = f"{SHARD_PREFIX}{self.run}-{len(self.shards):05d}"
        shard, entry = self.out / f"{name}.jsonl", self.idx / f"{name}.tsv"
        for dest, rows in ((shard, self.lines), (entry, self.keys)):  # shard first: see the module doc
            tmp = dest.parent / f".{dest.name}.tmp"
            with tmp.open("w", encoding="utf-8") as f:
                f.write("\n".join(rows) + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, dest)
        self.shards.append(str(shard))
        self.lines, self.keys = [], []


# ----------------------------------------------------------------------------- pipeline stages
def _decode_one(path: str, prev: str) -> tuple[str, str, str, list[np.ndarray]]:
    """Hash one file, skip it if already written, else decode it into blocks.

    Returns:
        (sha, status, error, blocks): status ``todo``, ``skip`` or ``error``.
    """
    from serkit.data import audio
    from serkit.inference import FILE_BLOCK_SECONDS, FILE_ERRORS, error_record

    try:
        sha = file_sha256(path)
    except OSError:
        sha = ""  # unreadable (no content hash: tried again by the next run); decoding
        # below raises the same error message as serkit predict
    if sha and sha in str(prev).split(","):
        return sha, "skip", "", []
    try:
        blocks = list(audio.stream(path, block_seconds=FILE_BLOCK_SECONDS))
    except FILE_ERRORS as e:
        return sha, "error", error_record(path, e)["error"], []
    return sha, "todo", "", blocks


def _read_decode(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Ray task: hash each file, skip the ones already written, decode the rest into blocks."""
    n = len(batch["path"])
    sha, status, error = [""] * n, ["todo"] * n, [""] * n
    waves: list[np.ndarray] = [np.zeros(0, np.float32)] * n
    lens: list[np.ndarray] = [np.zeros(0, np.int64)] * n
    for i, (path, prev) in enumerate(zip(batch["path"], batch["prev"], strict=True)):
        sha[i], status[i], error[i], blocks = _decode_one(str(path), str(prev))
        if blocks:
            waves[i] = np.concatenate(blocks)
            lens[i] = np.array([len(b) for b in blocks], dtype=np.int64)
    return {"path": batch["path"], "key": batch["key"], "sha": np.array(sha), "status": np.array(status),
            "error": np.array(error), "wave": _objects(waves), "block_lengths": _objects(lens)}


def _objects(arrays: Sequence[Any]) -> np.ndarray:
    out = np.empty(len(arrays), dtype=object)
    out[:] = arrays
    return out


class _PredictWorker:
    """Ray actor: one Predictor, loaded once; decoded blocks -> the JSON line of each file."""

    model: str = "default"
    predictor_kwargs: dict[str, Any] = {}  # noqa: RUF012 - set per job by _worker_class

    predictor: Predictor

    def __init__(self) -> None:
        # here, not at the top: the driver never imports torch
        from serkit.inference import Predictor

        self.predictor = Predictor.load(self.model, **self.predictor_kwargs)

    def _line(self, path: str, status: str, error: str, blocks: list[np.ndarray]) -> tuple[str, bool]:
        from serkit.inference import FILE_ERRORS, error_record, result_json

        r: dict[str, Any] | None = None
        if status == "error":
            r = {"file": path, "error": error}
        elif status != "skip":
            try:
                r = self.predictor.predict_blocks(blocks, file=path)
            except FILE_ERRORS as e:
                r = error_record(path, e)
        return (result_json(r) if r is not None else ""), (r is not None and "error" in r)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        lines, failed = [], []
        if "wave" not in batch:  # read in the worker: hash, decode and predict in one place
            shas, statuses = [], []
            for path, prev in zip(batch["path"], batch["prev"], strict=True):
                sha, status, error, blocks = _decode_one(str(path), str(prev))
                line, bad = self._line(str(path), status, error, blocks)
                shas.append(sha)
                statuses.append(status)
                lines.append(line)
                failed.append(bad)
            return {"key": batch["key"], "sha": np.array(shas), "status": np.array(statuses),
                    "line": _objects(lines), "failed": np.array(failed, dtype=bool)}
        for path, status, error, wave, lens in zip(batch["path"], batch["status"], batch["error"],
                                                   batch["wave"], batch["block_lengths"], strict=True):
            blocks = (np.split(np.asarray(wave, dtype=np.float32), np.cumsum(np.asarray(lens))[:-1])
                      if status == "todo" else [])
            line, bad = self._line(str(path), str(status), str(error), blocks)
            lines.append(line)
            failed.append(bad)
        return {"key": batch["key"], "sha": batch["sha"], "status": batch["status"],
                "line": _objects(lines), "failed": np.array(failed, dtype=bool)}


def _worker_class(model: str, predictor_kwargs: dict[str, Any]) -> type[_PredictWorker]:
    # settings as class attributes, not constructor arguments: Ray keeps constructor arguments
    # in the object store and warns that restarting a lost actor may then fail
    return type("PredictWorker", (_PredictWorker,), {"model": model, "predictor_kwargs": predictor_kwargs})


# ----------------------------------------------------------------------------- driver
def predict_to_dir(files: Sequence[str], out_dir: PathLike, *, model: str = "default",
                   predictor_kwargs: dict[str, Any] | None = None, num_workers: int = 1, batch_size: int = 16,
                   cpus_per_worker: float = 1.0, gpus_per_worker: float = 0.0, read_cpus: float = 0.0,
                   shard_size: int = 1000, flush_seconds: float = 60.0, address: str | None = None,
                   read_in_workers: bool = True, progress: bool = True) -> RayPredictSummary:
    """Predict many files with Ray and write sharded JSONL to ``out_dir`` (resumable).

    Args:
        files: audio files (the listing of folders, globs and manifests, as
            ``serkit predict`` expands them). Relative paths must resolve the same way on
            every Ray node (absolute paths on shared storage on a cluster).
        out_dir: output folder: ``part-*.jsonl`` shards and the ``.serkit-index`` of written files.
        model: bundled name, run folder, checkpoint or ``.onnx`` file (readable by every node).
        predictor_kwargs: ``segment``, ``transcribe``, ... of :meth:`Predictor.load`.
        num_workers: Predictor actors (model replicas).
        batch_size: files per batch handed to a read task or an actor.
        cpus_per_worker: CPUs reserved by each actor (also its torch threads, at least 1).
        gpus_per_worker: GPUs reserved by each actor (0 = CPU); a GPU worker runs its model on ``cuda``.
        read_cpus: CPUs reserved by each read/decode task. The default 0 lets decoding run beside
            actors that reserve every CPU (as ``--num-workers 2`` does on 2 cores); a positive
            value with actors holding all CPUs would leave the decode tasks waiting forever. At
            most ``num_workers`` decode tasks run at once.
        shard_size: lines per shard; a shard is also closed every ``flush_seconds``.
        flush_seconds: longest time a finished result waits in memory before it is written.
        address: Ray cluster; None uses ``$RAY_ADDRESS`` or starts a local instance.
        read_in_workers: decode each file inside the Predictor actor that classifies it (default:
            no decoded audio crosses Ray's object store, the cheapest on CPU nodes); False runs
            read/decode as separate Ray tasks (overlaps I/O with the model, e.g. for GPU workers
            fed from slow storage).
        progress: progress bar over the listed files.

    Returns:
        counts and shard names of this run.

    Raises:
        ConfigError: bad worker settings.
        MissingDependencyError: Ray is not installed (``pip install 'serkit[scale]'``).
    """
    from tqdm.auto import tqdm

    from serkit.scale.cluster import ray_session

    if num_workers < 1 or batch_size < 1 or shard_size < 1:
        raise ConfigError(f"--num-workers, --batch-size and shard size must be >= 1, got {num_workers}, "
                          f"{batch_size}, {shard_size}")
    if cpus_per_worker <= 0 or gpus_per_worker < 0 or read_cpus < 0:
        raise ConfigError(f"--cpus-per-worker must be > 0 and --gpus-per-worker, read CPUs >= 0, got "
                          f"{cpus_per_worker}, {gpus_per_worker}, {read_cpus}")
    t0 = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done = read_index(out)
    summary = RayPredictSummary(total=len(files))
    if not files:
        return summary
    kw = dict(predictor_kwargs or {})
    kw.setdefault("threads", max(1, int(cpus_per_worker)))
    if gpus_per_worker > 0:
        kw.setdefault("device", "cuda")
    model_ref = model if str(model) in ("default",) or not Path(model).exists() else str(Path(model).resolve())
    rows = []
    for f in files:
        key = os.path.abspath(f)
        rows.append({"path": str(f), "key": key, "prev": ",".join(sorted(done.get(key, ())))})
    writer = _ShardWriter(out, shard_size=shard_size, flush_seconds=flush_seconds)
    with ray_session(address) as ray:
        blocks = min(len(rows), max(2 * num_workers, -(-len(rows) // batch_size)))
        ds = ray.data.from_items(rows, override_num_blocks=blocks)
        if not read_in_workers:
            # at most one decode task per worker at a time: tasks that reserve no CPU are otherwise not
            # limited by Ray, which then starts a process per pending batch
            ds = ds.map_batches(_read_decode, batch_size=batch_size, num_cpus=read_cpus, batch_format="numpy",
                                compute=ray.data.TaskPoolStrategy(size=max(1, num_workers)))
        ds = ds.map_batches(_worker_class(model_ref, kw), batch_size=batch_size,
                            compute=ray.data.ActorPoolStrategy(size=num_workers), num_cpus=cpus_per_worker,
                            num_gpus=gpus_per_worker or None, batch_format="numpy")
        bar = tqdm(total=len(rows), desc="predict (ray)", unit="file", disable=not progress)
        try:
            for b in ds.iter_batches(batch_size=None, batch_format="numpy"):
                if not summary.startup_s:
                    summary.startup_s = round(time.time() - t0, 2)
                for key, sha, status, line, failed in zip(b["key"], b["sha"], b["status"], b["line"], b["failed"],
                                                          strict=True):
                    if status == "skip":
                        summary.skipped += 1
                    else:
                        writer.add(str(line), str(key), str(sha) or "-")
                        summary.written += 1
                        summary.failed += bool(failed)
                bar.update(len(b["key"]))
                bar.set_postfix(failed=summary.failed, skipped=summary.skipped)
        finally:
            writer.flush()  # results already computed are kept when the job is interrupted
            bar.close()
    summary.shards = writer.shards
    summary.wall_time_s = round(time.time() - t0, 2)
    return summary
