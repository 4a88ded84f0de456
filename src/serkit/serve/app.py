"""The FastAPI application of ``serkit serve``: a thin HTTP layer over :class:`serkit.Predictor`.

Every answer about a file is the JSON that ``serkit predict --format json`` writes for it
(:func:`serkit.inference.result_json`), and every window of a stream the line that ``serkit
predict -`` writes. One Predictor per worker process, loaded once at start-up in the background
(``/readyz`` says when it is ready), is used by one thread at a time.

Safety: uploads are capped in bytes (413) and audio seconds (422) before any decoding; they are
written under random names into a private (0700) temporary folder that is removed after the
answer, so the client's file name is only ever echoed as a string; models load without pickle
(``torch.load(weights_only=True)`` or ONNX); at most ``queue_size`` requests per worker are
admitted at once (the next gets 503 with ``Retry-After``, so memory stays bounded); each request
has a deadline (504); CORS is closed unless origins are listed; with a token, every route but
``/healthz`` needs it. One JSON access-log line per request goes to the ``serkit.serve.access``
logger.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import json
import logging
import math
import queue
import re
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import parse_qs

from serkit.errors import AudioError, MissingDependencyError
from serkit.serve.config import ServeConfig

try:
    from fastapi import FastAPI, Query, Request, WebSocket, WebSocketDisconnect
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles
    from fastapi_offline import FastAPIOffline
except ImportError as e:  # pragma: no cover - depends on the installed extras
    raise MissingDependencyError(e.name or "fastapi", "serve") from None

log = logging.getLogger(__name__)
access_log = logging.getLogger("serkit.serve.access")

STATIC = Path(__file__).resolve().parent / "static"
TOKEN_COOKIE = "serkit_token"
#: routes open without a token (liveness probes must not need secrets)
OPEN_PATHS = ("/healthz",)
_NAME_BAD = re.compile(r"[\x00-\x1f\x7f]")


def _display_name(name: str | None, default: str) -> str:
    """The client's file name as a label only: control characters removed, at most 200 characters."""
    n = _NAME_BAD.sub("", name or "").strip()
    return n[-200:] if n else default


def _suffix(name: str) -> str:
    """A known audio extension of the client's name (libsndfile needs it for MP3), else ``.audio``."""
    from serkit.data.audio import AUDIO_EXTENSIONS

    s = PurePath(name.replace("\\", "/")).suffix.lower()
    return s if s in AUDIO_EXTENSIONS else ".audio"


class ServiceError(Exception):
    """An answer other than 200, as ``{"error": ..., "file"?: ...}`` JSON with a status code."""

    def __init__(self, status: int, error: str, *, file: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.file, self.headers = status, error, file, headers or {}

    def response(self) -> JSONResponse:
        body = {"file": self.file, "error": self.error} if self.file is not None else {"error": self.error}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


# --------------------------------------------------------------------------- model runner
class ModelRunner:
    """One Predictor per worker, one thread at a time, behind a bounded admission counter.

    ``admit()`` hands out at most ``queue_size`` slots; a request holds its slot from before its
    body is read until its model job has finished, so the memory of uploads is bounded by
    ``queue_size * max_upload_mb``. Model jobs run on one executor thread; streams run on their
    own threads but take the same lock while they compute.
    """

    def __init__(self, cfg: ServeConfig, predictor=None) -> None:
        self.cfg = cfg
        self.predictor = predictor
        self.error: str | None = None
        self.lock = threading.Lock()
        self.pending = 0
        self.streams = 0
        self.service_s = 0.05  # moving average of one job's seconds, for Retry-After
        self.executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="serkit-model")
        self.loaded = threading.Event()
        if predictor is not None:
            self.loaded.set()

    def load(self) -> None:
        """Load the Predictor (in the executor thread; ``/readyz`` reports progress)."""
        from serkit.inference import Predictor
        from serkit.vad import SegmentConfig

        try:
            self.predictor = Predictor.load(self.cfg.model, threads=self.cfg.threads,
                                            segment=SegmentConfig(vad=self.cfg.vad, max_window=self.cfg.max_window))
        except Exception as e:  # noqa: BLE001 - reported by /readyz and the log, the process stays up for probes
            self.error = f"{type(e).__name__}: {e}"
            log.error("model %s failed to load: %s", self.cfg.model, self.error)
        finally:
            self.loaded.set()

    def ready(self) -> bool:
        return self.predictor is not None

    def retry_after(self) -> str:
        """Seconds after which a slot is likely free (whole seconds, at least 1)."""
        return str(max(1, math.ceil(self.pending * self.service_s)))

    def not_ready(self) -> ServiceError:
        """The 503 for requests that arrive before the model is loaded (or after it failed)."""
        msg = ("model is still loading" if not self.loaded.is_set()
               else f"model failed to load ({self.error}); see the server log")
        return ServiceError(503, f"{msg}; retry later", headers={"Retry-After": "2"})

    def admit(self) -> None:
        """Take a slot or raise 503 (queue full, or the model not loaded yet)."""
        if not self.ready():
            raise self.not_ready()
        if self.pending >= self.cfg.queue_size:
            raise ServiceError(503, f"server busy: {self.pending} requests queued (queue size "
                                    f"{self.cfg.queue_size}); retry after the Retry-After seconds",
                               headers={"Retry-After": self.retry_after()})
        self.pending += 1

    def release(self) -> None:
        self.pending -= 1

    def submit(self, fn: Callable[[], Any], deadline: float) -> concurrent.futures.Future:
        """Run ``fn`` on the model thread under the model lock, unless ``deadline`` has passed."""

        def job():
            if time.monotonic() > deadline:
                raise TimeoutError("deadline passed while queued")
            t = time.perf_counter()
            with self.lock:
                out = fn()
            self.service_s = 0.8 * self.service_s + 0.2 * (time.perf_counter() - t)
            return out

        return self.executor.submit(job)


