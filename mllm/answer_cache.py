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
        """The stored answer, or None. A damaged entry (cut off, empty, garbage, not an answer) is a miss: it is
        logged and removed, and the answer is computed again."""
        path = self._path(key)
        try:
            with open(path, encoding="utf-8") as f:
                answer = json.load(f)["answer"]
            if not isinstance(answer, str):
                raise ValueError(f"the entry holds a {type(answer).__name__}, not an answer")
            return answer
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("GenAssist: dropping the unreadable cached answer %s (%s); it is computed again", key, error)
            _remove(path)
            return None

    def put(self, key: str, answer: str) -> None:
        """Store atomically (a whole entry or none, also with two processes writing the same key). A failed write
        (disk full, file size limit, read-only folder) is logged and loses nothing: the answer is still returned
        to the node and the previous entry, if any, is kept."""
        path = self._path(key)
        tmp = None
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"answer": answer}, f)
            os.replace(tmp, path)
        except OSError as error:
            log.warning("GenAssist: could not cache the answer in %s (%s); it is not cached", self.directory, error)
            if tmp is not None:
                _remove(tmp)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
