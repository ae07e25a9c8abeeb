"""Reading a child process's output line by line with a deadline, for tests that wait
for what the process says (a ready line, a reload) instead of sleeping."""

from __future__ import annotations

import queue
import threading
import time
from typing import IO


class Lines:
    """Collects the lines of `stream` on a thread; `wait_for(text)` blocks until a line
    containing `text` arrives (returning it) or fails after `timeout` seconds."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self._queue.get(timeout=max(0.0, left))
            except queue.Empty:
                raise AssertionError(
                    f"no line with {text!r} in {timeout}s: {self.seen[-20:]}"
                ) from None
            if line is None:
                raise AssertionError(f"the process ended before {text!r}: {self.seen[-20:]}")
            self.seen.append(line)
            if text in line:
                return line
