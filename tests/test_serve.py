"""serkit serve: every route, the limits and the safety rules, on loopback (tiny random model, real audio)."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("fastapi_offline")

from fastapi.testclient import TestClient  # noqa: E402

from serkit.inference import Predictor, result_json  # noqa: E402
from serkit.serve import ServeConfig, create_app  # noqa: E402
from serkit.testing import save_tiny_checkpoint  # noqa: E402
from serkit.vad import SegmentConfig  # noqa: E402

TOKEN = "s3cret-token-for-tests"


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("serve") / "m.pt")


@pytest.fixture(scope="module")
def predictor(model) -> Predictor:
    return Predictor.from_checkpoint(model, segment=SegmentConfig(max_window=1.0))


def client(predictor, **kw) -> TestClient:
    return TestClient(create_app(ServeConfig(**kw), predictor=predictor))


@pytest.fixture
def wav(assets) -> bytes:
    return (assets / "03a02Ta.wav").read_bytes()


def test_predict_is_the_cli_json(predictor, model, assets, tmp_path, wav):
    """Multipart and raw body both answer exactly the object serkit predict --format json writes."""
    from serkit.cli.main import main

    out = tmp_path / "p.jsonl"
    f = assets / "03a02Ta.wav"
    assert main(["predict", str(f), "--model", str(model), "--format", "json", "--max-window", "1",
                 "--out", str(out)]) == 0
    cli = json.loads(out.read_text().splitlines()[0])
    with client(predictor) as c:
        r = c.post("/v1/predict", files={"file": ("03a02Ta.wav", wav, "audio/wav")})
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.text == result_json({**cli, "file": "03a02Ta.wav"})
        raw = c.post("/v1/predict?filename=take1.wav", content=wav, headers={"Content-Type": "audio/wav"})
        assert raw.status_code == 200 and raw.json() == {**cli, "file": "take1.wav"}
        short = c.post("/v1/predict?segments=false", content=wav).json()
        assert "segments" not in short and short["scores"] == cli["scores"] and short["file"] == "upload"


def test_batch_with_one_bad_file_answers_the_others(predictor, assets, wav):
    files = [("file", ("a.wav", wav, "audio/wav")), ("file", ("notes.txt", b"not audio at all" * 50, "text/plain")),
             ("file", ("b.wav", (assets / "08a01Wa.wav").read_bytes(), "audio/wav"))]
    with client(predictor) as c:
        r = c.post("/v1/predict", files=files)
    assert r.status_code == 200
    a, bad, b = r.json()
    assert a["file"] == "a.wav" and a["label"] in predictor.label_names
    assert b["file"] == "b.wav" and b["label"] in predictor.label_names
    assert set(bad) == {"file", "error"} and bad["file"] == "notes.txt"
    assert bad["error"].startswith("notes.txt: not a readable audio file") and "serkit-serve-" not in bad["error"]


def test_non_audio_is_a_clear_4xx_json_error(predictor):
    with client(predictor) as c:
        r = c.post("/v1/predict", files={"file": ("cat.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 2000, "image/jpeg")})
        assert r.status_code == 422
        j = r.json()
        assert j["file"] == "cat.jpg" and "not a readable audio file" in j["error"] and "convert" in j["error"]
        empty = c.post("/v1/predict", content=b"")
        assert empty.status_code == 400 and "no audio" in empty.json()["error"]
        nofile = c.post("/v1/predict", data={"speaker": "x"}, files={"other": ("a", b"1")})
        assert nofile.status_code == 400 and "'file'" in nofile.json()["error"]


def test_client_file_name_is_never_a_path(predictor, wav, tmp_path, monkeypatch):
    """'../../etc/passwd' is echoed as a label; the upload lands under a random name in a private
    temporary folder that is gone after the answer."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest() if Path("/etc/passwd").exists() else None
    seen = []
    orig = Path.write_bytes

    def spy(self, data):
        seen.append(self)
        return orig(self, data)

    monkeypatch.setattr(Path, "write_bytes", spy)
    with client(predictor) as c:
        for name in ("../../etc/passwd", "/etc/passwd", "..\\..\\win.ini"):
            r = c.post("/v1/predict", files={"file": (name, wav, "audio/wav")})
            assert r.status_code == 200, r.text
            assert r.json()["file"] == name
        r = c.post("/v1/predict", params={"filename": "../a\nb.wav"}, content=wav)
        assert r.json()["file"] == "../ab.wav"  # control characters dropped from the echoed label
    assert seen and all(p.parent.parent == tmp_path and p.parent.name.startswith("serkit-serve-") for p in seen)
    assert all(p.name in ("0.audio", "0.wav") for p in seen)
    assert list(tmp_path.iterdir()) == []  # removed after each answer
    if before:
        assert hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest() == before


