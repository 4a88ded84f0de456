"""The import direction of STYLE.md, enforced by import-linter's layers contract (pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_layers_contract(capsys):
    from importlinter.cli import lint_imports

    rc = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "serkit layers KEPT" in out


def test_contract_catches_an_upward_import(tmp_path, monkeypatch, capsys):
    """The contract can fail: a data module that imports the CLI breaks it."""
    import shutil
    import sys

    from importlinter.cli import lint_imports

    pkg = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "serkit", pkg / "serkit", ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "serkit" / "data" / "bad.py").write_text("from serkit.cli import main\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    monkeypatch.syspath_prepend(str(pkg))
    for name in [m for m in sys.modules if m == "serkit" or m.startswith("serkit.")]:
        monkeypatch.delitem(sys.modules, name)
    rc = lint_imports(config_filename=str(tmp_path / "pyproject.toml"), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert rc == 1 and "BROKEN" in out
    assert "serkit.data.bad" in out and "serkit.cli" in out
