"""The Examples sections of the foundation modules run as doctests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["serkit.config", "serkit.data.audio", "serkit.data.splits", "serkit.eval.metrics",
           "serkit.features.functional"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0
