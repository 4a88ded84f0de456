"""Wall time to extract features for a whole corpus with a cold and a warm cache.

Writes a Markdown table to docs/benchmarks.md (section "Feature extraction"). Run from the
repository root:

    python benchmarks/feature_extraction.py --corpus emodb --features egemaps compare logmel

Each feature set is extracted into a fresh temporary cache (cold: decode + extract + write),
then again from that cache (warm: content hash + read). The machine's load average is recorded
beside the numbers because the times are wall-clock times on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import write_section  # noqa: E402  (benchmarks/ is not a package)

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Feature extraction"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def run(corpus: str, names: list[str], data_root: str | None) -> list[dict]:
    """Time cold- and warm-cache extraction of each feature set over the whole corpus."""
    from serkit.config import FeatureConfig
    from serkit.data.corpora import load_corpus
    from serkit.features.extract import extract_features

    utts = load_corpus(corpus, root=data_root)
    audio_s = sum(u.duration or 0.0 for u in utts)
    rows = []
    for name in names:
        cfg = FeatureConfig(name=name)
        with tempfile.TemporaryDirectory(prefix="serkit-bench-") as cache:
            load0 = os.getloadavg()[0]
            t0, c0 = time.perf_counter(), time.process_time()
            feats, errors = extract_features(utts, cfg, cache_dir=cache, progress=True, desc=f"{name} cold")
            cold, cold_cpu = time.perf_counter() - t0, time.process_time() - c0
            t1 = time.perf_counter()
            extract_features(utts, cfg, cache_dir=cache, progress=False)
            warm = time.perf_counter() - t1
            load1 = os.getloadavg()[0]
        ok = [f for f in feats if f is not None]
        rows.append({"corpus": corpus, "features": name, "files": len(ok), "failed": len(errors),
                     "shape": "x".join(str(s) for s in ok[0].shape) if ok else "-",
                     "audio_min": audio_s / 60, "cold_s": cold, "cold_cpu_s": cold_cpu, "warm_s": warm,
                     "rtf": cold / audio_s if audio_s else float("nan"),
                     "load": f"{load0:.1f} / {load1:.1f}"})
        print(f"{name}: cold {cold:.1f} s (CPU {cold_cpu:.1f} s), warm {warm:.1f} s for {len(ok)} files")
    return rows


def to_markdown(rows: list[dict], command: str) -> str:
    """The section text."""
    lines = [
        SECTION,
        "",
        f"Command: `{command}` (threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
        f"CPU: {_cpu_name()}, {os.cpu_count()} cores shared with other jobs; Python {platform.python_version()}).",
        "Cold = decode + resample + extract + write into an empty cache; warm = the same call again "
        "(hash each file, read the cached array). Wall-clock seconds, plus the process's CPU "
        "seconds for the cold run, which depend less on other jobs; the load average (1 min, "
        "before / after) shows how busy the shared machine was. RTF = cold wall time / audio duration.",
        "",
        "| corpus | features | files | failed | shape (first file) | audio (min) | cold wall (s) | cold CPU (s) | warm wall (s) | cold RTF | load avg |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r['corpus']} | {r['features']} | {r['files']} | {r['failed']} | {r['shape']} | "
                     f"{r['audio_min']:.1f} | {r['cold_s']:.1f} | {r['cold_cpu_s']:.1f} | {r['warm_s']:.1f} | {r['rtf']:.3f} | {r['load']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Command-line entry."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="emodb")
    ap.add_argument("--features", nargs="+", default=["egemaps", "compare"])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = ap.parse_args()
    rows = run(args.corpus, args.features, args.data_root)
    cmd = f"python benchmarks/feature_extraction.py --corpus {args.corpus} --features {' '.join(args.features)}"
    write_section(args.out, SECTION, to_markdown(rows, cmd))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
