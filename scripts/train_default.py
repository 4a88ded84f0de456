"""Train serkit's bundled default model from configs/default.yaml.

A compact, self-contained training loop for the feature-input CompactCnn (random crops,
SpecAugment-style masks, random gain, class-weighted cross-entropy, AdamW + cosine). It writes a
checkpoint in serkit's checkpoint contract ({config, state_dict, label_names, serkit_version,
input_dim}) that :class:`serkit.inference.Predictor` loads, plus a report of the held-out
speakers (protocol ``holdout``). With ``--all-speakers`` it trains on every speaker (the model
that ships) and evaluates nothing.

The held-out speakers are scored twice: on whole utterances (as training sees them) and end to
end through :class:`serkit.inference.Predictor` (VAD segments, max window, duration-weighted
aggregation), which is what ``serkit predict`` does.

Usage:
    python scripts/train_default.py configs/default.yaml --out runs/default
    python scripts/train_default.py configs/default.yaml --dev-speakers emodb_09 emodb_10 --out runs/dev_x
    python scripts/train_default.py configs/default.yaml --all-speakers --out runs/default_all
    python scripts/train_default.py configs/default.yaml --eval-only runs/default/model.pt --out runs/default
    python scripts/train_default.py configs/default.yaml --merge runs/a/model.pt runs/b/model.pt --out runs/ens
    python scripts/train_default.py configs/default.yaml --score-predictions runs/baseline/X.predictions.csv
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as nnf

from serkit import __version__
from serkit.cli.common import add_overrides, load_recipe
from serkit.data.splits import make_folds
from serkit.eval.metrics import classification_scores
from serkit.experiment import load_data
from serkit.features.extract import extract_features
from serkit.models import MODELS, model_config_from_dict

log = logging.getLogger("train_default")
CROP_FRAMES = 300  # 3 s training crops: the model must also work on VAD segments of a few seconds


def _batches(feats, ys, batch_size, rng, *, train):
    idx = list(range(len(feats)))
    if train:
        rng.shuffle(idx)
    for s in range(0, len(idx), batch_size):
        sel = idx[s:s + batch_size]
        xs = []
        for i in sel:
            x = feats[i]
            if train and len(x) > CROP_FRAMES:
                o = rng.randrange(len(x) - CROP_FRAMES + 1)
                x = x[o:o + CROP_FRAMES]
            xs.append(x)
        lens = torch.tensor([len(x) for x in xs], dtype=torch.long)
        pad = torch.zeros(len(xs), int(lens.max()), xs[0].shape[1])
        for j, x in enumerate(xs):
            pad[j, :len(x)] = torch.from_numpy(x)
        if train:
            # random gain (+-6 dB is +-1.38 in natural-log power) and SpecAugment-style masks
            pad = pad + (torch.rand(len(xs), 1, 1) - 0.5) * 2.76
            for j in range(len(xs)):
                f0 = rng.randrange(pad.shape[2] - 8)
                pad[j, :, f0:f0 + rng.randrange(9)] = pad[j].mean()
                t_len = int(lens[j])
                w = rng.randrange(min(30, max(1, t_len // 5)) + 1)
                t0 = rng.randrange(max(1, t_len - w))
                pad[j, t0:t0 + w] = pad[j].mean()
        yield pad, lens, torch.tensor([ys[i] for i in sel], dtype=torch.long)


def train(cfg, train_x, train_y, labels, *, progress=True):
    """Fit a model on features; returns it in eval mode."""
    tc = cfg.train
    torch.manual_seed(tc.seed)
    rng = random.Random(tc.seed)
    mcfg = model_config_from_dict(cfg.model)
    input_dim = train_x[0].shape[1]
    model = MODELS[cfg.model["name"]][1](mcfg, input_dim=input_dim, num_classes=len(labels))
    frames = np.concatenate(train_x, 0)
    model.set_input_stats(torch.from_numpy(frames.mean(0)), torch.from_numpy(frames.std(0)))
    counts = np.bincount(train_y, minlength=len(labels)).astype(np.float32)
    weight = torch.from_numpy(counts.sum() / (len(labels) * np.maximum(counts, 1))) if tc.class_weighted else None
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    steps = tc.epochs * math.ceil(len(train_x) / tc.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=tc.lr, total_steps=steps, pct_start=0.1)
    from tqdm.auto import tqdm

    bar = tqdm(range(tc.epochs), desc="epochs", disable=not progress)
    for ep in bar:
        model.train()
        tot, n = 0.0, 0
        for x, lens, y in _batches(train_x, train_y, tc.batch_size, rng, train=True):
            loss = nnf.cross_entropy(model(x, lens).logits, y, weight=weight)
            opt.zero_grad()
            loss.backward()
            if tc.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            opt.step()
            sched.step()
            tot += float(loss) * len(y)
            n += len(y)
        bar.set_postfix(loss=f"{tot / n:.3f}")
        log.info("epoch %d loss %.4f", ep + 1, tot / n)
    return model.eval()


@torch.no_grad()
def predict(model, feats):
    """Class probabilities (N, C), one utterance at a time (whole length, as at inference)."""
    out = []
    for x in feats:
        t = torch.from_numpy(x).unsqueeze(0)
        out.append(torch.softmax(model(t, torch.tensor([len(x)])).logits, -1)[0].numpy())
    return np.stack(out)


def evaluate_predictor(ckpt, test_utts, labels) -> dict:
    """UA/WA/F1 of a checkpoint run end to end by Predictor on test utterances, overall and per corpus."""
    from serkit.inference import Predictor

    pred = Predictor.from_checkpoint(ckpt, threads=1)
    got = {}
    for u, r in zip(test_utts, pred.predict_batch([u.path for u in test_utts]), strict=False):
        got[u.id] = r.get("label")
    true = [u.emotion for u in test_utts]
    guess = [got[u.id] or "none" for u in test_utts]
    res = {"test": classification_scores(true, guess, labels), "n": len(test_utts),
           "failed": sum(g == "none" for g in guess)}
    for corpus in sorted({u.speaker.split("_")[0] for u in test_utts}):
        sel = [k for k, u in enumerate(test_utts) if u.speaker.startswith(corpus + "_")]
        res[f"test_{corpus}"] = classification_scores([true[k] for k in sel], [guess[k] for k in sel], labels)
    return res


def evaluate_whole(ckpt_path, test_utts, cfg, labels) -> dict:
    """UA/WA/F1 of a checkpoint on whole test utterances (no VAD), overall and per corpus."""
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    mcfg = model_config_from_dict(ckpt["config"]["model"])
    model = MODELS[mcfg.name][1](mcfg, input_dim=ckpt["input_dim"], num_classes=len(ckpt["label_names"]))
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    feats, _ = extract_features(test_utts, cfg.features, skip_errors=True)
    keep = [k for k, f in enumerate(feats) if f is not None]
    names = ckpt["label_names"]
    pred = [names[k] for k in predict(model, [feats[k] for k in keep]).argmax(1)]
    true = [test_utts[k].emotion for k in keep]
    res = {"test": classification_scores(true, pred, labels), "n": len(keep)}
    for corpus in sorted({test_utts[k].speaker.split("_")[0] for k in keep}):
        sel = [j for j, k in enumerate(keep) if test_utts[k].speaker.startswith(corpus + "_")]
        res[f"test_{corpus}"] = classification_scores([true[j] for j in sel], [pred[j] for j in sel], labels)
    return res


def _holdout_fold(utts, cfg):
    """The recipe's one held-out fold (eval.test_speakers)."""
    return make_folds(utts, cfg.eval.protocol, seed=cfg.eval.seed, test_speakers=cfg.eval.test_speakers)[0]


