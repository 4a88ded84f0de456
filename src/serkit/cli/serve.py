"""``serkit serve``: the HTTP service and web page (FastAPI + uvicorn).

Examples::

    serkit serve                                   # bundled model on http://127.0.0.1:8000 (page at /)
    curl -F file=@a.wav http://127.0.0.1:8000/v1/predict
    curl --data-binary @a.wav -H 'Content-Type: audio/wav' 'http://127.0.0.1:8000/v1/predict?segments=false'
    SERKIT_TOKEN=$(python -c 'import secrets; print(secrets.token_urlsafe())') serkit serve --workers 2
    curl -H "Authorization: Bearer $SERKIT_TOKEN" -F file=@a.wav -F file=@b.wav http://127.0.0.1:8000/v1/predict

Routes: POST /v1/predict (one file: the JSON object of ``serkit predict --format json``; several
multipart files: a list of them), WebSocket /v1/stream, GET /v1/models, /healthz, /readyz,
OpenAPI docs at /docs, the web page at /. It listens on 127.0.0.1 (this machine only) unless
--host says otherwise; set a token before you open it to a network.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys


def add_parser(sub) -> None:
    """Register the sub-command."""
    from serkit.serve.config import ServeConfig

    d = ServeConfig()
    p = sub.add_parser("serve", help="HTTP service and web page", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=d.model,
                   help="bundled model name (default), a run folder, a .pt checkpoint or an .onnx file")
    p.add_argument("--host", default=d.host, help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=d.port, help="TCP port (default 8000)")
    p.add_argument("--workers", type=int, default=d.workers,
                   help="worker processes, each loading the model once (default 1)")
    p.add_argument("--token", default=None,
                   help="bearer token required on every route but /healthz (default: $SERKIT_TOKEN, else none)")
    p.add_argument("--max-upload-mb", type=float, default=d.max_upload_mb,
                   help=f"largest request body in MB; larger ones get 413 (default {d.max_upload_mb:g})")
    p.add_argument("--max-seconds", type=float, default=d.max_seconds,
                   help=f"longest audio per file in seconds; longer ones get 422 (default {d.max_seconds:g})")
    p.add_argument("--max-files", type=int, default=d.max_files,
                   help=f"most files in one request (default {d.max_files})")
    p.add_argument("--queue-size", type=int, default=d.queue_size,
                   help=f"requests admitted at once per worker; more get 503 + Retry-After (default {d.queue_size})")
    p.add_argument("--timeout", type=float, default=d.timeout,
                   help=f"seconds per request before 504 (default {d.timeout:g})")
    p.add_argument("--max-streams", type=int, default=d.max_streams,
                   help=f"concurrent WebSocket streams per worker (default {d.max_streams})")
    p.add_argument("--max-window", type=float, default=d.max_window, metavar="SECONDS",
                   help=f"longest segment classified at once (default {d.max_window:g})")
    p.add_argument("--no-vad", action="store_true", help="cut fixed windows instead of speech segments")
    p.add_argument("--threads", type=int, default=d.threads, help="CPU threads per worker (default 1)")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="allow browser pages from ORIGIN (e.g. https://app.example.org) to call the API; "
                        "repeatable; default none (CORS closed)")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace):
    """The :class:`~serkit.serve.config.ServeConfig` of parsed arguments (token: flag, else $SERKIT_TOKEN)."""
    from serkit.serve.config import TOKEN_ENV, ServeConfig

    return ServeConfig(model=args.model, host=args.host, port=args.port, workers=args.workers,
                       token=args.token or os.environ.get(TOKEN_ENV) or None,
                       max_upload_mb=args.max_upload_mb, max_seconds=args.max_seconds, max_files=args.max_files,
                       queue_size=args.queue_size, timeout=args.timeout, max_streams=args.max_streams,
                       max_window=args.max_window, vad=not args.no_vad, threads=args.threads,
                       cors_origins=tuple(args.cors_origin))


def run(args: argparse.Namespace) -> int:
    """Start uvicorn; returns when it stops (Ctrl-C)."""
    from dataclasses import replace

    from serkit.errors import MissingDependencyError
    from serkit.inference import BUNDLED, find_checkpoint
    from serkit.serve.config import CONFIG_ENV, TOKEN_ENV

    cfg = config_from_args(args)
    if cfg.model not in BUNDLED:
        find_checkpoint(cfg.model)  # a wrong path fails here, not in every worker
    try:
        import uvicorn
    except ImportError:
        raise MissingDependencyError("uvicorn", "serve") from None
    if cfg.host not in ("127.0.0.1", "localhost", "::1") and not cfg.token:
        logging.getLogger(__name__).warning(
            "serving on %s without a token: anyone who reaches this address can use it; "
            "set --token or SERKIT_TOKEN", cfg.host)
    from serkit.serve.app import create_app, setup_access_log

    setup_access_log()
    shown = "127.0.0.1" if cfg.host in ("0.0.0.0", "::") else cfg.host
    print(f"serkit serve: {cfg.model} on http://{shown}:{cfg.port}/ (API docs at /docs)"
          + (" - token required" if cfg.token else ""), file=sys.stderr)
    common = dict(host=cfg.host, port=cfg.port, access_log=False, log_level="info", timeout_keep_alive=30,
                  ws_max_size=4 * 1024 * 1024)
    if cfg.workers == 1:
        uvicorn.run(create_app(cfg), **common)
        return 0
    # several worker processes: each rebuilds the app (and loads its own Predictor) from the environment
    if cfg.token:
        os.environ[TOKEN_ENV] = cfg.token
    os.environ[CONFIG_ENV] = replace(cfg, token=None).to_json()
    uvicorn.run("serkit.serve.app:app_from_env", factory=True, workers=cfg.workers, **common)
    return 0
