"""SAM image embeddings cached by image content: many prompts on one image run the encoder once."""

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np


def image_key(pixels: np.ndarray, model_id: str = "") -> str:
    """Content hash of an HxWx3 uint8 image (shape included), scoped to one model."""
    digest = hashlib.sha256()
    digest.update(f"{model_id}|{pixels.shape}|".encode())
    digest.update(np.ascontiguousarray(pixels).tobytes())
    return digest.hexdigest()


class EmbeddingCache:
    """A small LRU of encoder outputs. ``encoder_passes`` counts real encoder runs (for tests/benches)."""

    def __init__(self, max_items: int = 8):
        self.max_items = max_items
        self.encoder_passes = 0
        self._items: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(self, key: str, compute: Callable[[], object]):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute()
        with self._lock:
            self.encoder_passes += 1
            if self.max_items > 0:
                self._items[key] = value
                while len(self._items) > self.max_items:
                    self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
