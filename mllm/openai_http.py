"""Sending one chat-completions request: what the server's errors say, and when to ask again.

A request is retried only when the server did no work on it: the connection was refused (the server is
starting), or it answered 429 / 502 / 503 (rate limit, proxy without upstream, model still loading),
after the Retry-After it asked for. Once the server has accepted a request, a timeout or a dropped
connection is reported, never retried: asking again would start a second generation on a busy server.
"""

import contextlib
import email.utils
import http.client
import json
import logging
import re
import socket
import threading
import time
import urllib.error
import urllib.request

from .json_limits import try_loads

log = logging.getLogger(__name__)

RETRY_STATUSES = (429, 502, 503)
MAX_RETRY_WAIT = 30.0  # seconds; a server asking for longer is reported instead of waited for
_CONTEXT = re.compile(r"context length|context size|context window|maximum context|too many tokens|"
                      r"exceeds? the (?:available|maximum)|context_length_exceeded", re.IGNORECASE)
_sleep = time.sleep  # module attribute so tests can record the waits


class Cancelled(Exception):
    """should_stop() became true while waiting to ask again."""


class ServerError(RuntimeError):
    """The server could not be reached, refused the request, or its answer broke off (message says what
    happened and what to change). ``status`` and ``error`` hold the HTTP status and the server's error
    object when it sent one."""

    def __init__(self, message: str, status: int | None = None, error: dict | None = None):
        super().__init__(message)
        self.status = status
        self.error = error or {}


def seconds(timeout: float) -> str:
    return f"{timeout:g}"


def error_object(body: str) -> dict:
    """The server's error as {"message", "type", "code", "param"}: OpenAI, llama.cpp, Ollama and new vLLM
    nest it under "error"; older vLLM puts it at the top level; FastAPI servers use "detail"."""
    decoded, data = try_loads(body)
    if not decoded:
        return {"message": " ".join(body[:10_000].split())[:500]}
    return error_from_value(data)


def error_from_value(data) -> dict:
    """error_object of an already decoded body or stream event."""
    if isinstance(data, dict):
        inner = data.get("error", data)
        if isinstance(inner, dict):
            message = inner.get("message") or inner.get("detail") or json.dumps(inner)[:500]
            return {**inner, "message": str(message)[:2000]}
        if inner is not None:
            return {"message": str(inner)[:500]}
    return {"message": json.dumps(data)[:500]}


def hint_for(status: int | None, error: dict, api_key_env: str, model: str) -> str:
    message = str(error.get("message", ""))
    if _CONTEXT.search(message) or error.get("type") == "exceed_context_size_error":
        return ("the prompt and max_new_tokens do not fit the model's context: shorten the text, send a smaller "
                "image or lower max_new_tokens, or give the server a larger context (llama.cpp -c, vLLM "
                "--max-model-len, Ollama num_ctx)")
    if status in (401, 403):
        return "check the key in " + (api_key_env or "api_key_env")
    if status == 404:
        return f"check base_url (…/v1) and that the server has model '{model}'"
    if status == 413:
        return "the request is too large for the server: send a smaller image"
    if status == 429:
        return "rate limited or out of quota: wait, or check the account's limits"
    return "see the server's message and its log"


def retry_after(headers, attempt: int) -> float:
    """Seconds to wait: the server's Retry-After (seconds or an HTTP date), else 0.5, 1, 2 … s."""
    value = headers.get("Retry-After") if headers is not None else None
    if value:
        value = value.strip()
        if value.isdigit():
            return float(value)
        when = email.utils.parsedate_to_datetime(value) if "," in value else None
        if when is not None:
            return max(0.0, when.timestamp() - time.time())
    return min(8.0, 0.5 * 2**attempt)


