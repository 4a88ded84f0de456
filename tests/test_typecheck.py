"""mypy over src/ (STYLE.md section 4) with the settings of ``[tool.mypy]`` in pyproject.toml.

Type errors fail the suite. mypy's incremental cache (``.mypy_cache`` in the checkout, ignored by
git) makes a re-run take about 2 s; a cold run on a fresh machine reads torch's and numpy's
annotations once (about 26 s of CPU); the large edge libraries are skipped in the config.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_clean():
    pytest.importorskip("mypy", reason="mypy not installed (pip install 'serkit[dev]')")
    r = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                        "--cache-dir", str(ROOT / ".mypy_cache")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert "Success: no issues found" in r.stdout
