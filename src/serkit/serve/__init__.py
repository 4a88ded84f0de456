"""``serkit serve``: the HTTP service and web page (FastAPI + uvicorn) over :class:`serkit.Predictor`.

Routes (see :mod:`serkit.serve.app`): ``POST /v1/predict``, ``WebSocket /v1/stream``,
``GET /v1/models``, ``/healthz``, ``/readyz``, OpenAPI docs at ``/docs`` and the web page at ``/``.
Needs the ``serve`` extra: ``pip install 'serkit[serve]'``.
"""

from __future__ import annotations

from serkit.serve.config import ServeConfig

__all__ = ["ServeConfig", "create_app"]


def create_app(config: ServeConfig | None = None, **kwargs):
    """The FastAPI application (see :func:`serkit.serve.app.create_app`)."""
    from serkit.serve.app import create_app as _create

    return _create(config, **kwargs)
