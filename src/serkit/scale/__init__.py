"""Beyond one machine: Ray for batch prediction and fold-parallel evaluation.

- :func:`serkit.scale.ray_predict.predict_to_dir`: ``serkit predict --engine ray``, a Ray Data
  pipeline (list -> read/decode -> features + model -> write) with sharded, resumable JSONL
  output whose lines are exactly those of ``serkit predict --format json``.
- :func:`serkit.scale.cluster.ray_session`: connect to a cluster (``--ray-address`` /
  ``RAY_ADDRESS``) or start a local Ray instance, and shut down only what it started.

Ray is the optional extra ``serkit[scale]``: nothing here is imported by the default
single-process paths, and every function imports Ray inside, naming the extra when it is missing.
DDP training lives in the one training loop (:mod:`serkit.train.distributed`), not here.
"""

from __future__ import annotations
