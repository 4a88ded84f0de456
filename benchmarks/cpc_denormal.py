"""Seconds per CPC pretraining step with and without flushing subnormal floats (docs/cpc_card.md).

Run: python benchmarks/cpc_denormal.py /work/runs/lead/c12800/last.pt

Loads a pretraining state (``OUT/last.pt``: weights and Adam state, or any CPC checkpoint, then with a
fresh Adam), and times ``--steps`` Adam steps on a fixed random batch of 8 x 2 s, once per setting,
each in its own process (the flag is process-wide), on one thread. Prints seconds per step (median).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys


def _time_steps(state: str, flush: bool, steps: int) -> list[float]:
    import time

    import torch

    from serkit.models.checkpoint import load_checkpoint
    from serkit.train.cpc import info_nce

    torch.set_num_threads(1)
    torch.set_flush_denormal(flush)
    ck = load_checkpoint(state)
    m = ck.build_model()
    m.train()
    opt = torch.optim.Adam(m.parameters(), lr=2e-4)
    if "optimizer" in ck.extra:
        opt.load_state_dict(ck.extra["optimizer"])
    g = torch.Generator().manual_seed(0)
    w = torch.randn(8, 32000, generator=torch.Generator().manual_seed(1)) * 0.1
    lengths = torch.full((8,), 32000)
    out = []
    for _ in range(steps):
        t = time.perf_counter()
        z, c, n = m(w, lengths)
        loss = info_nce(z, c, m.predictors, n, negatives=50, generator=g)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
        out.append(time.perf_counter() - t)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("state", help="OUT/last.pt of serkit pretrain cpc (or a CPC checkpoint)")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--child", choices=["0", "1"], help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child is not None:
        print(json.dumps(_time_steps(a.state, a.child == "1", a.steps)))
        return 0
    import statistics

    for flush in ("0", "1"):
        out = subprocess.run([sys.executable, __file__, a.state, "--steps", str(a.steps), "--child", flush],
                             check=True, capture_output=True, text=True).stdout
        ts = json.loads(out.strip().splitlines()[-1])
        print(f"flush_denormal={flush == '1'}: {statistics.median(ts):.3f} s per step (median of {len(ts)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
