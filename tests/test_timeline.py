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


def _jsonl(tmp_path, files):
    src = tmp_path / "preds.jsonl"
    src.write_text("".join(json.dumps({**RESULT, "file": f}) + "\n" for f in files))
    return src


def test_multi_file_jsonl_gives_one_figure_with_a_panel_per_file(tmp_path, capsys):
    """Issue 17: `--out timeline.png` of a 3-file JSONL writes timeline.png (not <stem>_timeline.png files)."""
    import matplotlib.image

    src = _jsonl(tmp_path, ["x/day1/call.wav", "x/day2/call.wav", "y.wav"])
    out = tmp_path / "timeline.png"
    assert main(["plot", "timeline", str(src), "--out", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(out)]
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["timeline.png"]
    one = plot_timeline(RESULT, tmp_path / "one.png")
    h3, h1 = matplotlib.image.imread(out).shape[0], matplotlib.image.imread(one).shape[0]
    assert h3 > 2.5 * h1 * 0.8  # three panels


def test_out_folder_gives_unique_names(tmp_path, capsys):
    src = _jsonl(tmp_path, ["x/day1/call.wav", "x/day2/call.wav", "y.wav", "y.wav"])
    assert main(["plot", "timeline", str(src), "--out", str(tmp_path / "figs") + "/"]) == 0
    written = capsys.readouterr().out.split()
    assert len(written) == 4 and len(set(written)) == 4
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == sorted(
        ["day1_call_timeline.png", "day2_call_timeline.png", "y_timeline.png", "y_2_timeline.png"])


def test_file_not_in_jsonl_says_so(tmp_path, capsys):
    src = _jsonl(tmp_path, ["a.wav"])
    assert main(["plot", "timeline", str(src), "--file", "zzz.wav"]) == 1
    err = capsys.readouterr().err
    assert "no line for this file" in err and "a.wav" in err and "no successful predictions" not in err