@contextlib.contextmanager
def cancel_unblocks(response, should_stop, poll: float = 0.2):
    """While reading `response`, shut its socket down as soon as should_stop() is true: a read blocked on a
    stalled stream then returns at once instead of after timeout_s, and the read's failure is reported as
    Cancelled. Closing the connection also ends the generation on servers that notice it. (Before the
    response headers arrive, e.g. a non-streamed answer still being generated, cancel waits for them.)"""
    if should_stop is None:
        yield
        return
    reading_done, fired = threading.Event(), threading.Event()

    def watch():
        while not reading_done.wait(poll):
            if should_stop():
                fired.set()
                sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
                with contextlib.suppress(OSError, AttributeError):
                    sock.shutdown(socket.SHUT_RDWR)
                return

    watcher = threading.Thread(target=watch, name="genassist-cancel-watch", daemon=True)
    watcher.start()
    try:
        yield
    except Exception as error:
        if fired.is_set():
            raise Cancelled() from error
        raise
    finally:
        reading_done.set()


def pause(wait: float, should_stop=None) -> None:
    """Sleep, returning early when the user cancels."""
    waited = 0.0
    while waited < wait:
        if should_stop is not None and should_stop():
            return
        step = min(0.1, wait - waited)
        _sleep(step)
        waited += step


class Requester:
    """Opens the response to one POST, with the retry policy above."""

    def __init__(self, base_url: str, model: str, api_key_env: str, timeout: float, retries: int):
        self.base_url, self.model, self.api_key_env = base_url, model, api_key_env
        self.timeout, self.retries = timeout, retries

    def open(self, body: dict, headers: dict, should_stop=None):
        request = urllib.request.Request(self.base_url + "/chat/completions", data=json.dumps(body).encode(),
                                         headers=headers, method="POST")
        for attempt in range(self.retries + 1):
            try:
                return urllib.request.urlopen(request, timeout=self.timeout)  # noqa: S310 - URL validated
            except urllib.error.HTTPError as error:
                wait = self._refusal(error, attempt)
            except urllib.error.URLError as error:  # connect or send failed: the server has not seen it
                wait = self._unreachable(error, attempt)
            except TimeoutError as error:
                whole = "" if body.get("stream") else " (stream off: the whole answer must arrive within it)"
                raise ServerError(f"{self.base_url}: no answer within timeout_s = {seconds(self.timeout)} s{whole}; "
                                  f"raise timeout_s or check the server; the request to model '{self.model}' was "
                                  "not repeated, so the server is not given the same work twice") from error
            except (http.client.HTTPException, ConnectionError) as error:
                raise ServerError(f"{self.base_url} closed the connection without answering "
                                  f"({type(error).__name__}): see the server's log (it may have crashed or "
                                  "run out of memory); the request was not repeated") from error
            pause(wait, should_stop)
            if should_stop is not None and should_stop():
                raise Cancelled
        raise AssertionError("unreachable: the last attempt raises")

    def _refusal(self, error: urllib.error.HTTPError, attempt: int) -> float:
        detail = error_object(error.read().decode("utf-8", "replace"))
        status = error.code
        quota = detail.get("code") == "insufficient_quota"
        if status in RETRY_STATUSES and not quota and attempt < self.retries:
            wait = retry_after(error.headers, attempt)
            if wait <= MAX_RETRY_WAIT:
                log.warning("GenAssist: %s answered HTTP %d (%s); asking again in %s s", self.base_url, status,
                            detail["message"][:200], seconds(round(wait, 2)))
                return wait
            detail["message"] += f" (it asks to retry after {seconds(round(wait))} s)"
        hint = hint_for(status, detail, self.api_key_env, self.model)
        raise ServerError(f"{self.base_url} answered HTTP {status}: {detail['message']} ({hint})",
                          status=status, error=detail) from error

    def _unreachable(self, error: urllib.error.URLError, attempt: int) -> float:
        reason = error.reason
        if isinstance(reason, ConnectionRefusedError) and attempt < self.retries:
            wait = retry_after(None, attempt)
            log.warning("GenAssist: %s refused the connection; asking again in %s s", self.base_url, seconds(wait))
            return wait
        if isinstance(reason, TimeoutError):
            reason = f"no connection within timeout_s = {seconds(self.timeout)} s"
        raise ServerError(f"cannot reach {self.base_url} ({reason}): is the server running, and is base_url "
                          "right?") from error
