"""Vision-encoder features reused across calls on the same image.

A pipeline asks the same model about the same picture many times (a plan, then one grounding answer
per edit step, LISA per query): the vision tower's output depends only on the preprocessed pixels, so
it is kept in a small LRU keyed by a hash of the exact encoder inputs. One cache per model instance, so
the model is part of the key by construction.
"""

import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

import torch

DEFAULT_IMAGES = 4


def inputs_key(*args, **kwargs) -> str:
    """sha1 over every tensor's dtype, shape, device and bytes, and the repr of everything else."""
    digest = hashlib.sha1()
    for value in list(args) + [kwargs[k] for k in sorted(kwargs)]:
        if isinstance(value, torch.Tensor):
            data = value.detach().contiguous().cpu()
            digest.update(f"{data.dtype}{tuple(data.shape)}{value.device}".encode())
            digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
        else:
            digest.update(repr(value).encode())
    digest.update(repr(sorted(kwargs)).encode())
    return digest.hexdigest()


class FeatureCache:
    """A small LRU of encoder outputs (vision towers, SAM image encoders); ``encoder_passes`` counts the
    misses, i.e. the real encoder runs (for tests and benches). Thread-safe: the server may run two prompts'
    nodes against one model."""

    def __init__(self, max_items: int = DEFAULT_IMAGES):
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


def cache_image_features(model, max_items: int = DEFAULT_IMAGES) -> FeatureCache | None:
    """Wrap the get_image_features of a transformers VLM (the inner model's, which its forward calls) with a
    FeatureCache; None when the model has no such method. Idempotent."""
    owner = next((m for m in (getattr(model, "model", None), model) if hasattr(m, "get_image_features")), None)
    if owner is None:
        return None
    existing = getattr(owner, "_genassist_feature_cache", None)
    if existing is not None:
        return existing
    cache = FeatureCache(max_items)
    original = owner.get_image_features

    @functools.wraps(original)  # generate() reads its signature to pick the encoder's arguments
    def get_image_features(*args, **kwargs):
        if torch.is_grad_enabled():  # training or gradients wanted: never hand out shared tensors
            return original(*args, **kwargs)
        return cache.get_or_compute(inputs_key(*args, **kwargs), lambda: original(*args, **kwargs))

    owner.get_image_features = get_image_features
    owner._genassist_feature_cache = cache
    return cache
