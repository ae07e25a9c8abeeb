"""Run the hub for real (uvicorn on a loopback port, in a thread) for end-to-end tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dashboards.live_ws import SERVER_OPTIONS
from dashboards.services import HubConfig
from ops.https import HubServer, hub_server
from ops.hub import create_hub_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving_in_thread(make: Callable[[Callable[[], None]], HubServer]) -> Iterator[HubServer]:
    """Run the server ``make(on_ready)`` builds on a thread until the block ends; enter
    the block once it listens (its ``on_ready`` fired), fail if it stopped first."""
    ready = threading.Event()
    server = make(ready.set)

    def run() -> None:
        try:
            server.run()
        finally:
            ready.set()  # it stopped (or never started): whoever waits, stop waiting

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not ready.wait(60) or not server.started or server.should_exit:
        server.should_exit = True
        raise RuntimeError("hub did not start")
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def live_hub(config: HubConfig, app: Any = None) -> Iterator[str]:
    """Serve the hub (``app``, else one made from ``config``) over plain HTTP until the
    block ends; yields its base URL. A test that passes its own ``app`` can reach
    ``app.state.services``."""
    port = free_port()

    def make(on_ready: Callable[[], None]) -> HubServer:
        return hub_server(
            app if app is not None else create_hub_app(config),
            host="127.0.0.1",
            port=port,
            certificates=None,
            https=False,
            on_ready=on_ready,
            log_level="warning",
            lifespan="on",
            **SERVER_OPTIONS,  # as `fedhub serve` runs: /ws/live on its own protocol
        )

    with serving_in_thread(make):
        yield f"http://127.0.0.1:{port}"
