"""ruff lint (pyproject's rule set) over src/, tests/, benchmarks/ and scripts/: style regressions fail the suite."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    ruff = shutil.which("ruff") or str(Path(__import__("sys").executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff not installed (pip install 'serkit[dev]')")
    dirs = [d for d in ("src", "tests", "benchmarks", "scripts") if (ROOT / d).is_dir()]
    r = subprocess.run([ruff, "check", "--output-format", "concise", *dirs], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
