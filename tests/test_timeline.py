"""Timeline plot from prediction results (viz) and ``serkit plot timeline``."""

from __future__ import annotations

import json

import pytest

from serkit.cli.main import main
from serkit.viz.timeline import plot_timeline

RESULT = {"file": "a.wav", "duration": 10.0, "label": "sad", "scores": {"angry": 0.2, "sad": 0.8},
          "segments": [{"start": 0.5, "end": 3.0, "label": "angry", "scores": {"angry": 0.7, "sad": 0.3}},
                       {"start": 4.0, "end": 9.5, "label": "sad", "scores": {"angry": 0.05, "sad": 0.95},
                        }]}


def test_plot_timeline_writes_png(tmp_path):
    out = plot_timeline(RESULT, tmp_path / "t.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    avd = {**RESULT, "segments": [{**s, "arousal": 0.1, "valence": 0.2, "dominance": 0.3} for s in RESULT["segments"]]}
    assert plot_timeline(avd, tmp_path / "avd.png").stat().st_size > 1000


def test_plot_timeline_rejects_errors(tmp_path):
    with pytest.raises(ValueError, match="failed prediction"):
        plot_timeline({"file": "x.wav", "error": "boom"}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="no segments"):
        plot_timeline({**RESULT, "segments": []}, tmp_path / "x.png")


def test_plot_timeline_cli_from_jsonl(tmp_path, capsys):
    src = tmp_path / "p.jsonl"
    src.write_text(json.dumps(RESULT) + "\n" + json.dumps({"file": "b.wav", "error": "x"}) + "\n")
    assert main(["plot", "timeline", str(src), "--out", str(tmp_path / "tl.png")]) == 0
    assert (tmp_path / "tl.png").is_file()
