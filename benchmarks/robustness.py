"""Robustness to recording conditions: UA on held-out speakers, clean and under each corruption.

The held-out speakers are the model card's test split (``eval.test_speakers`` of
configs/default.yaml: EmoDB 03 and 08, RAVDESS actors 01-04; 300 utterances, common6). Every
test clip is changed the way real recordings differ, one condition at a time, seeded per clip:

- low-pass 4 kHz; white noise at 20, 10 and 5 dB SNR; babble at 10 dB SNR (sums of 3-6 utterances
  of *training* speakers); reverberation T60 0.5 s (pyroomacoustics rooms); 20 dB quieter;
  telephone band (300-3400 Hz band-pass, 8 kHz); +12 dB with clipping; MP3 at 16 kbit/s;
  all through :class:`serkit.data.augment.WaveAugmenter` (audiomentations, pyroomacoustics,
  fast-mp3-augment);
- Opus at libsndfile's lowest bit rate (``compression_level=1``), through soundfile.

A neural model is run end to end (``Predictor.predict_signal``: VAD + speech check, segments,
duration-weighted mean; a clip that comes out ``no_speech`` counts as wrong and is counted). The
SVM peer (``--svm compare|egemaps``: openSMILE functionals + linear SVM, the model card's
baseline recipe configs/baseline/default_split_<name>_svm.yaml, per file) is trained on the
clean training speakers and scored on the corrupted test clips.

Each model's UAs go to ``docs/results/robustness/<key>.json``; the section "Robustness to
recording conditions" of ``docs/benchmarks.md`` is rebuilt from every JSON in that folder.

Usage::

    /work/bin/cpu python benchmarks/robustness.py --model runs/today/model.pt --key today --name "v0.1 default"
    /work/bin/cpu python benchmarks/robustness.py --svm compare --key svm_compare --name "ComParE + SVM"
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_results import add_model_args, check_model_args, publish  # noqa: E402  (benchmarks/ is not a package)

from serkit.data import audio  # noqa: E402
from serkit.data.augment import WaveAugmentConfig, WaveAugmenter  # noqa: E402
from serkit.data.corpora import load_corpus  # noqa: E402
from serkit.data.corpora.common import find_data_root  # noqa: E402
from serkit.data.splits import make_folds  # noqa: E402
from serkit.eval.metrics import unweighted_accuracy  # noqa: E402
from serkit.experiment import load_recipe  # noqa: E402

SECTION = "## Robustness to recording conditions"
RESULTS = ROOT / "docs" / "results" / "robustness"
#: condition -> WaveAugmentConfig (one effect, probability 1, fixed strength)
CONDITIONS: dict[str, WaveAugmentConfig | None] = {
    "clean": None,
    "low-pass 4 kHz": WaveAugmentConfig(p_band=1.0, lowpass_hz=(4000.0, 4000.0), highpass_hz=(20.0, 20.0)),
    "white noise 20 dB SNR": WaveAugmentConfig(p_noise=1.0, snr_db=(20.0, 20.0), noise_kinds=("white",)),
    "white noise 10 dB SNR": WaveAugmentConfig(p_noise=1.0, snr_db=(10.0, 10.0), noise_kinds=("white",)),
    "white noise 5 dB SNR": WaveAugmentConfig(p_noise=1.0, snr_db=(5.0, 5.0), noise_kinds=("white",)),
    "babble 10 dB SNR": WaveAugmentConfig(p_noise=1.0, snr_db=(10.0, 10.0), noise_kinds=("babble",)),
    "reverberation T60 0.5 s": WaveAugmentConfig(p_reverb=1.0, rt60=(0.5, 0.5), n_rirs=16),
    "20 dB quieter": WaveAugmentConfig(p_gain=1.0, gain_db=(-20.0, -20.0)),
    "telephone 300-3400 Hz, 8 kHz": WaveAugmentConfig(p_telephone=1.0, telephone_codecs=("none",)),
    "+12 dB with clipping": WaveAugmentConfig(p_gain=1.0, gain_db=(12.0, 12.0)),
    "MP3 16 kbit/s": WaveAugmentConfig(p_codec=1.0, mp3_kbps=(16, 16)),
    "Opus, lowest bit rate": None,  # soundfile / libsndfile, see opus()
}
#: the acceptance of issue 12 exempts this one condition from "at most 0.10 below clean"
EXEMPT = ("white noise 5 dB SNR",)


def opus(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Encode and decode with Opus at libsndfile's lowest bit rate; returns (wave, kbit/s)."""
    import soundfile as sf

    b = io.BytesIO()
    sf.write(b, np.clip(x, -1, 1), audio.SAMPLE_RATE, format="OGG", subtype="OPUS", compression_level=1.0)
    kbps = len(b.getvalue()) * 8 / (x.size / audio.SAMPLE_RATE) / 1000
    b.seek(0)
    y, _ = sf.read(b, dtype="float32")
    return np.resize(y, x.size).astype(np.float32), kbps