def test_upload_over_the_limit_is_413(predictor, wav):
    with client(predictor, max_upload_mb=0.01) as c:
        r = c.post("/v1/predict", files={"file": ("big.wav", wav, "audio/wav")})
        assert r.status_code == 413 and "over the 0.01 MB limit" in r.json()["error"]

        def chunks():  # no Content-Length: the limit applies while the body streams in
            for i in range(0, len(wav), 4096):
                yield wav[i:i + 4096]

        r = c.post("/v1/predict", content=chunks())
        assert r.status_code == 413 and "--max-upload-mb" in r.json()["error"]
        assert c.post("/v1/predict", content=wav[:5000]).status_code == 422  # under the limit: read


def test_audio_over_the_duration_limit_is_422(predictor, wav):
    with client(predictor, max_seconds=1.0) as c:
        r = c.post("/v1/predict", files={"file": ("long.wav", wav, "audio/wav")})
    assert r.status_code == 422
    assert r.json() == {"file": "long.wav", "error": "long.wav: is 1.5 s long, over the 1 s limit; cut it into "
                        "shorter files, or run serkit predict, which reads files of any length"}


def test_token_required_on_every_route_but_healthz(predictor, wav):
    with client(predictor, token=TOKEN) as c:
        assert c.get("/healthz").status_code == 200
        for path in ("/readyz", "/v1/models", "/", "/docs", "/openapi.json", "/static/app.js"):
            r = c.get(path)
            assert r.status_code == 401, path
            assert "Authorization: Bearer" in r.json()["error"] and r.headers["www-authenticate"].startswith("Bearer")
        assert c.post("/v1/predict", content=wav).status_code == 401
        assert c.get("/v1/models", headers={"Authorization": "Bearer wrong-token-xx"}).status_code == 401
        ok = {"Authorization": f"Bearer {TOKEN}"}
        assert c.get("/v1/models", headers=ok).status_code == 200
        assert c.post("/v1/predict", content=wav, headers=ok).status_code == 200
        with pytest.raises(Exception):  # noqa: B017 - starlette raises its WebSocketDisconnect on a refused handshake
            with c.websocket_connect("/v1/stream"):
                pass
    # the page opened as /?token=... sets a same-site cookie that authenticates what it loads next
    with client(predictor, token=TOKEN) as c:
        r = c.get(f"/?token={TOKEN}")
        assert r.status_code == 200 and "HttpOnly" in r.headers["set-cookie"]
        assert "SameSite=Strict" in r.headers["set-cookie"]
        assert c.get("/static/app.js").status_code == 200 and c.get("/openapi.json").status_code == 200


def test_models_probes_docs_and_page(predictor):
    with client(predictor) as c:
        m = c.get("/v1/models").json()
        assert m["models"][0]["labels"] == predictor.label_names and m["models"][0]["sample_rate"] == 16000
        assert m["limits"]["max_upload_mb"] == 25.0
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").json()["status"] == "ready"
        docs = c.get("/docs")
        assert docs.status_code == 200 and "swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
        spec = c.get("/openapi.json").json()
        assert {"/v1/predict", "/v1/models", "/healthz", "/readyz"} <= set(spec["paths"])
        page = c.get("/")
        assert page.status_code == 200 and "/static/app.js" in page.text
        for asset in ("/static/app.js", "/static/style.css", "/static/pcm-worklet.js"):
            body = c.get(asset).text.replace("http://www.w3.org/2000/svg", "")  # a namespace name, not a fetch
            assert "http://" not in body and "https://" not in body  # works offline: nothing from outside


def test_readyz_and_predict_wait_for_the_model(model):
    """Loaded in the background at start-up: 503 + Retry-After until then, no pickle needed."""
    app = create_app(ServeConfig(model=str(model)))
    with TestClient(app) as c:
        t0 = time.monotonic()
        while c.get("/readyz").status_code != 200:
            r = c.post("/v1/predict", content=b"x")
            if r.status_code != 503:  # loaded in between
                assert c.get("/readyz").status_code == 200
                break
            assert r.headers["retry-after"] and "loading" in r.json()["error"]
            assert time.monotonic() - t0 < 60
            time.sleep(0.05)
    bad = create_app(ServeConfig(model="/no/such/model.pt"))
    with TestClient(bad) as c:
        while (r := c.get("/readyz")).json()["status"] == "loading":
            time.sleep(0.02)
        assert r.status_code == 503 and "not found" in r.json()["error"]


