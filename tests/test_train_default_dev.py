"""scripts/train_default.py --dev-speakers: model selection never sees the test speakers."""

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

from serkit.errors import ConfigError

_SPEC = importlib.util.spec_from_file_location(
    "train_default", Path(__file__).resolve().parents[1] / "scripts" / "train_default.py")
td = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(td)


def _cfg(test):
    return SimpleNamespace(eval=SimpleNamespace(test_speakers=tuple(test)), data=SimpleNamespace(corpus="x"))


def _utts():
    return [SimpleNamespace(id=f"{s}_{k}", speaker=s) for s in ("a", "b", "c", "d") for k in range(3)]


def test_dev_split_drops_test_speakers():
    utts, held = td._dev_split(_utts(), _cfg(["a"]), ["b"])
    assert held == ["b"]
    assert {u.speaker for u in utts} == {"b", "c", "d"}


@pytest.mark.parametrize("dev", [["a"], ["zz"]])
def test_dev_split_rejects_test_or_unknown_speakers(dev):
    with pytest.raises(ConfigError, match="--dev-speakers"):
        td._dev_split(_utts(), _cfg(["a"]), dev)
