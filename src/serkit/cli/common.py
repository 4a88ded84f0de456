"""Arguments shared by several sub-commands."""

from __future__ import annotations

import argparse


def add_data_root(p: argparse.ArgumentParser) -> None:
    """``--data-root``: where the corpora live (else $SERKIT_DATA, else ../shared/data)."""
    p.add_argument("--data-root", default=None,
                   help="folder holding the corpora (default: $SERKIT_DATA, else ../shared/data)")


def add_overrides(p: argparse.ArgumentParser) -> None:
    """``--set key=value`` dotted overrides."""
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe value, e.g. --set model.C=0.01 (repeatable)")


def load_recipe(path: str, overrides: list[str]):
    """Read a recipe, apply overrides, validate every section including the model's."""
    from serkit.config import apply_overrides, experiment_from_dict, load_dict
    from serkit.models import model_config_from_dict

    cfg = experiment_from_dict(apply_overrides(load_dict(path), overrides))
    model_config_from_dict(cfg.model)  # unknown model keys raise here, before any work
    return cfg
