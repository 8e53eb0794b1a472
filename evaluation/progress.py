"""One line per finished item with the count, the rate and the time left."""

import sys
import threading
import time


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class Progress:
    def __init__(self, total: int, stream=None):
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self._lock = threading.Lock()

    def eta(self) -> float | None:
        if not self.done:
            return None
        return (time.monotonic() - self.start) / self.done * (self.total - self.done)

    def step(self, key: str, status: str = "ok") -> None:
        with self._lock:
            self.done += 1
            eta = self.eta()
            left = "?" if eta is None else format_seconds(eta)
            print(f"[{self.done}/{self.total}] {key}: {status} · ETA {left}", file=self.stream, flush=True)