def held_out(data_root: Path) -> tuple[list, list, list[str]]:
    """(train utterances, test utterances, labels) of the model card's holdout split."""
    cfg = load_recipe(ROOT / "configs" / "default.yaml")
    utts = load_corpus(cfg.data.corpus, root=data_root, labels=cfg.data.labels)
    (fold,) = make_folds(utts, "holdout", test_speakers=cfg.eval.test_speakers)
    by = {u.id: u for u in utts}
    labels = sorted({u.emotion for u in utts if u.emotion})
    return [by[i] for i in fold.train], [by[i] for i in fold.test], labels


def corrupted(test: list, train: list, seed: int = 0, conditions: dict[str, WaveAugmentConfig | None] | None = None):
    """Yield ``(condition, index, wave, kbps)`` for every condition and test clip (seeded per clip).

    ``train`` supplies the babble pool (60 clips drawn with ``seed``); pass ``[]`` when no condition
    needs babble. ``conditions`` defaults to this benchmark's :data:`CONDITIONS`.
    """
    waves = [audio.load(u.path) for u in test]
    rng = np.random.default_rng(seed)
    pool = [audio.load(train[int(i)].path) for i in rng.choice(len(train), size=60, replace=False)] if train else None
    for j, (cond, cfg) in enumerate((conditions or CONDITIONS).items()):
        aug = WaveAugmenter(cfg, seed=seed, pool=pool) if cfg is not None else None
        for i, x in enumerate(waves):
            if cond.startswith("Opus"):
                y, kbps = opus(x)
                yield cond, i, y, kbps
            else:
                yield cond, i, (aug(x, np.random.default_rng(10_000 * j + i)) if aug else x), None


def neural_classifier(model: str) -> Callable[[np.ndarray], str | None]:
    from serkit.inference import Predictor

    pred = Predictor.load(model, threads=1)
    return lambda y: pred.predict_signal(y).get("label")


def svm_classifier(name: str, train: list, data_root: Path) -> Callable[[np.ndarray], str | None]:
    """The model card's SVM baseline recipe, fitted on the clean training speakers."""
    from serkit.features.extract import extract_features
    from serkit.features.smile import smile_extract
    from serkit.models import build_model

    cfg = load_recipe(ROOT / "configs" / "baseline" / f"default_split_{name}_svm.yaml")
    feats, _ = extract_features(train, cfg.features, skip_errors=True, progress=True)
    keep = [(u, x) for u, x in zip(train, feats, strict=True) if x is not None]
    clf = build_model(cfg.model, seed=cfg.eval.seed)
    clf.fit(np.stack([x for _, x in keep]), [u.emotion for u, _ in keep])
    return lambda y: str(clf.predict(smile_extract(y, cfg.features.name)[None])[0])


