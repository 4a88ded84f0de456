"""Settings of ``serkit serve`` (one frozen dataclass, also passed to uvicorn's worker processes)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields

from serkit.errors import ConfigError

#: environment variable holding the bearer token (``--token`` wins over it)
TOKEN_ENV = "SERKIT_TOKEN"
#: environment variable through which ``serkit serve --workers N`` hands the settings to each worker
CONFIG_ENV = "SERKIT_SERVE_CONFIG"


@dataclass(frozen=True)
class ServeConfig:
    """Settings of the service.

    Args:
        model: bundled model name, run folder, ``.pt`` checkpoint or ``.onnx`` file.
        host: interface to bind; 127.0.0.1 (this machine only) unless told otherwise.
        port: TCP port.
        workers: uvicorn worker processes, each with its own Predictor loaded once.
        token: bearer token required on every route but ``/healthz``; None = no token.
        max_upload_mb: largest request body in MB (10^6 bytes); larger ones get 413.
        max_seconds: longest audio per file in seconds; longer files get 422.
        max_files: most files in one batch request.
        queue_size: requests admitted at once per worker (being read, waiting or running);
            the next one gets 503 with ``Retry-After``.
        timeout: seconds a request may take from admission to answer; then 504.
        max_streams: concurrent WebSocket streams per worker.
        max_stream_seconds: longest audio of one WebSocket stream in seconds.
        max_window: longest segment classified at once, in seconds (as ``serkit predict --max-window``).
        vad: cut speech segments by voice-activity detection (False: fixed windows).
        threads: torch / ONNX Runtime threads per worker.
        cors_origins: origins allowed to call the API from a browser; empty = CORS closed.
    """

    model: str = "default"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    token: str | None = None
    max_upload_mb: float = 25.0
    max_seconds: float = 600.0
    max_files: int = 16
    queue_size: int = 32
    timeout: float = 60.0
    max_streams: int = 4
    max_stream_seconds: float = 3600.0
    max_window: float = 6.0
    vad: bool = True
    threads: int = 1
    cors_origins: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in ("max_upload_mb", "max_seconds", "timeout", "max_stream_seconds", "max_window"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"serve {name} must be > 0, got {getattr(self, name)}")
        for name in ("workers", "max_files", "queue_size", "max_streams", "threads"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"serve {name} must be >= 1, got {getattr(self, name)}")
        if self.token is not None and len(self.token) < 8:
            raise ConfigError("serve token is shorter than 8 characters; use a long random one, "
                              "e.g. python -c 'import secrets; print(secrets.token_urlsafe())'")
        if "*" in self.cors_origins and self.token:
            raise ConfigError("--cors-origin '*' with a token would let any web site use the service "
                              "with a visitor's token; list the origins you trust")
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))

    @property
    def max_upload_bytes(self) -> int:
        """``max_upload_mb`` in bytes."""
        return int(self.max_upload_mb * 1_000_000)

    def to_json(self) -> str:
        """JSON form (for :data:`CONFIG_ENV`)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        """Inverse of :meth:`to_json`; unknown keys raise."""
        d = json.loads(text)
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - valid)
        if unknown:
            raise ConfigError(f"unknown serve settings {unknown}; expected some of {sorted(valid)}")
        d["cors_origins"] = tuple(d.get("cors_origins") or ())
        return cls(**d)

    @classmethod
    def from_env(cls) -> ServeConfig:
        """Settings from :data:`CONFIG_ENV` (set by ``serkit serve``), token from :data:`TOKEN_ENV`."""
        text = os.environ.get(CONFIG_ENV)
        cfg = cls.from_json(text) if text else cls()
        if cfg.token is None and os.environ.get(TOKEN_ENV):
            cfg = cls(**{**asdict(cfg), "token": os.environ[TOKEN_ENV]})
        return cfg
