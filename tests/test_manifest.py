"""Utterance records and JSONL manifests."""

from __future__ import annotations

import json

import pytest

from serkit.data.manifest import Utterance, read_jsonl, summary, validate, write_jsonl
from serkit.errors import ManifestError


def _utt(i: int, **kw) -> Utterance:
    base = dict(id=f"u{i}", path=f"/data/u{i}.wav", speaker=f"s{i % 2}", corpus="toy")
    base.update(kw)
    return Utterance(**base)


def test_roundtrip_every_field(tmp_path):
    full = _utt(0, start=1.25, duration=2.5, gender="f", emotion="happy", avd=(3.0, 4.5, 2.0),
                text="Hallo Welt", session="Ses01", custom={"partition": "Train", "intensity": 2})
    bare = _utt(1)
    p = write_jsonl([full, bare], tmp_path / "sub" / "m.jsonl")
    rows = [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["avd"] == [3.0, 4.5, 2.0] and rows[0]["text"] == "Hallo Welt"
    assert set(rows[0]) == {"id", "path", "speaker", "corpus", "start", "duration", "gender", "emotion",
                            "avd", "text", "session", "custom"}
    back = read_jsonl(p)
    assert back == [full, bare]
    assert isinstance(back[0].avd, tuple)


def test_relative_paths_resolve_against_manifest(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "m.jsonl").write_text(json.dumps({"id": "a", "path": "wav/a.wav", "speaker": 7}) + "\n\n")
    (u,) = read_jsonl(tmp_path / "m" / "m.jsonl")
    assert u.path == str((tmp_path / "m" / "wav" / "a.wav").resolve())
    assert u.speaker == "7"  # numeric speaker ids become strings


@pytest.mark.parametrize("row,match", [
    ({"id": "a", "path": "a.wav", "speaker": "s", "emotoin": "sad"}, "unknown keys"),
    ({"id": "a", "path": "a.wav"}, "speaker"),
    ({"id": "", "path": "a.wav", "speaker": "s"}, "'id'"),
    ({"id": "a", "path": "a.wav", "speaker": "s", "avd": [1, 2]}, "avd"),
    ({"id": "a", "path": "a.wav", "speaker": "s", "avd": ["high", 2, 3]}, "avd"),
    ({"id": "a", "path": "a.wav", "speaker": "s", "start": "soon"}, "start"),
])
def test_bad_rows_raise_with_line_number(tmp_path, row, match):
    p = tmp_path / "m.jsonl"
    p.write_text(json.dumps({"id": "ok", "path": "x.wav", "speaker": "s"}) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(ManifestError, match=match) as ei:
        read_jsonl(p)
    assert f"{p}:2" in str(ei.value)


def test_not_json_and_missing_and_duplicates(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text("{not json}\n")
    with pytest.raises(ManifestError, match="not valid JSON"):
        read_jsonl(p)
    with pytest.raises(ManifestError, match="serkit prepare"):
        read_jsonl(tmp_path / "missing.jsonl")
    with pytest.raises(ManifestError, match="duplicate ids"):
        validate([_utt(0), _utt(0)])
    with pytest.raises(ManifestError, match="no utterances"):
        validate([])


def test_summary():
    us = [_utt(0, emotion="sad", duration=1800.0), _utt(1, emotion="sad", duration=1800.0), _utt(2, emotion="angry")]
    assert summary(us) == {"utterances": 3, "speakers": 2, "hours": 1.0, "emotions": {"angry": 1, "sad": 2}}


def test_assets_manifest(assets):
    utts = read_jsonl(assets / "manifest.jsonl")
    assert len(utts) == 4
    assert all((assets / u.path).exists() for u in utts)
