"""The bundled default model was made by configs/default.yaml through the one training loop:
the recipe's resolved config is the one stored in the shipped checkpoint."""

from __future__ import annotations

from pathlib import Path

from serkit.experiment import load_recipe, recipe_from_dict
from serkit.inference import bundled_dir
from serkit.models.checkpoint import load_checkpoint

RECIPE = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"


def test_default_recipe_is_the_shipped_models_config():
    shipped = recipe_from_dict(load_checkpoint(bundled_dir("default")).config).to_dict()
    recipe = load_recipe(RECIPE).to_dict()
    diff = {f"{s}.{k}": (shipped[s].get(k), recipe[s].get(k)) for s in recipe
            for k in set(shipped[s]) | set(recipe[s]) if shipped[s].get(k) != recipe[s].get(k)}
    assert not diff, f"configs/default.yaml differs from the shipped model's config (shipped, recipe): {diff}"