def test_full_queue_is_503_with_retry_after_and_timeout_is_504(predictor, wav, monkeypatch):
    app = create_app(ServeConfig(queue_size=2, timeout=0.5), predictor=predictor)
    runner = app.state.runner
    with TestClient(app) as c:
        runner.pending = 2  # two requests in flight
        r = c.post("/v1/predict", content=wav)
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1 and "busy" in r.json()["error"]
        runner.pending = 0

        slow = predictor.predict_batch

        def slow_batch(paths, **kw):
            time.sleep(1.0)
            yield from slow(paths, **kw)

        monkeypatch.setattr(predictor, "predict_batch", slow_batch)
        r = c.post("/v1/predict", content=wav)
        assert r.status_code == 504 and "0.5 s limit" in r.json()["error"]
        monkeypatch.undo()
        t0 = time.monotonic()
        while runner.pending:  # the slot comes back once the model thread is done
            assert time.monotonic() - t0 < 5
            time.sleep(0.05)
        assert c.post("/v1/predict", content=wav).status_code == 200


def test_speaker_is_passed_or_refused_clearly(predictor, wav):
    with client(predictor) as c:
        r = c.post("/v1/predict?speaker=alice", content=wav)
    from serkit.serve.app import _speaker_supported

    if _speaker_supported(predictor):
        assert r.status_code == 200 and r.json()["speaker"] == "alice" and "adapted" in r.json()
    else:
        assert r.status_code == 422 and "speaker adaptation is not available" in r.json()["error"]


def test_cors_closed_by_default(predictor):
    origin = {"Origin": "https://evil.example"}
    with client(predictor) as c:
        assert "access-control-allow-origin" not in c.get("/v1/models", headers=origin).headers
    with client(predictor, cors_origins=("https://app.example",)) as c:
        r = c.get("/v1/models", headers={"Origin": "https://app.example"})
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        assert "access-control-allow-origin" not in c.get("/v1/models", headers=origin).headers


def test_access_log_is_one_json_line_per_request(predictor, wav, caplog):
    with caplog.at_level(logging.INFO, logger="serkit.serve.access"), client(predictor) as c:
        c.post("/v1/predict", content=wav)
        c.get("/nope")
    recs = [json.loads(r.getMessage()) for r in caplog.records if r.name == "serkit.serve.access"]
    p, missing = recs[-2], recs[-1]
    assert p["route"] == "/v1/predict" and p["status"] == 200 and p["files"] == 1
    assert p["audio_seconds"] == pytest.approx(1.5, abs=0.01) and p["latency_ms"] > 0
    assert missing["status"] == 404 and missing["audio_seconds"] == 0


def _pcm(assets, seconds_silence: float = 0.6) -> bytes:
    """Three EmoDB clips with silences between them, as 16 kHz S16LE."""
    import soundfile as sf

    parts = []
    for n in ("03a02Ta.wav", "08a01Wa.wav", "03a02Wc.wav"):
        x, sr = sf.read(assets / n, dtype="int16")
        assert sr == 16000
        parts += [x, np.zeros(int(seconds_silence * sr), dtype=np.int16)]
    return np.concatenate(parts).astype("<i2").tobytes()


def test_websocket_emits_windows_before_the_stream_ends(predictor, assets):
    """Windows arrive while audio is still being sent; together they are what serkit predict - prints."""
    from websockets.sync.client import connect

    from _serve_server import running
    from serkit.data.audio import read_pcm_stream

    pcm = _pcm(assets)
    want = [json.loads(result_json(w)) for w in predictor.predict_stream(
        read_pcm_stream(io.BytesIO(pcm), block_samples=4000, source_rate=16000))]
    assert len(want) >= 2
    with running(create_app(ServeConfig(), predictor=predictor)) as url:
        with connect(url.replace("http", "ws") + "/v1/stream") as ws:
            ws.send(json.dumps({"sample_rate": 16000}))
            got, sent, first_at = [], 0, None
            step = 3200  # 0.1 s of audio per message, sent a little faster than real time
            while sent < len(pcm):
                ws.send(pcm[sent:sent + step])
                sent += step
                try:
                    while True:
                        got.append(json.loads(ws.recv(timeout=0.02)))
                        first_at = first_at if first_at is not None else sent
                except TimeoutError:
                    pass
            assert first_at is not None and first_at < len(pcm), "no window before the end of the stream"
            ws.send(json.dumps({"type": "end"}))
            try:
                while True:
                    got.append(json.loads(ws.recv(timeout=10)))
            except Exception:  # noqa: BLE001 - the server closes (1000) after the last window
                pass
    assert got == want


