"""Load benchmark of ``serkit serve`` on loopback: latency, throughput, errors and server memory.

Starts ``serkit serve`` (bundled default model) on 127.0.0.1 in a subprocess, then for 1, 10 and
50 concurrent clients posts 3-second clips of real speech (pairs of the EmoDB clips in
tests/assets, 3.0 s each) for ``--seconds`` each, and reports latency percentiles (p50 / p95 /
p99 of answered requests), throughput (clips/s and audio seconds per second), failed requests,
and 503s (the deliberate answer of a full queue; the client waits ``Retry-After`` and sends the
same clip again, as a well-behaved client does). The run counts ``--memory-requests``
requests in all (10,000: the rows, then 50 clients until the count is reached) and reads the
resident memory of the server's processes (parent + uvicorn workers, from /proc) at the start
and the end, and every 1,000 requests in between.
Each phase stops by itself at its request bound or time bound, and the whole run at
``--max-total-seconds``.

Run it on a quiet machine, with both cores: ``/work/bin/cpu -x python benchmarks/serve_load.py``
(the load generator shares the 2 cores with the server; the figures include that).

Usage:
    python benchmarks/serve_load.py                  # writes the "## Service load" section
    python benchmarks/serve_load.py --seconds 5 --memory-requests 500 --out /tmp/b.md   # quick check
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import write_section  # noqa: E402  (benchmarks/ is not a package)

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Service load (serkit serve)"
CLIP_SECONDS = 3.0


def clips() -> list[tuple[str, bytes]]:
    """3.0 s WAV clips: each pair of the 1.5 s EmoDB test clips joined (real speech, 2 speakers)."""
    import soundfile as sf

    from serkit.testing import assets_dir

    names = sorted(p.name for p in assets_dir().glob("*.wav"))
    waves = {n: sf.read(assets_dir() / n, dtype="int16")[0] for n in names}
    out = []
    for a in names:
        for b in names:
            if a != b:
                x = np.concatenate([waves[a], waves[b]])[: int(CLIP_SECONDS * 16000)]
                if len(x) == int(CLIP_SECONDS * 16000):
                    buf = io.BytesIO()
                    sf.write(buf, x, 16000, format="WAV", subtype="PCM_16")
                    out.append((f"{a[:-4]}+{b[:-4]}.wav", buf.getvalue()))
    if not out:
        raise SystemExit("no 3 s clips could be built from tests/assets")
    return out


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants in MB (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                kids = (task / "children").read_text().split()
                todo += [int(k) for k in kids]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def phase(url: str, data: list[tuple[str, bytes]], clients: int, *, seconds: float, max_requests: int,
                on_done=None) -> dict:
    """``clients`` concurrent loops posting clips until ``seconds`` or ``max_requests`` answers."""
    import httpx

    lat: list[float] = []
    lat_total: list[float] = []  # including the Retry-After waits and resends
    status: dict[int, int] = {}
    failures: list[str] = []
    retries = 0
    done = 0
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        async def one(i: int) -> None:
            nonlocal retries, done
            k = i
            while time.monotonic() < stop_at and done < max_requests:
                name, body = data[k % len(data)]
                k += clients
                t_first = time.perf_counter()
                while True:
                    t = time.perf_counter()
                    try:
                        r = await http.post("/v1/predict?segments=false", files={"file": (name, body, "audio/wav")})
                    except httpx.HTTPError as e:
                        failures.append(f"{type(e).__name__}: {e}")
                        status[-1] = status.get(-1, 0) + 1
                        break
                    status[r.status_code] = status.get(r.status_code, 0) + 1
                    if r.status_code == 503 and "retry-after" in r.headers:
                        retries += 1
                        await asyncio.sleep(float(r.headers["retry-after"]))
                        continue
                    if r.status_code == 200 and r.json().get("label"):
                        lat.append(time.perf_counter() - t)
                        lat_total.append(time.perf_counter() - t_first)
                    else:
                        failures.append(f"{r.status_code}: {r.text[:200]}")
                    break
                done += 1
                if on_done:
                    on_done()

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(clients)))
        wall = time.perf_counter() - t0
    a = np.array(lat) * 1000 if lat else np.array([np.nan])
    b = np.array(lat_total) * 1000 if lat_total else np.array([np.nan])
    return {"clients": clients, "requests": done, "ok": len(lat), "failed": len(failures),
            "retried_503": retries, "status": {str(k): v for k, v in sorted(status.items())},
            "wall_s": round(wall, 2), "p50_ms": round(float(np.percentile(a, 50)), 1),
            "p95_ms": round(float(np.percentile(a, 95)), 1), "p99_ms": round(float(np.percentile(a, 99)), 1),
            "p95_with_retries_ms": round(float(np.percentile(b, 95)), 1),
            "clips_per_s": round(len(lat) / wall, 2), "audio_s_per_s": round(len(lat) * CLIP_SECONDS / wall, 1),
            "first_failures": failures[:3]}


def start_server(args, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "serkit.cli.main", "serve", "--model", args.model, "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(args.workers), "--queue-size", str(args.queue_size)]
    log = open(args.server_log, "w")  # noqa: SIM115 - lives as long as the server
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=log, start_new_session=True)


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    import httpx

    t0 = time.monotonic()
    ready = 0
    while ready < 3:  # several answers in a row: every worker has probably loaded by then
        if proc.poll() is not None or time.monotonic() - t0 > timeout:
            raise SystemExit(f"server did not become ready; see {proc.args}")
        try:
            ready = ready + 1 if httpx.get(f"{url}/readyz", timeout=5).status_code == 200 else 0
        except httpx.HTTPError:
            ready = 0
        time.sleep(0.5)


def to_markdown(rows: list[dict], mem: dict, meta: dict) -> str:
    lines = [SECTION, "",
             f"Command: `{meta['command']}`. Server: `serkit serve --workers {meta['workers']} --queue-size "
             f"{meta['queue_size']}` (bundled `{meta['model']}` model, 1 torch thread per worker) on 127.0.0.1; "
             f"the asyncio/httpx load generator runs on the same {meta['cpus']}-core machine ({meta['machine']}, "
             f"Python {meta['python']}), so both share the CPU. Load average (1 min) before the run: "
             f"{meta['load_start']}, after: {meta['load_end']}.",
             "",
             f"Each client posts a 3.0 s WAV clip (16 kHz, 16-bit; pairs of the EmoDB test clips) as multipart, "
             f"waits for the answer, and posts the next, for {meta['seconds']:g} s per row. Latency is from "
             "sending to the full JSON answer of requests answered 200 (a 503 + `Retry-After` is a deliberate "
             "refusal of a full queue: the client waits and resends; the p50/p95/p99 columns time the final "
             "attempt, the 'incl. 503 waits' column the whole exchange from the first attempt); "
             "'failed' counts every other outcome (connection errors, 4xx/5xx other than 503, answers without "
             "a label).",
             "",
             "| clients | requests | answered 200 | failed | 503 + Retry-After (resent) | p50 (ms) | p95 (ms) "
             "| p99 (ms) | p95 incl. 503 waits (ms) | clips/s | audio s/s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['clients']} | {r['requests']} | {r['ok']} | {r['failed']} | {r['retried_503']} | "
                     f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['p95_with_retries_ms']:.1f} | "
                     f"{r['clips_per_s']:.1f} | "
                     f"{r['audio_s_per_s']:.1f} |")
    change = 100 * (mem["end_mb"] - mem["start_mb"]) / mem["start_mb"]
    m = mem["top_up"]
    top = (f" (the rows above, then {m['requests']} more with 50 clients: {m['ok']} answered, {m['failed']} "
           f"failed, {m['retried_503']} 503s resent, p95 {m['p95_ms']:.1f} ms, {m['clips_per_s']:.1f} clips/s)"
           if m else " (the rows above)")
    lines += ["",
              f"Server memory (resident set of the parent and {meta['workers']} worker process(es), after the "
              f"warm-up) over {mem['requests']} requests{top}: **{mem['start_mb']:.0f} MB at the start, "
              f"{mem['end_mb']:.0f} MB at the end ({change:+.1f} %)**; every 1,000 requests: "
              + ", ".join(f"{v:.0f}" for v in mem["curve_mb"]) + " MB.",
              "", "Raw figures: `docs/benchmarks.serve_load.json`.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--queue-size", type=int, default=32, help="per worker (serkit serve --queue-size)")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    p.add_argument("--seconds", type=float, default=60.0, help="per concurrency level")
    p.add_argument("--max-requests", type=int, default=20000, help="per concurrency level")
    p.add_argument("--memory-requests", type=int, default=10000)
    p.add_argument("--max-total-seconds", type=float, default=1800.0, help="hard stop of the whole run")
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    p.add_argument("--json", default=None, help="raw figures (default: beside --out)")
    p.add_argument("--server-log", default="/tmp/serkit_serve_load_server.log")
    args = p.parse_args(argv)

    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(SystemExit("--max-total-seconds reached")))
    signal.alarm(int(args.max_total_seconds))
    load_start = os.getloadavg()[0]
    data = clips()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(args, port)
    try:
        wait_ready(url, proc)
        asyncio.run(phase(url, data, 4, seconds=5, max_requests=100))  # warm-up: every worker, every path
        # memory: from here over --memory-requests requests in all (the rows, then 50 clients until
        # the count is reached), read every 1,000 requests
        count = {"n": 0}
        curve = [rss_mb(proc.pid)]

        def tick() -> None:
            count["n"] += 1
            if count["n"] % 1000 == 0:
                curve.append(rss_mb(proc.pid))

        rows = []
        for c in args.clients:
            r = asyncio.run(phase(url, data, c, seconds=args.seconds, max_requests=args.max_requests,
                                  on_done=tick))
            print(json.dumps(r), flush=True)
            rows.append(r)
        rest = args.memory_requests - count["n"]
        m = None
        if rest > 0:
            m = asyncio.run(phase(url, data, 50, seconds=args.max_total_seconds, max_requests=rest, on_done=tick))
            print(json.dumps(m), flush=True)
        end_mb = rss_mb(proc.pid)
        total = count["n"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        signal.alarm(0)
    mem = {"start_mb": curve[0], "end_mb": end_mb, "curve_mb": curve, "requests": total, "top_up": m}
    cmd = "python benchmarks/serve_load.py" + ("" if argv is None and len(sys.argv) == 1 else " " + " ".join(
        argv if argv is not None else sys.argv[1:]))
    meta = {"command": cmd, "workers": args.workers, "queue_size": args.queue_size, "model": args.model,
            "cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
            "seconds": args.seconds, "load_start": f"{load_start:.2f}", "load_end": f"{os.getloadavg()[0]:.2f}"}
    out = Path(args.out)
    write_section(out, SECTION, to_markdown(rows, mem, meta))
    Path(args.json or out.with_name("benchmarks.serve_load.json")).write_text(
        json.dumps({"meta": meta, "rows": rows, "memory": mem}, indent=2) + "\n")
    print(f"wrote {out}; memory {curve[0]:.0f} -> {end_mb:.0f} MB over {total} requests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