# --------------------------------------------------------------------------- uploads
async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, or 413 as soon as it exceeds ``limit`` bytes (header or actual count)."""
    n = request.headers.get("content-length")
    if n is not None and n.isdigit() and int(n) > limit:
        raise _too_large(int(n), limit)
    chunks, got = [], 0
    async for c in request.stream():
        got += len(c)
        if got > limit:
            raise _too_large(None, limit)
        chunks.append(c)
    return b"".join(chunks)


async def _receive(request: Request, cfg: ServeConfig, filename: str | None) -> list[tuple[str, bytes]]:
    body = await _read_body(request, cfg.max_upload_bytes)
    return await _uploads(request, body, filename, cfg.max_files)


def _too_large(size: int | None, limit: int) -> ServiceError:
    got = f"is {size / 1e6:.1f} MB" if size is not None else "is larger than that"
    return ServiceError(413, f"upload: the request body {got}, over the {limit / 1e6:g} MB limit; send shorter "
                             "or compressed (FLAC) audio, fewer files per request, or start serkit serve "
                             "with a larger --max-upload-mb")


async def _uploads(request: Request, body: bytes, filename: str | None, max_files: int) -> list[tuple[str, bytes]]:
    """``(display name, bytes)`` of each uploaded file (multipart fields, or the raw body)."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        if not body:
            raise ServiceError(400, "no audio in the request; send the file as the body (curl --data-binary "
                                    "@a.wav) or as multipart form field 'file' (curl -F file=@a.wav)")
        return [(_display_name(filename, "upload"), body)]

    async def replay():
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=max_files, max_fields=32)
    except Exception as e:  # noqa: BLE001 - malformed multipart: the client's error
        if "too many files" in str(e).lower():
            raise ServiceError(413, f"more than {max_files} files in one request, over the --max-files "
                                    "limit; split the batch") from None
        raise ServiceError(400, f"malformed multipart body ({type(e).__name__}: {str(e)[:160]}); "
                                "send files as form fields named 'file'") from None
    out: list[tuple[str, bytes]] = []
    try:
        for key, v in form.multi_items():
            if hasattr(v, "read") and key in ("file", "files"):
                out.append((_display_name(v.filename, f"file{len(out) + 1}"), await v.read()))
        # plain form fields of the same name as the query parameters
        extra = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    finally:
        await form.close()
    if not out:
        raise ServiceError(400, "no file in the multipart body; send each file as a form field named 'file' "
                                "(curl -F file=@a.wav -F file=@b.wav)")
    request.state.form = extra
    return out


def _check_duration(path: Path, name: str, max_seconds: float) -> None:
    """422 before decoding when the header says the audio is too long (the CLI's wording)."""
    from serkit.data import audio

    d = audio.info(path).duration
    if d > max_seconds:
        raise AudioError(name, f"is {d:.1f} s long, over the {max_seconds:g} s limit",
                         "cut it into shorter files, or run serkit predict, which reads files of any length")