def _dev_split(utts, cfg, dev_speakers):
    """Utterances without the test speakers, and the dev speakers to hold out in their place."""
    from serkit.errors import ConfigError

    test = set(cfg.eval.test_speakers or [])
    known = {u.speaker for u in utts}
    bad = [s for s in dev_speakers if s in test or s not in known]
    if bad:
        raise ConfigError(f"--dev-speakers {bad}: each must be a training speaker of {cfg.data.corpus} "
                          f"(not in eval.test_speakers {sorted(test)}); known speakers: {sorted(known - test)}")
    return [u for u in utts if u.speaker not in test], list(dev_speakers)


def main(argv=None) -> int:
    """Command line."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config")
    p.add_argument("--out", default=None, help="output folder (required except with --score-predictions)")
    p.add_argument("--all-speakers", action="store_true", help="train on every speaker (the shipped model)")
    p.add_argument("--data-root", default=None)
    p.add_argument("--dev-speakers", nargs="+", default=None, metavar="SPK",
                   help="model selection: drop the test speakers (eval.test_speakers) entirely, train on the "
                        "rest minus these speakers and score these instead; the test set stays unseen")
    p.add_argument("--eval-only", default=None, metavar="CKPT",
                   help="score this checkpoint on the held-out speakers (whole utterances and end to end "
                        "through Predictor); no training")
    p.add_argument("--no-test", action="store_true",
                   help="train on the training speakers and write the checkpoint, but score nothing "
                        "(score it later, once, with --eval-only)")
    p.add_argument("--merge", nargs="+", default=None, metavar="CKPT",
                   help="merge these checkpoints into an ensemble OUT/model.pt and score it end to end")
    p.add_argument("--score-predictions", default=None, metavar="CSV",
                   help="print UA/WA/F1 overall and per corpus of a predictions CSV (serkit evaluate's)")
    add_overrides(p)
    a = p.parse_args(argv)
    if a.score_predictions:
        import csv

        with open(a.score_predictions, encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        labels = sorted({r["true"] for r in rows})
        res = {"test": classification_scores([r["true"] for r in rows], [r["pred"] for r in rows], labels)}
        for corpus in sorted({r["speaker"].split("_")[0] for r in rows}):
            sel = [r for r in rows if r["speaker"].startswith(corpus + "_")]
            res[f"test_{corpus}"] = classification_scores([r["true"] for r in sel], [r["pred"] for r in sel], labels)
        print(json.dumps(res, indent=2))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not a.out:
        p.error("--out is required")
    cfg = load_recipe(a.config, a.overrides)
    if cfg.train.num_threads:
        torch.set_num_threads(cfg.train.num_threads)
    t0 = time.time()
    utts, labels = load_data(cfg, data_root=a.data_root)
    if a.dev_speakers:
        utts, held = _dev_split(utts, cfg, a.dev_speakers)
        cfg = dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, test_speakers=tuple(held)))
    if a.merge:
        from serkit.models.ensemble import merge_checkpoints

        a.eval_only = str(merge_checkpoints(a.merge, Path(a.out) / "model.pt"))
    if a.eval_only:
        test_ids = set(_holdout_fold(utts, cfg).test)
        test_utts = [u for u in utts if u.id in test_ids]
        res = evaluate_predictor(a.eval_only, test_utts, labels)
        if not a.merge:
            res["whole_utterances"] = evaluate_whole(a.eval_only, test_utts, cfg, labels)
        print(json.dumps(res, indent=2))
        Path(a.out).mkdir(parents=True, exist_ok=True)
        (Path(a.out) / "result_predictor.json").write_text(json.dumps(res, indent=2), encoding="utf-8")
        return 0
    feats, errors = extract_features(utts, cfg.features, skip_errors=True)
    keep = [i for i, f in enumerate(feats) if f is not None]
    utts, feats = [utts[i] for i in keep], [feats[i] for i in keep]
    lab = {c: i for i, c in enumerate(labels)}
    if a.all_speakers:
        tr, te = list(range(len(utts))), []
    else:
        fold = _holdout_fold(utts, cfg)
        pos = {u.id: i for i, u in enumerate(utts)}
        tr, te = [pos[i] for i in fold.train], ([] if a.no_test else [pos[i] for i in fold.test])
    model = train(cfg, [feats[i] for i in tr], [lab[utts[i].emotion] for i in tr], labels)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    d = cfg.to_dict()
    ckpt = {"config": d, "state_dict": model.state_dict(), "label_names": labels,
            "serkit_version": __version__, "input_dim": int(feats[0].shape[1])}
    torch.save(ckpt, out / "model.pt")
    from serkit.config import dump_yaml

    dump_yaml(d, out / "config.yaml")
    result = {"corpus": cfg.data.corpus, "labels": labels, "label_set": cfg.data.labels,
              "n_train": len(tr), "n_test": len(te), "errors": errors,
              "train_seconds": round(time.time() - t0, 1), "all_speakers": a.all_speakers}
    if te:
        prob = predict(model, [feats[i] for i in te])
        pred = [labels[k] for k in prob.argmax(1)]
        true = [utts[i].emotion for i in te]
        result["protocol"] = "holdout: " + ", ".join(cfg.eval.test_speakers)
        if a.dev_speakers:
            result["protocol"] = "dev " + result["protocol"] + " (test speakers excluded)"
        result["test"] = classification_scores(true, pred, labels)
        for corpus in sorted({utts[i].speaker.split("_")[0] for i in te}):
            sel = [k for k, i in enumerate(te) if utts[i].speaker.startswith(corpus + "_")]
            result[f"test_{corpus}"] = classification_scores([true[k] for k in sel], [pred[k] for k in sel], labels)
        with open(out / "predictions.csv", "w", encoding="utf-8") as f:
            f.write("id,speaker,true,pred\n")
            for k, i in enumerate(te):
                f.write(f"{utts[i].id},{utts[i].speaker},{true[k]},{pred[k]}\n")
        result["predictor"] = evaluate_predictor(out / "model.pt", [utts[i] for i in te], labels)
    (out / "result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "errors"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