def test_websocket_bad_first_message_and_adaptation(predictor, assets):
    from websockets.sync.client import connect

    from _serve_server import running
    from serkit.serve.app import _stream_adapt_supported

    with running(create_app(ServeConfig(), predictor=predictor)) as url:
        with connect(url.replace("http", "ws") + "/v1/stream") as ws:
            ws.send("hello")
            assert "sample_rate" in json.loads(ws.recv(timeout=5))["error"]
        if not _stream_adapt_supported(predictor):
            return
        with connect(url.replace("http", "ws") + "/v1/stream") as ws:  # the stream is one speaker
            ws.send(json.dumps({"sample_rate": 16000, "adapt": True}))
            ws.send(_pcm(assets))
            ws.send(json.dumps({"type": "end"}))
            wins = [json.loads(ws.recv(timeout=10)) for _ in range(2)]
    assert all("adapted" in w and "speaker_seconds" in w for w in wins)


def test_cli_serve_parser_defaults_to_loopback():
    from serkit.cli.main import build_parser
    from serkit.cli.serve import config_from_args

    cfg = config_from_args(build_parser().parse_args(["serve"]))
    assert cfg.host == "127.0.0.1" and cfg.token is None and not cfg.cors_origins
    cfg = config_from_args(build_parser().parse_args(["serve", "--token", TOKEN, "--max-upload-mb", "5"]))
    assert cfg.token == TOKEN and cfg.max_upload_bytes == 5_000_000
    from serkit.errors import ConfigError

    with pytest.raises(ConfigError, match="shorter than 8"):
        ServeConfig(token="abc")


def test_cli_serve_number_flags_set_their_setting():
    """Each flag of serve's NUMBERS table reaches its own ServeConfig field, with the field's type."""
    from serkit.cli.main import build_parser
    from serkit.cli.serve import NUMBERS, config_from_args

    argv = ["serve"]
    want = {}
    for i, (name, _, _) in enumerate(NUMBERS):
        value = type(getattr(ServeConfig(), name))(i + 2)  # distinct values, none a default
        argv += ["--" + name.replace("_", "-"), str(value)]
        want[name] = value
    cfg = config_from_args(build_parser().parse_args(argv))
    assert {name: getattr(cfg, name) for name in want} == want
    assert all(type(getattr(cfg, n)) is type(v) for n, v in want.items())
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--port", "8000.5"])  # an int flag stays an int flag


def test_cli_serve_starts_uvicorn_one_or_many_workers(model, monkeypatch):
    """serkit serve hands uvicorn the app (1 worker) or the factory that rebuilds it from the environment."""
    import uvicorn

    from serkit.cli.main import main
    from serkit.serve.config import CONFIG_ENV, TOKEN_ENV

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert main(["serve", "--model", str(model), "--port", "8123"]) == 0
    app, kw = calls[-1]
    assert kw["host"] == "127.0.0.1" and kw["port"] == 8123 and kw["access_log"] is False and callable(app)
    monkeypatch.setenv(CONFIG_ENV, "")
    assert main(["serve", "--model", str(model), "--workers", "2", "--token", TOKEN, "--max-files", "3"]) == 0
    app, kw = calls[-1]
    assert app == "serkit.serve.app:app_from_env" and kw["factory"] is True and kw["workers"] == 2
    import os

    cfg = ServeConfig.from_env()
    assert cfg.model == str(model) and cfg.max_files == 3 and cfg.token == TOKEN
    assert TOKEN not in os.environ[CONFIG_ENV]  # the token travels only in SERKIT_TOKEN
    from serkit.serve.app import app_from_env

    with TestClient(app_from_env()) as c:  # what each worker builds
        assert c.get("/v1/models").status_code == 401 and c.get("/healthz").status_code == 200
    assert main(["serve", "--model", "/no/such/dir"]) == 1  # a wrong path fails before uvicorn starts
