"""Selection criterion S of the bundled default model, scored on the development split only.

The model card's pre-declared criterion (docs/model_card.md, "How the shipped model was chosen"):

    S = 1/2 * dev UA end to end on the clean dev clips
      + 1/2 * mean dev UA end to end over four corrupted copies of the dev clips
    (telephone 300-3400 Hz at 8 kHz with mu-law; white noise at 10 dB SNR; a synthetic room with
    RT60 0.5 s; 20 dB quieter); tie-break: clean dev UA.

Dev speakers: EmoDB 09, 10 and RAVDESS actors 05-08 (277 utterances, common6), the model card's
development split, drawn from the training speakers. Each candidate checkpoint must come from
``serkit evaluate configs/default.yaml --set eval.protocol=dev --set "eval.dev_speakers=[...]"``
(trained on the 18 other non-test speakers). No test speaker, no LJSpeech and no cross-corpus set
is read here.

End to end = ``Predictor.predict_signal`` (VAD + speech check, segments, duration-weighted mean),
as ``serkit predict`` runs; a clip that comes out ``no_speech`` counts as wrong. Corruptions come
from :class:`serkit.data.augment.WaveAugmenter` (audiomentations, pyroomacoustics, librosa mu-law),
with the same per-clip seeding as benchmarks/robustness.py.

One JSON per candidate in ``docs/results/select_default/``; the section "Default model selection
(dev split)" of ``docs/benchmarks.md`` is rebuilt from all of them.

Usage::

    /work/bin/cpu python benchmarks/select_default.py --model runs/dev_f/fold_dev/checkpoint.pt --key F \\
        --name "F: v0.2 recipe (configs/default.yaml)"
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibration import DEV_SPEAKERS  # noqa: E402  (benchmarks/ is not a package)
from model_results import add_model_args, check_model_args, publish  # noqa: E402
from robustness import corrupted, neural_classifier  # noqa: E402

from serkit.data.augment import WaveAugmentConfig  # noqa: E402
from serkit.data.corpora import load_corpus  # noqa: E402
from serkit.data.corpora.common import find_data_root  # noqa: E402
from serkit.eval.metrics import unweighted_accuracy  # noqa: E402

SECTION = "## Default model selection (dev split)"
RESULTS = ROOT / "docs" / "results" / "select_default"
#: the four corrupted copies of the criterion (one effect, probability 1, fixed strength)
CONDITIONS: dict[str, WaveAugmentConfig | None] = {
    "clean": None,
    "telephone": WaveAugmentConfig(p_telephone=1.0, telephone_codecs=("mulaw",)),
    "white noise 10 dB": WaveAugmentConfig(p_noise=1.0, snr_db=(10.0, 10.0), noise_kinds=("white",)),
    "reverb RT60 0.5 s": WaveAugmentConfig(p_reverb=1.0, rt60=(0.5, 0.5), n_rirs=16),
    "20 dB quieter": WaveAugmentConfig(p_gain=1.0, gain_db=(-20.0, -20.0)),
}


def dev_set(data_root: Path) -> list:
    """The development utterances (common6); never a test speaker."""
    return [u for u in load_corpus("emodb+ravdess", root=data_root, labels="common6") if u.speaker in DEV_SPEAKERS]


def criterion(ua: dict[str, float]) -> float:
    """S = 1/2 clean UA + 1/2 mean UA over the four corrupted conditions."""
    corrupted = [v for k, v in ua.items() if k != "clean"]
    return 0.5 * ua["clean"] + 0.5 * float(np.mean(corrupted))


def score(model: str, utts: list, seed: int = 0) -> dict:
    """Dev UA end to end per condition, S, most frequent predictions."""
    classify = neural_classifier(model)
    truth = [u.emotion for u in utts]
    labels = sorted(set(truth))
    got: dict[str, list[str]] = {c: [] for c in CONDITIONS}
    for cond, _, y, _ in tqdm(corrupted(utts, [], seed, CONDITIONS), total=len(CONDITIONS) * len(utts),
                              desc="select", mininterval=10):
        got[cond].append(classify(y) or "(no speech)")
    out = {cond: {"ua": unweighted_accuracy(truth, g, labels), "no_speech": g.count("(no speech)"),
                  "top": Counter(g).most_common(2)} for cond, g in got.items()}
    ua = {c: v["ua"] for c, v in out.items()}
    return {"conditions": out, "S": criterion(ua), "corrupted_mean": float(np.mean([v for c, v in ua.items() if c != "clean"])),
            "n_dev": len(utts), "dev_speakers": list(DEV_SPEAKERS)}


def table(results: dict[str, dict]) -> str:
    """The docs section: one row per candidate, sorted by S (tie-break clean UA)."""
    rows = sorted(results.values(), key=lambda r: (r["S"], r["conditions"]["clean"]["ua"]), reverse=True)
    n = next(iter(results.values()))["n_dev"]
    lines = [
        SECTION, "",
        "Command: `python benchmarks/select_default.py --model CKPT --key K --name N` (one JSON per candidate in "
        "`docs/results/select_default/`, this section rebuilt from all of them). Candidates are dev-split models: "
        "`serkit evaluate configs/default.yaml --set eval.protocol=dev --set \"eval.dev_speakers=[emodb_09,emodb_10,"
        "ravdess_05,ravdess_06,ravdess_07,ravdess_08]\"` plus the candidate's `--set` overrides, seed 0, trained on the "
        f"18 speakers that are neither test nor dev. Dev set: {', '.join(DEV_SPEAKERS)} ({n} utterances, common6); "
        "no test speaker, LJSpeech or cross-corpus set is used. Cells: UA end to end (`Predictor.predict_signal`, as "
        "`serkit predict` runs; a `no_speech` clip counts as wrong). S = 1/2 clean + 1/2 mean of the four corrupted "
        "copies (telephone 300-3400 Hz, 8 kHz, mu-law; white noise 10 dB SNR; room RT60 0.5 s; 20 dB quieter), "
        "corruptions by `serkit.data.augment.WaveAugmenter`, seeded per clip; tie-break clean UA. One seed per "
        "candidate: differences below about 0.01-0.02 are within seed noise and not evidence.", "",
        "| candidate | clean | " + " | ".join(c for c in CONDITIONS if c != "clean") + " | corrupted mean | **S** |",
        "|---|" + "---:|" * (len(CONDITIONS) + 2),
    ]
    for r in rows:
        cs = r["conditions"]
        lines.append(f"| {r['name']} | " + " | ".join(f"{cs[c]['ua']:.3f}" for c in CONDITIONS)
                     + f" | {r['corrupted_mean']:.3f} | **{r['S']:.3f}** |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="dev-split checkpoint (.pt) or run folder")
    add_model_args(ap, RESULTS, "dev clips")
    args = ap.parse_args(argv)
    check_model_args(ap, args)
    if args.render_only:
        print(publish(args, None, table))
        return 0
    if not args.model:
        ap.error("give --model (or --render-only)")
    utts = dev_set(find_data_root(args.data_root))[: args.limit]
    t0 = time.time()
    r = score(args.model, utts)
    r.update(name=args.name, model=str(args.model), wall_s=round(time.time() - t0, 1))
    print(publish(args, r, table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
