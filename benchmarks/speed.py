"""CPU inference speed of the bundled default model vs a wav2vec2-base-sized encoder.

Measures, end to end from audio file to a JSON line on disk (the work of ``serkit predict
--format json``, model loading excluded and reported separately):

- real-time factor RTF = processing time / audio duration (wall clock, and CPU time of the
  process, which is the fairer figure on a machine shared with other jobs),
- files per second on short clips,
- peak resident memory (``ru_maxrss`` of a fresh subprocess per measurement, torch included),

for the default model run by torch, by ONNX Runtime (fp32) and by ONNX Runtime (int8 dynamic
quantisation), and for the reference users would otherwise run: a randomly initialised
``transformers.Wav2Vec2Model(Wav2Vec2Config())`` (the wav2vec2-base size, 95 M parameters) with
mean pooling and a linear head, on exactly the same VAD segments. A one-hour recording (corpus
clips joined with silences) measures long-file RTF and memory.

Usage:
    python benchmarks/speed.py                       # writes the "## Inference speed" section
    python benchmarks/speed.py --clips 50 --long-minutes 10 --out /tmp/bench.md   # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import write_section  # noqa: E402  (benchmarks/ is not a package)

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Inference speed"


# ----------------------------------------------------------------------------- child process
def _w2v2_predictor(labels, threads):
    import numpy as np
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    from serkit.config import FeatureConfig
    from serkit.inference import Predictor

    torch.manual_seed(0)
    enc = Wav2Vec2Model(Wav2Vec2Config()).eval()  # wav2vec2-base size, random weights
    head = torch.nn.Linear(enc.config.hidden_size, len(labels)).eval()

    def backend(x, lengths):
        with torch.inference_mode():
            w = torch.from_numpy(x)
            mask = (torch.arange(w.shape[1]).unsqueeze(0) < torch.from_numpy(lengths).unsqueeze(1)).long()
            h = enc(w, attention_mask=mask).last_hidden_state  # (B, T', 768)
            n = enc._get_feat_extract_output_lengths(torch.from_numpy(lengths))
            valid = (torch.arange(h.shape[1]).unsqueeze(0) < n.unsqueeze(1)).unsqueeze(-1).to(h)
            pooled = (h * valid).sum(1) / n.unsqueeze(1).to(h)  # (B, 768)
            return torch.softmax(head(pooled), -1).numpy().astype(np.float32), None

    n_params = sum(p.numel() for p in enc.parameters())
    return Predictor(backend, FeatureConfig(name="raw"), labels, threads=threads, name="wav2vec2-base"), n_params


def child(args) -> None:
    """Load one model, predict the listed files to a JSONL file, print timings as JSON."""
    import torch

    torch.set_num_threads(args.threads)
    from serkit.inference import Predictor

    t0 = time.perf_counter()
    n_params = None
    if args.child == "w2v2":
        labels = Predictor.load("default").label_names
        pred, n_params = _w2v2_predictor(labels, args.threads)
    elif args.child == "torch":
        pred = Predictor.load("default", threads=args.threads)
        n_params = sum(p.numel() for p in pred.backend.model.parameters())
    else:
        pred = Predictor.load(args.model, threads=args.threads)
    load_s = time.perf_counter() - t0
    files = Path(args.files).read_text().split("\n")
    files = [f for f in files if f]
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # warm-up on the first file (allocators, lazy kernels), not timed
    list(pred.predict_batch(files[:1]))
    c0, t0 = time.process_time(), time.perf_counter()
    dur, n_seg, errors = 0.0, 0, 0
    with open(args.jsonl, "w", encoding="utf-8") as f:
        for r in pred.predict_batch(files):
            f.write(json.dumps(r) + "\n")
            if "error" in r:
                errors += 1
                continue
            dur += r["duration"]
            n_seg += len(r["segments"])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "audio_s": dur, "files": len(files), "segments": n_seg,
                      "errors": errors, "load_s": load_s, "rss_loaded_mb": rss_loaded,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "params": n_params}))


# ----------------------------------------------------------------------------- parent
def _clips(n: int, data_root: Path) -> list[str]:
    """n clips alternating EmoDB and RAVDESS (sorted, deterministic)."""
    emo = sorted((data_root / "emodb" / "wav").glob("*.wav"))
    rav = sorted((data_root / "ravdess" / "wav").glob("Actor_*/*.flac"))
    out = []
    for a, b in zip(emo, rav[:: max(1, len(rav) // len(emo))], strict=False):
        out += [str(a), str(b)]
    return out[:n]


def _long_file(path: Path, minutes: float, data_root: Path) -> Path:
    """EmoDB clips joined with 1.5 s silences, written block-wise (16 kHz PCM16)."""
    import numpy as np
    import soundfile as sf

    clips = sorted((data_root / "emodb" / "wav").glob("*.wav"))
    total = int(minutes * 60 * 16000)
    gap = np.zeros(24000, np.int16)
    written, i = 0, 0
    with sf.SoundFile(path, "w", 16000, 1, subtype="PCM_16") as f:
        while written < total:
            x = np.concatenate([gap, sf.read(clips[i % len(clips)], dtype="int16")[0]])[: total - written]
            f.write(x)
            written += len(x)
            i += 1
    return path


def _run(kind: str, files: list[str], tmp: Path, threads: int, model: str | None = None) -> dict:
    lst = tmp / f"{kind}-{len(files)}.txt"
    lst.write_text("\n".join(files))
    cmd = [sys.executable, __file__, "--child", kind, "--files", str(lst), "--jsonl", str(tmp / f"{kind}.jsonl"),
           "--threads", str(threads)] + (["--model", model] if model else [])
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}"
           + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode:
        raise RuntimeError(f"{kind} failed:\n{out.stderr[-3000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["rtf_wall"] = r["wall_s"] / r["audio_s"]
    r["rtf_cpu"] = r["cpu_s"] / r["audio_s"]
    r["files_per_s"] = r["files"] / r["wall_s"]
    print(f"{kind:>10} {len(files):>4} files {r['audio_s']:8.1f} s audio: RTF wall {r['rtf_wall']:.5f} "
          f"cpu {r['rtf_cpu']:.5f}, {r['files_per_s']:.1f} files/s, peak {r['peak_rss_mb']:.0f} MB", flush=True)
    return r


def main(argv=None) -> int:
    """Command line."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--files", default=None, help=argparse.SUPPRESS)
    p.add_argument("--jsonl", default=None, help=argparse.SUPPRESS)
    p.add_argument("--model", default=None, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help="threads per stream (default 1)")
    p.add_argument("--clips", type=int, default=200, help="short clips for files/s and clip RTF")
    p.add_argument("--w2v2-clips", type=int, default=40, help="clips for the wav2vec2-base reference")
    p.add_argument("--long-minutes", type=float, default=60.0, help="length of the long recording")
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    a = p.parse_args(argv)
    if a.child:
        child(a)
        return 0
    sys.path.insert(0, str(ROOT / "src"))
    from serkit.data.corpora import find_data_root
    from serkit.export import export_onnx
    from serkit.inference import bundled_dir

    data_root = find_data_root(a.data_root)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        onnx32 = export_onnx(bundled_dir() / "model.pt", tmp / "model.onnx")
        onnx8 = export_onnx(bundled_dir() / "model.pt", tmp / "model.int8.onnx", int8=True)
        clips = _clips(a.clips, data_root)
        long = str(_long_file(tmp / "long.wav", a.long_minutes, data_root))
        load = os.getloadavg()
        res = {}
        for kind, model in (("torch", None), ("onnx_fp32", str(onnx32)), ("onnx_int8", str(onnx8))):
            res[kind] = {"clips": _run(kind, clips, tmp, a.threads, model),
                         "long": _run(kind, [long], tmp, a.threads, model)}
        res["w2v2"] = {"clips": _run("w2v2", clips[: a.w2v2_clips], tmp, a.threads)}
        # the default model on the same clip subset as the reference, for the speed ratio
        same = _run("torch", clips[: a.w2v2_clips], tmp, a.threads)
        load_after = os.getloadavg()
        sizes = {"torch": (bundled_dir() / "model.pt").stat().st_size, "onnx_fp32": onnx32.stat().st_size,
                 "onnx_int8": onnx8.stat().st_size}
    names = {"torch": "default, torch", "onnx_fp32": "default, ONNX Runtime fp32",
             "onnx_int8": "default, ONNX Runtime int8"}
    rows = []
    for k in ("torch", "onnx_fp32", "onnx_int8"):
        c, lg = res[k]["clips"], res[k]["long"]
        rows.append(f"| {names[k]} | {sizes[k] / 1e6:.2f} MB | {c['rtf_wall']:.4f} | {c['rtf_cpu']:.4f} | "
                    f"{c['files_per_s']:.1f} | {lg['rtf_wall']:.4f} | {lg['rtf_cpu']:.4f} | "
                    f"{lg['peak_rss_mb']:.0f} MB | {c['load_s']:.2f} s |")
    w = res["w2v2"]["clips"]
    rows.append(f"| wav2vec2-base size (random weights), torch | {w['params'] / 1e6:.0f} M params | "
                f"{w['rtf_wall']:.4f} | {w['rtf_cpu']:.4f} | {w['files_per_s']:.2f} | - | - | "
                f"{w['peak_rss_mb']:.0f} MB (clips) | {w['load_s']:.2f} s |")
    cmd = "python benchmarks/speed.py" + ("" if (a.clips, a.w2v2_clips, a.long_minutes, a.threads) == (200, 40, 60.0, 1)
                                          else f" --clips {a.clips} --w2v2-clips {a.w2v2_clips} "
                                               f"--long-minutes {a.long_minutes:g} --threads {a.threads}")
    md = "\n".join([
        SECTION, "",
        f"Command: `{cmd}` (writes this section). Machine: {platform.machine()}, {os.cpu_count()} CPU cores "
        f"shared with other jobs (load average {load[0]:.1f} at the start, {load_after[0]:.1f} at the end), "
        f"{a.threads} thread(s) per stream, Python {platform.python_version()}. End to end from audio file to "
        "a JSON line on disk (read block-wise, WebRTC VAD, log-Mel, model, aggregation), model loading "
        "excluded (last column). RTF = processing time / audio duration (lower is faster); 'CPU' uses "
        "the process's CPU time, which other jobs on the machine do not inflate. Peak memory is the "
        "resident set size of a fresh process per measurement (torch itself included).", "",
        f"Short clips: {len(clips)} EmoDB/RAVDESS files ({res['torch']['clips']['audio_s'] / 60:.1f} min). "
        f"Long: one {a.long_minutes:g}-minute recording (EmoDB clips joined with 1.5 s silences).", "",
        "| model | size | RTF clips (wall) | RTF clips (CPU) | files/s | RTF long (wall) | RTF long (CPU) "
        "| peak memory, long file | load time |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows, "",
        f"Same {a.w2v2_clips} clips for both: default model (torch) RTF {same['rtf_wall']:.4f} wall / "
        f"{same['rtf_cpu']:.4f} CPU vs wav2vec2-base-sized reference {w['rtf_wall']:.4f} wall / "
        f"{w['rtf_cpu']:.4f} CPU: the default model is **{w['rtf_wall'] / same['rtf_wall']:.0f}x** faster "
        f"(wall; {w['rtf_cpu'] / same['rtf_cpu']:.0f}x in CPU time).", "",
        "Wall-clock columns move with the load of the shared machine; the CPU-time columns are the "
        "reproducible figures.", "",
    ])
    write_section(a.out, SECTION, md)
    Path(a.out).with_suffix(".speed.json").write_text(json.dumps(res, indent=1))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