def _predict_files(runner: ModelRunner, files: list[tuple[str, bytes]], *, segments: bool,
                   speaker: str | None) -> list[tuple[int, dict[str, Any]]]:
    """(status, result) per file, in order: the model thread's part of ``POST /v1/predict``."""
    pred = runner.predictor
    with tempfile.TemporaryDirectory(prefix="serkit-serve-") as tmp:  # mkdtemp: mode 0700
        paths = []
        for i, (name, data) in enumerate(files):
            p = Path(tmp) / f"{i}{_suffix(name)}"  # never the client's name
            p.write_bytes(data)
            paths.append(p)
        out: list[tuple[int, dict[str, Any]] | None] = [None] * len(files)
        todo = []
        for i, p in enumerate(paths):
            try:
                _check_duration(p, files[i][0], runner.cfg.max_seconds)
                todo.append(i)
            except AudioError as e:
                out[i] = (422, {"file": files[i][0], "error": _rename(str(e), p, files[i][0])})
        kw = {}
        if speaker is not None:
            kw["speakers"] = [speaker] * len(todo)
        for i, r in zip(todo, pred.predict_batch([paths[i] for i in todo], **kw), strict=True):
            name = files[i][0]
            r = {**r, "file": name}
            if "error" in r:
                out[i] = (422, {"file": name, "error": _rename(r["error"], paths[i], name)})
                continue
            if not segments:
                r.pop("segments", None)
            out[i] = (200, r)
    return out  # type: ignore[return-value]


def setup_access_log() -> None:
    """Send the access log to stderr, one bare JSON object per line (once per process)."""
    import sys

    if not access_log.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(h)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False


def app_from_env() -> FastAPI:
    """The app of one uvicorn worker process of ``serkit serve --workers N`` (settings from the environment)."""
    setup_access_log()
    return create_app(ServeConfig.from_env())


def _rename(msg: str, path: Path, name: str) -> str:
    """An error message about the temporary copy, told about the client's file name instead."""
    return msg.replace(str(path), name)


def _speaker_supported(pred) -> bool:
    """The Predictor's ``predict_batch`` takes ``speakers=`` (speaker adaptation, serkit.adapt)."""
    import inspect

    return "speakers" in inspect.signature(pred.predict_batch).parameters


def _stream_adapt_supported(pred) -> bool:
    """The Predictor's ``predict_stream`` takes ``adapt=`` (running speaker statistics of a stream)."""
    import inspect

    return "adapt" in inspect.signature(pred.predict_stream).parameters


def _adaptation_note(pred) -> str | None:
    """Why this model cannot be adapted to a speaker (None: it can)."""
    if not _speaker_supported(pred):
        return "this serkit has no speaker adaptation"
    why = getattr(pred, "adaptation_unsupported", None)
    return why() if why is not None else None


# --------------------------------------------------------------------------- streams
class _PipeReader:
    """A blocking binary file for :func:`serkit.data.audio.read_pcm_stream`, fed from the event loop.

    While it waits for data it releases the model lock, so that other requests use the model
    between the windows of a live stream.
    """

    def __init__(self, lock: threading.Lock, idle_timeout: float) -> None:
        self.q: queue.Queue[bytes | None] = queue.Queue(maxsize=64)
        self.lock, self.idle = lock, idle_timeout
        self.buf = b""
        self.eof = False
        self.timed_out = False

    def read(self, n: int) -> bytes:
        while not self.buf and not self.eof:
            self.lock.release()
            try:
                item = self.q.get(timeout=self.idle)
            except queue.Empty:
                self.timed_out, item = True, None
            finally:
                self.lock.acquire()
            if item is None:
                self.eof = True
            else:
                self.buf += item
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