def run(classify: Callable[[np.ndarray], str | None], train: list, test: list, labels: list[str]) -> dict:
    """UA per condition, the most predicted labels and the no-speech count."""
    preds: dict[str, list[str | None]] = {c: [None] * len(test) for c in CONDITIONS}
    kbps: list[float] = []
    t0 = time.time()
    for cond, i, y, k in tqdm(corrupted(test, train), total=len(CONDITIONS) * len(test), desc="robustness",
                              mininterval=10):
        preds[cond][i] = classify(y)
        if k is not None:
            kbps.append(k)
    truth = [u.emotion for u in test]
    out = {}
    for cond, p in preds.items():
        got = [x if x is not None else "(no speech)" for x in p]
        out[cond] = {"ua": unweighted_accuracy(truth, got, labels), "no_speech": sum(x is None for x in p),
                     "top": Counter(got).most_common(2)}
    return {"conditions": out, "n_test": len(test), "opus_kbps_mean": float(np.mean(kbps)) if kbps else None,
            "test_speakers": sorted({u.speaker for u in test}), "wall_s": round(time.time() - t0, 1)}


def table(results: dict[str, dict]) -> str:
    """The docs section from ``{key: result}``: one column per model."""
    keys = list(results)
    any_r = next(iter(results.values()))
    kb = next((r["opus_kbps_mean"] for r in results.values() if r.get("opus_kbps_mean")), None)
    lines = [
        SECTION, "",
        "Command: `python benchmarks/robustness.py --model M --key K --name N` (neural model, end to end "
        "through `Predictor.predict_signal`) or `--svm compare|egemaps` (the model card's openSMILE "
        "functionals + linear SVM baseline, per file, trained on the clean training speakers); one JSON per "
        "model in `docs/results/robustness/`, this section rebuilt from all of them. Test set: the model "
        f"card's held-out speakers ({', '.join(any_r['test_speakers'])}; {any_r['n_test']} utterances, "
        "common6), every clip corrupted once per condition, seeded per clip. Corruptions by "
        "`serkit.data.augment.WaveAugmenter` (audiomentations, pyroomacoustics, fast-mp3-augment); Opus "
        "by libsndfile at its lowest bit rate" + (f" (mean {kb:.1f} kbit/s on these clips)." if kb else "."),
        "Cells: UA (unweighted average recall); a clip that comes out `no_speech` counts as wrong, their "
        "number is in brackets when not 0. Last row: the largest drop from clean over all conditions "
        "except 5 dB SNR (issue 12's acceptance: at most 0.10). The reverberation rows are not exactly "
        "reproducible: pyroomacoustics' randomised image-source method draws from a C++ generator that "
        "Python cannot seed, so each run convolves with slightly different rooms (the default model on the "
        "first 12 dev clips under benchmarks/select_default.py's RT60 0.5 s condition: UA 0.625-0.792 over "
        "four runs); read differences of a few hundredths there as noise.", "",
        "| condition | " + " | ".join(results[k]["name"] for k in keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for cond in CONDITIONS:
        cells = []
        for k in keys:
            c = results[k]["conditions"].get(cond)
            cells.append("" if c is None else f"{c['ua']:.3f}" + (f" ({c['no_speech']})" if c["no_speech"] else ""))
        lines.append(f"| {cond} | " + " | ".join(cells) + " |")
    drops = []
    for k in keys:
        cs = results[k]["conditions"]
        d = max(cs["clean"]["ua"] - v["ua"] for c, v in cs.items() if c not in EXEMPT)
        drops.append(f"**{d:.3f}**")
    lines.append("| largest drop from clean (5 dB excepted) | " + " | ".join(drops) + " |")
    lines.append("")
    lines.append("Most frequent predictions per condition are in the JSONs (`top`).")
    return "\n".join(x for x in lines if x is not None) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--model", help="bundled name, run folder, .pt or .onnx (run end to end)")
    g.add_argument("--svm", choices=["compare", "egemaps"], help="the model card's SVM baseline")
    add_model_args(ap, RESULTS, "test clips")
    args = ap.parse_args(argv)
    check_model_args(ap, args)
    if args.render_only:
        print(publish(args, None, table))
        return 0
    if not (args.model or args.svm):
        ap.error("give --model or --svm (or --render-only)")
    root = find_data_root(args.data_root)
    train, test, labels = held_out(root)
    test = test[: args.limit]
    classify = neural_classifier(args.model) if args.model else svm_classifier(args.svm, train, root)
    r = run(classify, train, test, labels)
    r.update(name=args.name, model=str(args.model or f"svm:{args.svm}"))
    md = publish(args, r, table)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
