"""Run the hub for real (uvicorn on a loopback port, in a thread) for end-to-end tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from dashboards.live_ws import SERVER_OPTIONS
from dashboards.services import HubConfig
from ops.hub import create_hub_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_hub(config: HubConfig, app: Any = None) -> Iterator[str]:
    """Serve the hub (``app``, else one made from ``config``) until the block ends; yields
    its base URL. A test that passes its own ``app`` can reach ``app.state.services``."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app if app is not None else create_hub_app(config),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            **SERVER_OPTIONS,  # as `fedhub serve` runs: /ws/live on its own protocol
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("hub did not start")
        time.sleep(0.1)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(10)
