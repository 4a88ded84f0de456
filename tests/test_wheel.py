"""The install users will do: ``python -m build`` -> wheel -> a fresh virtual environment ->
``serkit predict`` on an example clip, with the wheel's own files and entry point.

Speed: installing the wheel's dependencies (torch, opensmile, scikit-learn, ...) into the fresh
environment would download gigabytes and take minutes. Instead the wheel is installed with
``--no-deps`` and the dependencies that the test environment already has are made visible through
a ``.pth`` file naming its site-packages (as ``--system-site-packages`` would do for a base
interpreter). A path listed in a ``.pth`` file is appended to ``sys.path`` after the fresh
environment's own site-packages, and ``.pth`` files inside it are not run, so the editable
install of this checkout stays invisible: ``serkit`` is imported from the installed wheel (the
test checks ``serkit.__file__``), the bundled model is the one packed under ``serkit/assets``,
and ``serkit`` is the console script the wheel's entry point created. The wheel is built with
``--no-isolation`` from the test environment's setuptools (in the dev extra), so no network is
needed; the dependency list the wheel declares is checked against the environment's versions.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(OMP_NUM_THREADS="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INDEX="1")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, **kw)
    assert r.returncode == 0, f"{cmd} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("build")
    # build from a copy of what the sdist holds, so the checkout gets no build/ or egg-info litter
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(src)])
    (whl,) = out.glob("serkit-*.whl")
    return whl


def test_wheel_holds_the_package_and_the_bundled_model(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "serkit/assets/default/model.pt" in names
    assert {"serkit/assets/cpc/model.pt", "serkit/assets/cpc/config.json"} <= names  # bundled:cpc
    assert "serkit/py.typed" in names and "serkit/cli/main.py" in names and "serkit/runs.py" in names
    assert not any(n.startswith(("tests/", "benchmarks/", "src/")) for n in names)
    meta = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "serkit = serkit.cli.main:main" in zipfile.ZipFile(wheel).read(meta).decode()


def test_wheel_installs_into_a_fresh_venv_and_predicts(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    py = venv / "bin" / "python"
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "_test_env_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # the test environment's pip installs into the fresh one (--python); no index, no dependencies
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", str(wheel)])

    where = _run([str(py), "-c", "import serkit, importlib.metadata as m; "
                  "print(serkit.__file__); print(m.version('serkit'))"], cwd=tmp_path).stdout.split()
    assert Path(where[0]).is_relative_to(site), f"serkit imported from {where[0]}, not the installed wheel"
    # every dependency the wheel declares (core, no extras) is installed at an accepted version
    check = ("import importlib.metadata as m; from packaging.requirements import Requirement\n"
             "bad = []\n"
             "for r in map(Requirement, m.requires('serkit') or []):\n"
             "    if r.marker is not None and not r.marker.evaluate({'extra': ''}): continue\n"
             "    try: v = m.version(r.name)\n"
             "    except m.PackageNotFoundError: v = None\n"
             "    if v is None or (r.specifier and not r.specifier.contains(v, prereleases=True)): bad.append(f'{r} (have {v})')\n"
             "print(bad)")
    assert _run([str(py), "-c", check], cwd=tmp_path).stdout.strip() == "[]"

    clip = ROOT / "examples" / "08a02Wc.wav"
    r = _run([str(venv / "bin" / "serkit"), "predict", str(clip), "--format", "json"], cwd=tmp_path)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["file"].endswith("08a02Wc.wav") and res["label"] in res["scores"]
    assert abs(sum(res["scores"].values()) - 1) < 1e-3
