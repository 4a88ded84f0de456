"""The web page of serkit serve in a real headless Chromium (Debian's chromium, driven by Playwright).

Upload a file and see its result; record through Chromium's fake microphone (a WAV of EmoDB
clips) and see windows arrive over the WebSocket. Skipped where Chromium or Playwright is
missing, except under CI (``CI`` set), where that is a failure: ``make test`` installs both.

``SERKIT_SCREENSHOTS=docs/img`` also saves a screenshot of each state there, and
``SERKIT_SERVE_TEST_MODEL=default`` serves that model instead of the tiny random one (as for the
screenshots in the README).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")

TOKEN = "browser-test-token"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--autoplay-policy=no-user-gesture-required", "--use-fake-ui-for-media-stream",
                  "--use-fake-device-for-media-stream"]


def _chromium() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def _need(what: str) -> None:
    msg = f"{what} missing; make test installs it (apt-get install chromium; pip install '.[dev]')"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def fake_mic(tmp_path_factory) -> Path:
    """Three EmoDB clips with 0.7 s silences, 16-bit 16 kHz WAV: what the fake microphone plays (looped)."""
    import soundfile as sf

    from serkit.testing import assets_dir

    parts = []
    for n in ("08a01Wa.wav", "03a02Ta.wav", "08a02Tb.wav"):
        x, sr = sf.read(assets_dir() / n, dtype="int16")
        parts += [x, np.zeros(int(0.7 * sr), dtype=np.int16)]
    p = tmp_path_factory.mktemp("mic") / "mic.wav"
    sf.write(p, np.concatenate(parts), 16000, subtype="PCM_16")
    return p


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from _serve_server import running
    from serkit.inference import Predictor
    from serkit.serve import ServeConfig, create_app
    from serkit.testing import save_tiny_checkpoint
    from serkit.vad import SegmentConfig

    name = os.environ.get("SERKIT_SERVE_TEST_MODEL")
    seg = SegmentConfig(max_window=2.0)
    pred = (Predictor.load(name, segment=seg) if name else
            Predictor.from_checkpoint(save_tiny_checkpoint(tmp_path_factory.mktemp("m") / "m.pt"), segment=seg))
    with running(create_app(ServeConfig(token=TOKEN, model=name or "tiny-random"), predictor=pred)) as url:
        yield url


@pytest.fixture(scope="module")
def browser(fake_mic):
    exe = _chromium()
    if not exe:
        _need("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("playwright")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True,
                              args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={fake_mic}"])
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    ctx = browser.new_context(viewport={"width": 1100, "height": 860})
    ctx.grant_permissions(["microphone"], origin=server)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(f"{server}/?token={TOKEN}")  # the token becomes a same-site cookie for what follows
    pg.wait_for_function("document.getElementById('model').textContent.startsWith('model:')", timeout=20000)
    yield pg
    ctx.close()
    assert not errors, errors


def _shot(pg, tmp_path, name: str) -> None:
    out = tmp_path / name
    pg.screenshot(path=str(out), full_page=True)
    assert out.stat().st_size > 5000
    d = os.environ.get("SERKIT_SCREENSHOTS")
    if d:
        Path(d).mkdir(parents=True, exist_ok=True)
        shutil.copy(out, Path(d) / name)


def test_upload_shows_scores_and_timeline(page, fake_mic, tmp_path):
    _shot(page, tmp_path, "serve_page.png")
    clip = tmp_path / "emodb_three_clips.wav"
    shutil.copy(fake_mic, clip)
    page.set_input_files("#file", str(clip))
    page.wait_for_function("document.body.dataset.state === 'result'", timeout=20000)
    title = page.inner_text("#title")
    assert "emodb_three_clips.wav" in title and "6.6 s" in title
    labels = page.evaluate("fetch('/v1/models').then(r => r.json()).then(j => j.models[0].labels)")
    assert page.locator("#bars .row").count() == len(labels)
    assert page.locator("#bars .row.top").count() == 1
    assert page.locator("#segments tbody tr").count() >= 3  # max_window 2 s: at least 3 windows
    assert page.locator("#chart rect").count() >= 1 and page.locator("#chart line").count() > 3
    _shot(page, tmp_path, "serve_upload.png")


def test_upload_of_a_non_audio_file_shows_the_error(page, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("this is not audio " * 40)
    page.set_input_files("#file", str(bad))
    page.wait_for_function("document.body.dataset.state === 'error'", timeout=20000)
    assert "notes.txt: not a readable audio file" in page.inner_text("#status")
    assert page.get_attribute("#status", "class") == "error"
    _shot(page, tmp_path, "serve_error.png")


def test_microphone_streams_windows_as_they_close(page, tmp_path):
    page.click("#record")
    page.wait_for_function("Number(document.body.dataset.segments || 0) >= 2", timeout=40000)
    assert page.locator("#segments tbody tr").count() >= 2
    assert "Microphone (live)" in page.inner_text("#title")
    _shot(page, tmp_path, "serve_microphone.png")
    page.click("#record")  # stop
    page.wait_for_function("document.body.dataset.state === 'stopped'", timeout=10000)
