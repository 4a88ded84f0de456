"""Arguments shared by several sub-commands."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator


def add_data_root(p: argparse.ArgumentParser) -> None:
    """``--data-root``: where the corpora live (else $SERKIT_DATA, else ../shared/data)."""
    p.add_argument("--data-root", default=None,
                   help="folder holding the corpora (default: $SERKIT_DATA, else ../shared/data)")


def add_recipe_arguments(p: argparse.ArgumentParser, example: str) -> None:
    """The recipe a command runs: positional ``config`` (e.g. *example*), ``--set`` / ``--ssl-model``
    overrides and ``--data-root``; :func:`load_recipe` reads them."""
    p.add_argument("config", help=f"recipe YAML, e.g. {example}")
    add_overrides(p)
    add_data_root(p)


def add_corpus_arguments(p: argparse.ArgumentParser) -> None:
    """The corpus a command reads: positional ``corpus`` (or ``manifest`` with ``--manifest FILE``)
    and ``--data-root``; the arguments of :func:`serkit.data.corpora.load_corpus`."""
    p.add_argument("corpus", help="emodb, ravdess, iemocap, msp_podcast, ljspeech, or manifest (with --manifest)")
    p.add_argument("--manifest", default=None, metavar="FILE",
                   help="your own CSV (path, speaker, emotion, ...) or JSONL, for corpus 'manifest'")
    add_data_root(p)


def load_corpus_args(args: argparse.Namespace, command: str, labels: str | None = None) -> list:
    """The utterances named by :func:`add_corpus_arguments`' arguments.

    Raises:
        ConfigError: corpus ``manifest`` without ``--manifest FILE``.
    """
    from serkit.data.corpora import load_corpus
    from serkit.errors import ConfigError

    if args.corpus == "manifest" and not args.manifest:
        raise ConfigError(f"serkit {command} manifest needs --manifest FILE (your CSV or JSONL manifest: path, "
                          "speaker, emotion, ...)")
    return load_corpus(args.corpus, root=args.data_root, labels=labels, manifest=args.manifest)


def add_no_progress(p: argparse.ArgumentParser) -> None:
    """``--no-progress``: :func:`serkit.cli.main.main` hides every progress bar (:func:`quiet_progress`)."""
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def add_overrides(p: argparse.ArgumentParser) -> None:
    """``--set key=value`` dotted overrides."""
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe value, e.g. --set model.C=0.01 (repeatable)")
    p.add_argument("--ssl-model", default=None, metavar="DIR",
                   help="local Hugging Face wav2vec2/HuBERT/WavLM folder for the recipe's SSL encoder "
                        "(sets model.encoder_path, or features.encoder for features.name=ssl)")


def ssl_model_overrides(d: dict, folder: str) -> list[str]:
    """Overrides that point a recipe dict's SSL encoder at a local folder (``--ssl-model``).

    Raises:
        ConfigError: the recipe uses no SSL encoder.
    """
    from serkit.errors import ConfigError

    out = []
    if (d.get("features") or {}).get("name") == "ssl":
        out.append(f"features.encoder={folder}")
    if (d.get("model") or {}).get("name") == "w2v2_ctc":
        out += ["model.encoder=pretrained", f"model.encoder_path={folder}"]
    if not out:
        raise ConfigError(f"--ssl-model {folder}: this recipe uses no SSL encoder (needs model.name=w2v2_ctc "
                          "or features.name=ssl), e.g. configs/cai2021/iemocap_wav2vec2_base.yaml")
    return out


def load_recipe(path: str, overrides: list[str], ssl_model: str | None = None):
    """Read a recipe, apply overrides (and ``--ssl-model``), resolve every section (unknown keys raise here)."""
    from serkit.config import load_dict
    from serkit.experiment import load_recipe as load

    if not ssl_model:
        return load(path, overrides)
    return load(path, [*ssl_model_overrides(load_dict(path), ssl_model), *overrides])


@contextlib.contextmanager
def quiet_progress(enabled: bool = True) -> Iterator[None]:
    """``--no-progress``: hide every progress bar while a command runs, serkit's and those of the
    libraries it calls (Hugging Face's "Loading weights" when an SSL or text encoder loads, hub
    downloads); the environment is restored afterwards."""
    import os
    import sys

    if not enabled:
        yield
        return
    keys = ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS")  # read by tqdm >= 4.66 / by transformers at import
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(dict.fromkeys(keys, "1"))
    hf = sys.modules.get("transformers.utils.logging") if "transformers" in sys.modules else None
    was_on = hf is not None and hf.is_progress_bar_enabled()
    if hf is not None and was_on:
        hf.disable_progress_bar()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if hf is not None and was_on:
            hf.enable_progress_bar()