# --------------------------------------------------------------------------- middleware
class AccessAndAuth:
    """Pure ASGI middleware: bearer-token check (header, ``?token=`` or cookie) and one JSON
    access-log line per HTTP request or WebSocket session."""

    def __init__(self, app, token: str | None) -> None:
        self.app, self.token = app, token

    def _token_of(self, scope) -> tuple[str | None, bool]:
        """(token presented, came from the query string)."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip(), False
        q = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
        if q:
            return q[0], True
        for part in headers.get("cookie", "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == TOKEN_COOKIE:
                return v, False
        return None, False

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        state = scope.setdefault("state", {})
        info: dict[str, int | None] = {"status": None}
        set_cookie = False
        if self.token and scope["path"] not in OPEN_PATHS:
            got, from_query = self._token_of(scope)
            if got is None or not hmac.compare_digest(got.encode(), self.token.encode()):
                info["status"] = 401 if scope["type"] == "http" else 403
                await self._deny(scope, receive, send, got is None)
                self._log(scope, state, info, t0)
                return
            set_cookie = from_query and scope["type"] == "http"

        async def send_wrap(msg):
            if msg["type"] == "http.response.start":
                info["status"] = msg["status"]
                if set_cookie:  # the page opened with ?token=... authenticates its own later requests
                    cookie = f"{TOKEN_COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
                    msg = {**msg, "headers": [*msg.get("headers", []), (b"set-cookie", cookie.encode())]}
            elif msg["type"] == "websocket.accept":
                info["status"] = 101
            elif msg["type"] == "websocket.close" and info["status"] is None:
                info["status"] = 403
            await send(msg)

        try:
            await self.app(scope, receive, send_wrap)
        finally:
            self._log(scope, state, info, t0)

    async def _deny(self, scope, receive, send, missing: bool) -> None:
        msg = ("this server needs a token: send the header 'Authorization: Bearer TOKEN' "
               "(or open the page as /?token=TOKEN)" if missing else "wrong token")
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": msg[:120]})
            return
        await JSONResponse({"error": msg}, status_code=401,
                           headers={"WWW-Authenticate": 'Bearer realm="serkit"'})(scope, receive, send)

    @staticmethod
    def _log(scope, state, info, t0) -> None:
        rec = {"ts": round(time.time(), 3), "type": scope["type"], "method": scope.get("method", "WS"),
               "route": scope["path"], "status": info["status"],
               "audio_seconds": round(state.get("audio_seconds", 0.0), 3),
               "latency_ms": round(1000 * (time.perf_counter() - t0), 2)}
        if "files" in state:
            rec["files"] = state["files"]
        if "error" in state:
            rec["error"] = state["error"][:200]
        access_log.info(json.dumps(rec))


# --------------------------------------------------------------------------- the app
def create_app(config: ServeConfig | None = None, *, predictor=None) -> FastAPI:
    """Build the application.

    Args:
        config: settings (defaults: bundled model, 127.0.0.1, no token).
        predictor: an already loaded Predictor (tests); None loads ``config.model`` at start-up.

    Returns:
        the FastAPI app; run it with uvicorn (``serkit serve`` does).
    """
    from serkit import __version__

    cfg = config or ServeConfig()
    runner = ModelRunner(cfg, predictor)

    @asynccontextmanager
    async def lifespan(app):
        if not runner.loaded.is_set():
            runner.executor.submit(runner.load)
        yield
        runner.executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPIOffline(
        title="serkit", version=__version__, lifespan=lifespan,
        description="Speech emotion recognition over HTTP. Each file's answer is the JSON of "
                    "`serkit predict --format json`; the web page is at `/`.")
    app.state.runner = runner

    @app.exception_handler(ServiceError)
    async def _service_error(request, exc: ServiceError):
        request.state.error = exc.error
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request, exc: RequestValidationError):
        errs = "; ".join(f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return JSONResponse({"error": f"invalid request: {errs}"}, status_code=422)

    # ----------------------------------------------------------------- probes and metadata
    @app.get("/healthz", tags=["probes"], summary="Liveness: the process answers (no token needed)")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", tags=["probes"], summary="Readiness: the model is loaded",
             responses={503: {"description": "model loading or failed to load"}})
    async def readyz():
        if runner.ready():
            return {"status": "ready", "model": cfg.model}
        status = "loading" if not runner.loaded.is_set() else "failed"
        return JSONResponse({"status": status, "error": runner.error}, status_code=503,
                            headers={"Retry-After": "2"})

    @app.get("/v1/models", tags=["models"], summary="The served model: labels, sample rate, card summary")
    async def models():
        if not runner.ready():
            raise runner.not_ready()
        from serkit.data.audio import SAMPLE_RATE

        p = runner.predictor
        card = {"backend": getattr(p.backend, "kind", "?"), "features": p.features.name,
                "max_window_seconds": p.segment.max_window, "vad": p.segment.vad}
        return {"models": [{"name": cfg.model, "labels": p.label_names, "sample_rate": SAMPLE_RATE,
                            "avd": p.avd_stats is not None, "speaker_adaptation": _adaptation_note(p) is None,
                            "card": card}],
                "limits": {"max_upload_mb": cfg.max_upload_mb, "max_seconds": cfg.max_seconds,
                           "max_files": cfg.max_files, "timeout_seconds": cfg.timeout,
                           "max_stream_seconds": cfg.max_stream_seconds}}

    # ----------------------------------------------------------------- predict
    upload_doc = {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "array", "items": {"type": "string", "format": "binary"},
                     "description": "one or more audio files (WAV, FLAC, OGG, MP3)"}}}},
        "audio/wav": {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}

    @app.post("/v1/predict", tags=["predict"], openapi_extra=upload_doc,
              summary="Emotion of one file (raw body or multipart) or of a batch (several multipart files)",
              responses={200: {"description": "one file: the object `serkit predict --format json` writes; "
                                              "several files: a list of them, a failed file as {file, error}"},
                         400: {"description": "no audio in the request"},
                         401: {"description": "token missing or wrong"},
                         413: {"description": "request body over --max-upload-mb"},
                         422: {"description": "not audio, corrupt, too short, or over --max-seconds"},
                         503: {"description": "queue full (see Retry-After) or model not loaded"},
                         504: {"description": "over the per-request timeout"}})
    async def predict(request: Request,
                      segments: bool = Query(True, description="include the per-segment results"),
                      speaker: str | None = Query(None, max_length=200,
                                                  description="speaker (adaptation group) of all files"),
                      filename: str | None = Query(None, max_length=500,
                                                   description="name to report for a raw-body upload")):
        runner.admit()
        deadline = time.monotonic() + cfg.timeout
        fut = None
        try:
            files = await asyncio.wait_for(_receive(request, cfg, filename), cfg.timeout)
            form = getattr(request.state, "form", {})
            seg = segments if "segments" not in form else form["segments"].lower() not in ("0", "false", "no")
            spk = speaker or form.get("speaker") or None
            if spk is not None and not _speaker_supported(runner.predictor):
                raise ServiceError(422, "speaker adaptation is not available in this serkit version; "
                                        "omit speaker")
            request.state.files = len(files)
            fut = runner.submit(lambda: _predict_files(runner, files, segments=seg, speaker=spk), deadline)
            try:
                results = await asyncio.wait_for(asyncio.wrap_future(fut), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise ServiceError(504, f"request took longer than the {cfg.timeout:g} s limit; send shorter "
                                        "files or fewer per request, or start serkit serve with a larger "
                                        "--timeout") from None
        except TimeoutError:
            raise ServiceError(504, f"request not received within the {cfg.timeout:g} s limit") from None
        finally:
            if fut is None:
                runner.release()
            else:  # the slot is free only when the model thread is done with the upload
                loop = asyncio.get_running_loop()
                fut.add_done_callback(lambda _f: loop.call_soon_threadsafe(runner.release))
        from serkit.inference import result_json

        request.state.audio_seconds = sum(r.get("duration", 0.0) for s, r in results if s == 200)
        if len(results) == 1:
            status, r = results[0]
            if status != 200:
                request.state.error = r["error"]
            return Response(result_json(r), status_code=status, media_type="application/json")
        return Response("[" + ",".join(result_json(r) for _, r in results) + "]", media_type="application/json")

    # ----------------------------------------------------------------- stream
    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket):
        """Live stream: first a text message ``{"sample_rate": 16000}`` (``"adapt": true`` adapts
        to the stream's speaker with running statistics, as ``serkit predict - --speaker-from
        file``), then binary 16-bit little-endian mono PCM; ``{"type": "end"}`` (or closing) ends it. One JSON text message
        per window, as ``serkit predict -`` prints, then the server closes (1000)."""
        await ws.accept()
        state = ws.scope.setdefault("state", {})
        if not runner.ready() or runner.streams >= cfg.max_streams:
            why = "model not loaded yet" if not runner.ready() else f"{runner.streams} streams open (limit {cfg.max_streams})"
            await ws.send_text(json.dumps({"error": f"server busy: {why}; retry later"}))
            await ws.close(1013)
            return
        try:
            first = json.loads(await asyncio.wait_for(ws.receive_text(), cfg.timeout))
            rate = int(first["sample_rate"])
            if not 4000 <= rate <= 192000:
                raise ValueError(f"sample_rate {rate} outside 4000..192000")
            adapt = bool(first.get("adapt", False))
            if adapt and not _stream_adapt_supported(runner.predictor):
                raise ValueError("adapt: this serkit has no speaker adaptation of streams")
        except (WebSocketDisconnect, TimeoutError):
            return
        except (ValueError, KeyError, TypeError) as e:
            await ws.send_text(json.dumps({"error": f"first message must be JSON text like "
                                                    f'{{"sample_rate": 16000}} ({type(e).__name__}: {e})'}))
            await ws.close(1003)
            return
        runner.streams += 1
        try:
            await _run_stream(ws, runner, rate, state, adapt=adapt)
        finally:
            runner.streams -= 1

    # ----------------------------------------------------------------- page and assets
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    # the last added middleware is the outermost: CORS answers preflights (which carry no token)
    app.add_middleware(AccessAndAuth, token=cfg.token)
    if cfg.cors_origins:  # else closed: browsers refuse cross-origin reads
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cfg.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    return app


async def _run_stream(ws: WebSocket, runner: ModelRunner, rate: int, state: dict, *, adapt: bool = False) -> None:
    """Feed the socket's PCM to ``Predictor.predict_stream`` on a thread; send windows as they close."""
    from serkit.data.audio import read_pcm_stream
    from serkit.inference import result_json

    cfg = runner.cfg
    loop = asyncio.get_running_loop()
    out: asyncio.Queue = asyncio.Queue()
    reader = _PipeReader(runner.lock, idle_timeout=cfg.timeout)
    limit_bytes = int(cfg.max_stream_seconds * rate) * 2
    done = object()

    def work():
        try:
            with runner.lock:  # released by reader.read while it waits for audio
                # 0.25 s blocks, as serkit predict - reads stdin
                blocks = read_pcm_stream(reader, block_samples=max(1, rate // 4), source_rate=rate)
                kw = {"adapt": True} if adapt else {}  # the stream is one speaker: running statistics
                for win in runner.predictor.predict_stream(blocks, **kw):
                    loop.call_soon_threadsafe(out.put_nowait, win)
            if reader.timed_out:
                loop.call_soon_threadsafe(out.put_nowait, {"error": f"no audio for {cfg.timeout:g} s; stream closed"})
        except Exception as e:  # noqa: BLE001 - reported to the client, the server goes on
            loop.call_soon_threadsafe(out.put_nowait, {"error": f"{type(e).__name__}: {e}"})
        finally:
            loop.call_soon_threadsafe(out.put_nowait, done)

    thread = threading.Thread(target=work, name="serkit-stream", daemon=True)
    thread.start()

    async def pump_in():
        got = 0
        try:
            while True:
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                if msg.get("bytes"):
                    got += len(msg["bytes"])
                    if got > limit_bytes:
                        await out.put({"error": f"stream is over the {cfg.max_stream_seconds:g} s limit; "
                                                "start a new stream"})
                        break
                    state["audio_seconds"] = got / 2 / rate
                    while True:
                        try:
                            reader.q.put_nowait(msg["bytes"])
                            break
                        except queue.Full:  # the model is behind: hold the client back
                            await asyncio.sleep(0.01)
                elif msg.get("text") is not None:
                    try:
                        if json.loads(msg["text"]).get("type") == "end":
                            break
                    except (ValueError, AttributeError):
                        pass
        except WebSocketDisconnect:
            pass
        finally:
            while True:
                try:
                    reader.q.put_nowait(None)
                    break
                except queue.Full:
                    await asyncio.sleep(0.01)

    feeder = asyncio.create_task(pump_in())
    closed = False
    try:
        while True:
            item = await out.get()
            if item is done:
                break
            try:
                await ws.send_text(result_json(item))
            except (WebSocketDisconnect, RuntimeError):
                closed = True
            if "error" in item:
                state["error"] = item["error"]
                break
    finally:
        feeder.cancel()
        if not feeder.done():
            try:
                await feeder
            except asyncio.CancelledError:
                pass
        # make sure the worker thread sees the end even if the feeder was cancelled mid-way
        try:
            reader.q.put_nowait(None)
        except queue.Full:
            pass
        if not closed:
            try:
                await ws.close(1000)
            except RuntimeError:
                pass
