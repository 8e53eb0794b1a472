"""Optional on-disk cache of MLLM answers, keyed by everything that decides the answer.

Key = backend family, model name and revision, every message (role, text, image pixels), generation
settings (seed included). Same key → the stored answer, without touching the model.
"""

import dataclasses
import hashlib
import json
import logging
import os
import tempfile

log = logging.getLogger(__name__)


def image_digest(image) -> str:
    """SHA-256 over mode, size and raw pixels (not an encoded file: encoders are not deterministic)."""
    digest = hashlib.sha256(f"{image.mode}:{image.size}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def answer_key(backend, messages, settings) -> str:
    payload = {
        "family": backend.family, "name": backend.name, "revision": backend.revision,
        "messages": [{"role": m.role, "text": m.text, "images": [image_digest(i) for i in m.images],
                      "image_after_text": m.image_after_text} for m in messages],
        "settings": dataclasses.asdict(settings),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class AnswerCache:
    def __init__(self, directory: str):
        self.directory = directory

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, key[:2], key + ".json")

    def get(self, key: str) -> str | None:
        try:
            with open(self._path(key), encoding="utf-8") as f:
                return json.load(f)["answer"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError) as error:  # a damaged entry is a miss, not a failure
            log.warning("ignoring unreadable cached answer %s: %s", key, error)
            return None

    def put(self, key: str, answer: str) -> None:
        path = self._path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"answer": answer}, f)
        os.replace(tmp, path)
