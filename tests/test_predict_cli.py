"""``serkit predict``: JSON lines schema, bad files in a batch, folders and globs, stdin streaming."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from serkit.cli.main import main
from serkit.testing import save_tiny_checkpoint
from test_inference import check_result

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("m") / "model.pt")


def test_json_lines_with_a_bad_file(model, assets, tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all" * 20)
    out = tmp_path / "p.jsonl"
    rc = main(["predict", str(assets / "03a02Ta.wav"), str(bad), str(assets / "08a02Tb.wav"),
               "--model", str(model), "--format", "json", "--out", str(out)])
    assert rc == 1
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [Path(r["file"]).name for r in lines] == ["03a02Ta.wav", "bad.wav", "08a02Tb.wav"]
    for r in lines:
        check_result(r)
    assert "error" in lines[1] and "not a readable audio file" in lines[1]["error"]
    assert "1 of 3 inputs failed" in capsys.readouterr().err


def test_folders_globs_and_csv(model, assets, tmp_path, capsys):
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    for f in ("03a02Ta.wav", "08a01Wa.wav"):
        (nested / f).write_bytes((assets / f).read_bytes())
    rc = main(["predict", str(tmp_path / "a"), str(assets / "*Wc.wav"), "--model", str(model), "--format", "csv"])
    assert rc == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert rows[0].startswith("file,duration,label,p_angry")
    assert [Path(r.split(",")[0]).name for r in rows[1:]] == ["03a02Ta.wav", "08a01Wa.wav", "03a02Wc.wav"]


def test_table_and_unknown_model(model, assets, capsys):
    assert main(["predict", str(assets / "03a02Ta.wav"), "--model", str(model)]) == 0
    assert "03a02Ta.wav" in capsys.readouterr().out
    assert main(["predict", str(assets / "03a02Ta.wav"), "--model", "no_such_model"]) == 1
    assert "bundled name" in capsys.readouterr().err


def test_stdin_streaming_emits_before_input_ends(model, assets):
    """Write raw S16_LE slowly into `serkit predict -`; the first line must arrive while the pipe is open."""
    clip = sf.read(assets / "03a02Wc.wav", dtype="int16")[0]
    gap = np.zeros(16000, np.int16)
    chunk = np.concatenate([clip, gap]).tobytes()
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "serkit.cli.main", "predict", "-", "--model", str(model),
                             "--format", "json"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    first: list[tuple[float, str]] = []
    done = threading.Event()

    def reader():
        line = proc.stdout.readline().decode()
        first.append((time.monotonic(), line))
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    closed_at = None
    try:
        # write up to 60 s of audio in 0.5 s pieces, pausing; stop as soon as a line has arrived
        for _ in range(20):
            for i in range(0, len(chunk), 16000):
                proc.stdin.write(chunk[i:i + 16000])
                proc.stdin.flush()
                if done.wait(0.05):
                    break
            if done.is_set():
                break
        assert done.wait(30), "no output within 30 s after writing: " + proc.stderr.read1().decode()
    finally:
        closed_at = time.monotonic()
        proc.stdin.close()
        proc.wait(timeout=60)
    t, line = first[0]
    assert t < closed_at, "first window printed only after stdin closed"
    w = json.loads(line)
    assert {"start", "end", "label", "scores"} <= set(w) and w["end"] > w["start"]
    assert proc.returncode == 0


# ---------------------------------------------------------------- issue 17: what a new user trips over
class _Stdin:
    def __init__(self, data: bytes) -> None:
        import io

        self.buffer = io.BytesIO(data)


def _encoded(path: Path, fmt: str, subtype: str | None) -> bytes:
    import io

    x, sr = sf.read(path, dtype="float32")
    b = io.BytesIO()
    sf.write(b, x, sr, format=fmt, subtype=subtype)
    return b.getvalue()


def _stdin_windows(monkeypatch, capsys, model, data: bytes) -> list[dict]:
    monkeypatch.setattr(sys, "stdin", _Stdin(data))
    assert main(["predict", "-", "--model", str(model), "--format", "json"]) == 0
    return [json.loads(x) for x in capsys.readouterr().out.splitlines()]


@pytest.mark.parametrize("fmt,subtype,tol", [("FLAC", None, 1e-4), ("OGG", "VORBIS", 0.1), ("MP3", "MPEG_LAYER_III", 0.1)])
def test_stdin_compressed_formats_are_decoded(model, assets, monkeypatch, capsys, audio_log, fmt, subtype, tol):
    """`cat x.flac | serkit predict -` decodes the stream instead of reading it as raw PCM."""
    clip = assets / "03a02Wc.wav"
    ref = _stdin_windows(monkeypatch, capsys, model, _encoded(clip, "WAV", "PCM_16"))
    got = _stdin_windows(monkeypatch, capsys, model, _encoded(clip, fmt, subtype))
    assert not any("raw" in m for m in audio_log)
    assert len(got) == len(ref) and got
    for a, b in zip(ref, got, strict=True):  # same speech at the same times (raw bytes would be shorter noise)
        assert abs(a["start"] - b["start"]) < 0.05 and abs(a["end"] - b["end"]) < 0.05
        assert max(abs(a["scores"][c] - b["scores"][c]) for c in a["scores"]) < tol


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def audio_log(monkeypatch):
    """Warnings of serkit.data.audio (its own handler: other tests may reconfigure logging)."""
    lg = logging.getLogger("serkit.data.audio")
    h = _Records()
    monkeypatch.setattr(lg, "disabled", False)
    lg.addHandler(h)
    yield h.messages
    lg.removeHandler(h)


def test_stdin_raw_pcm_says_so_once(model, assets, monkeypatch, capsys, audio_log):
    raw = sf.read(assets / "03a02Wc.wav", dtype="int16")[0].tobytes()
    got = _stdin_windows(monkeypatch, capsys, model, raw)
    assert got
    assert sum("raw 16-bit mono PCM" in m for m in audio_log) == 1


def test_csv_is_quoted_by_the_csv_module(model, assets, tmp_path, capsys):
    import csv as csv_mod
    import io

    odd = tmp_path / 'my "best", take.wav'
    odd.write_bytes((assets / "03a02Ta.wav").read_bytes())
    missing = tmp_path / "gone.wav"
    for extra in ([], ["--segments"]):
        capsys.readouterr()
        rc = main(["predict", str(odd), str(missing), "--model", str(model), "--format", "csv", *extra])
        assert rc == 1
        rows = list(csv_mod.reader(io.StringIO(capsys.readouterr().out)))
        head = rows[0]
        assert head[-1] == "error"
        assert all(len(r) == len(head) for r in rows), rows  # segment rows carry the trailing error cell
        assert rows[1][0] == str(odd)
        assert rows[-1][0] == str(missing) and "not found" in rows[-1][-1]


def test_table_says_what_the_score_is_and_top_k(model, assets, capsys):
    f = str(assets / "03a02Ta.wav")
    assert main(["predict", f, "--model", str(model)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "p(label)" in out[0]
    assert main(["predict", f, "--model", str(model), "--top-k", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "top-3" in out[0]
    import re

    assert len(re.findall(r"\b[01]\.\d{3}\b", out[1])) == 3
    r = next(iter(Predictor_load(model).predict_batch([f])))
    best = sorted(r["scores"], key=lambda c: -r["scores"][c])[:3]
    assert [w for w in out[1].split() if w in r["scores"]] == best


def Predictor_load(model):
    from serkit.inference import Predictor

    return Predictor.load(model, threads=1)


def test_inputs_without_files_say_what_to_do(model, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    rc = main(["predict", str(empty), str(tmp_path / "nothing" / "*.wav"), "--model", str(model), "--format", "json"])
    assert rc == 1
    a, b = (json.loads(x) for x in capsys.readouterr().out.splitlines())
    assert "holds no audio files" in a["error"] and "not an audio file" not in a["error"]
    assert "pattern matched no files" in b["error"] and "quote" in b["error"]


@pytest.mark.parametrize("argv", [["predict"], ["export"], ["demo"], ["plot", "timeline"]])
def test_help_has_no_raw_rst(argv, capsys):
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    text = capsys.readouterr().out
    assert "``" not in text and "::" not in text and ":func:" not in text


@pytest.mark.parametrize("segments", [False, True])
def test_no_speech_results_say_so_in_table_and_csv(segments):
    """robust-eval's no-speech results ({"label": None, "no_speech": True, no scores}) print "(no speech)"."""
    import csv as csv_mod
    import io

    from serkit.cli.predict import NO_SPEECH, _Writer

    r = {"file": "quiet.wav", "duration": 2.0, "label": None, "no_speech": True, "segments": []}
    buf = io.StringIO()
    _Writer("csv", buf, ["angry", "sad"], segments=segments).file(r)
    head, row = list(csv_mod.reader(io.StringIO(buf.getvalue())))
    assert len(row) == len(head) and row[head.index("label")] == NO_SPEECH and row[-1] == ""
    buf = io.StringIO()
    _Writer("table", buf, ["angry", "sad"], segments=segments).file(r)
    assert NO_SPEECH in buf.getvalue().splitlines()[1]
