"""serkit demo: the main job on a fresh install (make demo).

1. Predicts the bundled example clips (examples/*.wav, EmoDB speakers 03 and 08, who were
   held out when the default model was trained) with the bundled default model and prints a
   table of true and predicted emotions.
2. If the shared corpora are present, runs the eGeMAPS + linear SVM baseline on EmoDB,
   leave-one-speaker-out, and writes its report to runs/demo/ (skip with --no-baseline).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from serkit.cli.common import add_data_root, add_no_progress


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("demo", help="run the main demo job", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_root(p)
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--examples", default=None, help="folder of clips to predict (default: examples/)")
    p.add_argument("--no-baseline", action="store_true", help="only predict the example clips")
    add_no_progress(p)
    p.set_defaults(func=run)


#: The demo's recipe: the same as configs/baseline/emodb_egemaps_svm.yaml (a test keeps them equal),
#: inlined so that the demo also runs from a non-editable install without the configs/ folder.
DEMO_RECIPE = {
    "data": {"corpus": "emodb", "labels": "emodb7"},
    "features": {"name": "egemaps", "speaker_norm": True},
    "model": {"name": "linear_svm", "C": 0.001, "class_weight": "balanced"},
    "eval": {"protocol": "loso", "folds": None, "seed": 0},
}


def examples_dir() -> Path:
    """``./examples`` if present, else the ``examples/`` folder of the source checkout."""
    here = Path("examples")
    return here if here.is_dir() else Path(__file__).resolve().parents[3] / "examples"


def predict_examples(folder: Path, out_dir: Path) -> int:
    """Predict every clip in ``folder`` with the bundled model; print a table; write JSONL."""
    import json

    from serkit.data.audio import find_audio
    from serkit.data.corpora.emodb import LABEL_SETS, LETTERS
    from serkit.inference import Predictor

    files = find_audio(folder)
    if not files:
        print(f"no example clips in {folder}; pass --examples DIR")
        return 1
    pred = Predictor.load("default", threads=1)
    emodb = LABEL_SETS["emodb7"]
    out_dir.mkdir(parents=True, exist_ok=True)
    hits = n = 0
    print(f"Bundled default model on {len(files)} example clips ({folder}):")
    print(f"{'clip':<16} {'true':<9} {'predicted':<9} {'score':>6}   top-3")
    with open(out_dir / "examples.jsonl", "w", encoding="utf-8") as f:
        for r in pred.predict_batch(files):
            f.write(json.dumps(r) + "\n")
            name = Path(r["file"]).name
            # EmoDB file names carry the emotion letter at position 6 (e.g. 03a01Fa: F = happiness)
            true = emodb.get(LETTERS.get(name[5:6], ""), "?") if len(name) > 6 else "?"
            if "error" in r:
                print(f"{name:<16} {true:<9} ERROR {r['error']}")
                continue
            top = sorted(r["scores"].items(), key=lambda kv: -kv[1])[:3]
            print(f"{name:<16} {true:<9} {r['label']:<9} {r['scores'][r['label']]:>6.2f}   "
                  + ", ".join(f"{c} {p:.2f}" for c, p in top))
            hits += r["label"] == true
            n += true != "?"
    if n:
        print(f"{hits}/{n} correct (clips from speakers the model never saw; see docs/model_card.md for "
              "held-out figures)")
    print(f"wrote {out_dir / 'examples.jsonl'}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Example predictions, then the baseline evaluation on EmoDB when the corpus is there."""
    from serkit.data.corpora import find_data_root
    from serkit.errors import ManifestError
    from serkit.experiment import recipe_from_dict, run_experiment
    from serkit.viz.confusion import save_report_figures

    rc = predict_examples(Path(args.examples) if args.examples else examples_dir(), Path(args.out))
    if args.no_baseline:
        return rc
    try:
        find_data_root(args.data_root)
    except (ManifestError, FileNotFoundError) as e:
        print(f"skipping the EmoDB baseline: {e}")
        return rc
    cfg = recipe_from_dict(DEMO_RECIPE)
    report = run_experiment(cfg, data_root=args.data_root, progress=not args.no_progress)
    print(report.to_table())
    paths = report.save(Path(args.out) / "emodb_egemaps_svm.json")
    paths.update(save_report_figures(report, Path(args.out) / "emodb_egemaps_svm.json"))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return rc
