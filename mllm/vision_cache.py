"""Vision-encoder features reused across calls on the same image.

A pipeline asks the same model about the same picture many times (a plan, then one grounding answer
per edit step, LISA per query): the vision tower's output depends only on the preprocessed pixels, so
it is kept in a small LRU. An entry is reused only for bit-identical encoder inputs: the tensors are
compared where they live (on the GPU, no copy to the host and no hash), the other arguments by a key of
their exact values. One cache per model instance, so the model is part of the key by construction.
"""

import functools
import threading
from collections.abc import Callable

import torch

DEFAULT_IMAGES = 4
_PLAIN_TYPES = (type(None), bool, int, float, str, torch.dtype, torch.device)  # repr says all they hold


class _Uncacheable(Exception):
    pass


def split_inputs(args: tuple, kwargs: dict) -> tuple[str, tuple[torch.Tensor, ...]] | None:
    """(key, tensors): the key holds every argument's structure and exact value except the tensors' contents
    (their dtype, shape and device only), which the cache compares bit for bit. None when an argument is not
    a tensor, a plain value, or a list/tuple/dict of them: an arbitrary object's repr may not say what it
    holds (a tensor's repr even elides the middle of a large one), so such a call is never cached."""
    parts: list[str] = []
    tensors: list[torch.Tensor] = []

    def add(value) -> None:
        if isinstance(value, torch.Tensor):
            parts.append(f"tensor({value.dtype},{tuple(value.shape)},{value.device})")
            tensors.append(value.detach())
        elif type(value) in _PLAIN_TYPES:
            parts.append(repr(value))
        elif type(value) in (list, tuple):
            parts.append(f"{type(value).__name__}[")
            for item in value:
                add(item)
            parts.append("]")
        elif type(value) is dict:
            parts.append("dict[")
            for name in sorted(value, key=repr):
                add(name)
                add(value[name])
            parts.append("]")
        else:
            raise _Uncacheable

    try:
        add(list(args))
        add(kwargs)
    except _Uncacheable:
        return None
    return "|".join(parts), tuple(tensors)


_SAME_SIZE_INT = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def _bits(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor's bits as integers of its own width (NaN equals itself, -0.0 differs from 0.0; a
    same-width view compares ~4x faster than bytes)."""
    flat = tensor.reshape(-1)
    return flat.view(_SAME_SIZE_INT.get(flat.element_size(), torch.uint8))


def _same_tensors(stored: tuple[torch.Tensor, ...], given: tuple[torch.Tensor, ...]) -> bool:
    return len(stored) == len(given) and all(
        a.dtype == b.dtype and a.shape == b.shape and a.device == b.device and torch.equal(_bits(a), _bits(b))
        for a, b in zip(stored, given))


class FeatureCache:
    """A small LRU of encoder outputs (vision towers, SAM image encoders); ``encoder_passes`` counts the
    misses, i.e. the real encoder runs (for tests and benches). An entry is found by its key and, when
    tensors are given, by bit-identical tensors (a private copy of each is kept with the entry, so max_items
    stays small). Thread-safe: the server may run two prompts' nodes against one model."""

    def __init__(self, max_items: int = DEFAULT_IMAGES):
        self.max_items = max_items
        self.encoder_passes = 0
        self._items: list[tuple[str, tuple[torch.Tensor, ...], object]] = []  # least recently used first
        self._lock = threading.Lock()

    def _find(self, key: str, tensors: tuple[torch.Tensor, ...]) -> int | None:
        for index, (stored_key, stored_tensors, _) in enumerate(self._items):
            if stored_key == key and _same_tensors(stored_tensors, tensors):
                return index
        return None

    def get_or_compute(self, key: str, compute: Callable[[], object], tensors: tuple[torch.Tensor, ...] = ()):
        with self._lock:
            index = self._find(key, tensors)
            if index is not None:
                self._items.append(self._items.pop(index))
                return self._items[-1][2]
        value = compute()
        with self._lock:
            self.encoder_passes += 1
            if self.max_items > 0:
                index = self._find(key, tensors)  # another thread may have stored the same inputs meanwhile
                if index is not None:
                    del self._items[index]
                self._items.append((key, tuple(t.detach().clone() for t in tensors), value))
                del self._items[:-self.max_items]
        return value

    def get_or_compute_inputs(self, args: tuple, kwargs: dict, compute: Callable[[], object]):
        """compute(), reused for the same encoder arguments (split_inputs); computed every time when an
        argument cannot be compared exactly, or when gradients are on (training, or gradients wanted: shared
        tensors are never handed out then)."""
        split = None if torch.is_grad_enabled() else split_inputs(args, kwargs)
        if split is not None:
            return self.get_or_compute(split[0], compute, split[1])
        value = compute()
        with self._lock:
            self.encoder_passes += 1
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
        return cache.get_or_compute_inputs(args, kwargs, lambda: original(*args, **kwargs))

    owner.get_image_features = get_image_features
    owner._genassist_feature_cache = cache
    return cache


def clear_feature_caches(module) -> int:
    """Empty every FeatureCache that module or one of its submodules holds (their entries live on the
    model's device: when the model leaves it, so do they). Returns how many were emptied."""
    caches = {id(v): v for m in module.modules() for v in vars(m).values() if isinstance(v, FeatureCache)}
    for cache in caches.values():
        cache.clear()
    return len(caches)
