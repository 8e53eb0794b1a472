"""MLLMBackend over an OpenAI-compatible chat-completions server (Ollama, llama.cpp, vLLM, LM Studio,
OpenAI). Standard library only. The API key is read from an environment variable, never stored in a
workflow."""

import base64
import io
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request

from .backend import GenerationSettings, Message

log = logging.getLogger(__name__)

RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504}


class ServerError(RuntimeError):
    """The server could not be reached or refused the request (message says what to fix)."""


def validate_base_url(base_url: str) -> str:
    """http(s)://host[:port][/path] without credentials, query or fragment; returns it without a trailing /."""
    url = (base_url or "").strip()
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must look like http://127.0.0.1:11434/v1, got {base_url!r}")
    if parts.username or parts.password:
        raise ValueError("base_url must not contain credentials; put the key in the environment variable "
                         "named by api_key_env")
    if parts.query or parts.fragment:
        raise ValueError(f"base_url must not have a query or fragment: {base_url!r}")
    return url.rstrip("/")


def image_data_url(image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def request_messages(messages: list[Message]) -> list[dict]:
    out = []
    for message in messages:
        if message.images:
            content = [{"type": "text", "text": message.text}]
            content += [{"type": "image_url", "image_url": {"url": image_data_url(i)}} for i in message.images]
            out.append({"role": message.role, "content": content})
        else:
            out.append({"role": message.role, "content": message.text})
    return out


class OpenAIBackend:
    family = "openai"

    def __init__(self, base_url: str, model: str, api_key_env: str = "", timeout: float = 120.0,
                 retries: int = 2, stream: bool = True):
        self.base_url = validate_base_url(base_url)
        if not model.strip():
            raise ValueError("model is empty: give the server's model id (e.g. qwen2.5vl:7b for Ollama)")
        self.model = model.strip()
        self.name = self.model
        self.revision = f"{self.base_url}|{self.model}"
        self.api_key_env = api_key_env.strip()
        self.timeout = timeout
        self.retries = retries
        self.stream = stream

    def _api_key(self) -> str | None:
        if not self.api_key_env:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ServerError(f"environment variable {self.api_key_env} is not set: export it before starting "
                              "ComfyUI, or clear api_key_env for servers that need no key")
        return key

    def payload(self, messages: list[Message], settings: GenerationSettings) -> dict:
        body = {"model": self.model, "messages": request_messages(messages),
                "max_tokens": int(settings.max_new_tokens), "temperature": float(settings.temperature),
                "top_p": float(settings.top_p), "seed": int(settings.seed) % (2**31), "stream": self.stream}
        if settings.json_mode:
            body["response_format"] = {"type": "json_object"}
        return body

    def _open(self, body: dict):
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = self._api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.base_url + "/chat/completions", data=json.dumps(body).encode(),
                                         headers=headers, method="POST")
        last_error = None
        for attempt in range(self.retries + 1):
            try:
                return urllib.request.urlopen(request, timeout=self.timeout)  # noqa: S310 - URL validated
            except urllib.error.HTTPError as error:
                detail = error.read().decode("utf-8", "replace")[:500]
                if error.code not in RETRY_STATUSES or attempt == self.retries:
                    hint = {401: "check the key in " + (self.api_key_env or "api_key_env"),
                            404: f"check base_url (…/v1) and that the server has model '{self.model}'"
                            }.get(error.code, "see the server's message")
                    raise ServerError(f"{self.base_url} answered HTTP {error.code}: {detail} ({hint})") from error
                last_error = error
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                if attempt == self.retries:
                    raise ServerError(f"cannot reach {self.base_url} ({getattr(error, 'reason', error)}): is the "
                                      "server running, and is base_url right?") from error
                last_error = error
            log.warning("retrying %s after %s", self.base_url, last_error)
            time.sleep(min(8.0, 0.5 * 2**attempt))
        raise ServerError(str(last_error))

    def generate(self, messages, settings: GenerationSettings, on_text=None, should_stop=None) -> str:
        body = self.payload(messages, settings)
        with self._open(body) as response:
            if not body["stream"]:
                return self._message_text(json.loads(response.read().decode("utf-8")))
            return self._read_stream(response, on_text, should_stop)

    def _message_text(self, reply: dict) -> str:
        try:
            return reply["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as error:
            raise ServerError(f"unexpected reply from {self.base_url}: {json.dumps(reply)[:300]}") from error

    def _read_stream(self, response, on_text, should_stop) -> str:
        text = ""
        for raw in response:
            if should_stop is not None and should_stop():
                break  # closing the response ends the server's work too
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            if "error" in chunk:
                raise ServerError(f"{self.base_url} reported: {chunk['error']}")
            delta = (chunk.get("choices") or [{}])[0].get("delta") or {}
            if delta.get("content"):
                text += delta["content"]
                if on_text:
                    on_text(text)
        return text
