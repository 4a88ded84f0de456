"""A real uvicorn server on 127.0.0.1 (a free port) in a background thread, for serve tests."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager


@contextmanager
def running(app, *, ready_timeout: float = 60.0):
    """Serve ``app`` on loopback until the block ends; yields its base URL (``http://127.0.0.1:PORT``)."""
    import httpx
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           access_log=False, ws_max_size=4 * 1024 * 1024))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    t0 = time.monotonic()
    while not server.started:
        if not thread.is_alive() or time.monotonic() - t0 > ready_timeout:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    while httpx.get(f"{url}/healthz").status_code != 200:  # pragma: no cover - started means listening
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
