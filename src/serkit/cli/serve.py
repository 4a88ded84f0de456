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

#: the number-valued settings of :class:`~serkit.serve.config.ServeConfig` that are plain flags:
#: (field, metavar, help); the flag is ``--field-name``, its type and default are the field's
NUMBERS = (
    ("port", None, "TCP port"),
    ("workers", None, "worker processes, each loading the model once"),
    ("max_upload_mb", None, "largest request body in MB; larger ones get 413"),
    ("max_seconds", None, "longest audio per file in seconds; longer ones get 422"),
    ("max_files", None, "most files in one request"),
    ("queue_size", None, "requests admitted at once per worker; more get 503 + Retry-After"),
    ("timeout", None, "seconds per request before 504"),
    ("max_streams", None, "concurrent WebSocket streams per worker"),
    ("max_window", "SECONDS", "longest segment classified at once"),
    ("threads", None, "CPU threads per worker"),
)


def add_parser(sub) -> None:
    """Register the sub-command."""
    from serkit.serve.config import ServeConfig

    d = ServeConfig()
    p = sub.add_parser("serve", help="HTTP service and web page", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=d.model,
                   help="bundled model name (default), a run folder, a .pt checkpoint or an .onnx file")
    p.add_argument("--host", default=d.host, help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--token", default=None,
                   help="bearer token required on every route but /healthz (default: $SERKIT_TOKEN, else none)")
    for name, metavar, text in NUMBERS:
        default = getattr(d, name)
        p.add_argument("--" + name.replace("_", "-"), type=type(default), default=default, metavar=metavar,
                       help=f"{text} (default {default:g})")
    p.add_argument("--no-vad", action="store_true", help="cut fixed windows instead of speech segments")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="allow browser pages from ORIGIN (e.g. https://app.example.org) to call the API; "
                        "repeatable; default none (CORS closed)")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace):
    """The :class:`~serkit.serve.config.ServeConfig` of parsed arguments (token: flag, else $SERKIT_TOKEN)."""
    from serkit.serve.config import TOKEN_ENV, ServeConfig

    return ServeConfig(model=args.model, host=args.host, token=args.token or os.environ.get(TOKEN_ENV) or None,
                       vad=not args.no_vad, cors_origins=tuple(args.cors_origin),
                       **{name: getattr(args, name) for name, _, _ in NUMBERS})


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
