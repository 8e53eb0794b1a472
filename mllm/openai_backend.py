"""MLLMBackend over an OpenAI-compatible chat-completions server (Ollama, llama.cpp, vLLM, LM Studio,
`transformers serve`, OpenAI). Standard library only. The API key is read from an environment variable,
never stored in a workflow. Sending and retrying: openai_http; reading a stream: openai_stream."""

import base64
import http.client
import io
import logging
import os
import urllib.parse

from .backend import GenerationSettings, Message
from .openai_http import Cancelled, Requester, ServerError, cancel_unblocks, seconds
from .openai_stream import EmptyStream, StreamedReply, StreamReader, reply_from_body

__all__ = ["OpenAIBackend", "ServerError", "validate_base_url"]

log = logging.getLogger(__name__)
_BLOCKED = ("content_filter",)  # finish reasons that mean the provider withheld the rest of the answer


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
        self.renamed: dict[str, str] = {}  # request keys this server wants under another name
        self.dropped: set[str] = set()  # sampling keys this model rejects (it uses its defaults)

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
        for old, new in self.renamed.items():
            body[new] = body.pop(old)
        for key in self.dropped:
            body.pop(key, None)
        return body

    def generate(self, messages, settings: GenerationSettings, on_text=None, should_stop=None) -> str:
        body = self.payload(messages, settings)
        try:
            try:
                reply = self._ask(body, on_text, should_stop)
            except EmptyStream as empty:
                reply = self._ask_without_stream(body, empty, should_stop)
        except Cancelled:
            reply = StreamedReply(stopped=True)
        if not reply.stopped:
            self._check_finish(reply, settings)
        return reply.text

    # -- one request -------------------------------------------------------------------------
    def _headers(self) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = self._api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _open(self, body: dict, should_stop):
        requester = Requester(self.base_url, self.model, self.api_key_env, self.timeout, self.retries)
        while True:
            try:
                return requester.open(body, self._headers(), should_stop)
            except ServerError as error:
                if error.status != 400 or not self._adapt(body, error.error):
                    raise

    def _adapt(self, body: dict, error: dict) -> bool:
        """Resend without what the server rejected: OpenAI's reasoning models want max_completion_tokens
        for max_tokens and reject a temperature or top_p other than their default. True if body changed."""
        param, message = error.get("param"), str(error.get("message", ""))
        if "max_tokens" in body and "max_completion_tokens" in message and (
                param == "max_tokens" or "'max_tokens'" in message):
            self.renamed["max_tokens"] = "max_completion_tokens"
            body["max_completion_tokens"] = body.pop("max_tokens")
            log.info("GenAssist: %s wants max_completion_tokens instead of max_tokens; using it", self.model)
            return True
        for key in ("temperature", "top_p"):
            if key in body and error.get("code") in ("unsupported_value", "unsupported_parameter") and (
                    param == key or f"'{key}'" in message):
                self.dropped.add(key)
                log.warning("GenAssist: %s does not accept %s = %g; it uses its own default", self.model, key,
                            body.pop(key))
                return True
        return False

    def _ask(self, body: dict, on_text, should_stop) -> StreamedReply:
        with self._open(body, should_stop) as response, cancel_unblocks(response, should_stop):
            if body["stream"] and response.headers.get_content_type() != "application/json":
                return StreamReader(self.base_url, self.timeout, on_text, should_stop).read(response)
            return self._whole_answer(response, body["stream"])  # stream off, or a server that ignored it

    def _ask_without_stream(self, body: dict, empty: EmptyStream, should_stop) -> StreamedReply:
        """An empty stream says nothing about why (vLLM, llama.cpp and `transformers serve` do this for a
        prompt longer than the context): ask once more without streaming to get the server's message."""
        log.warning("GenAssist: %s sent an empty stream; asking once more without streaming", self.base_url)
        try:
            with self._open({**body, "stream": False}, should_stop) as response, \
                    cancel_unblocks(response, should_stop):
                reply = self._whole_answer(response, False)
        except ServerError as error:
            said = str(error).removeprefix(self.base_url).lstrip(": ")
            raise ServerError(f"{empty}; asked once more without streaming: {said}", error.status,
                              error.error) from error
        log.warning("GenAssist: %s answered only without streaming: turn stream off for this server",
                    self.base_url)
        return reply

    def _whole_answer(self, response, stream_asked: bool) -> StreamedReply:
        try:
            raw = response.read().decode("utf-8", "replace")
        except TimeoutError as error:
            raise ServerError(f"{self.base_url}: no answer within timeout_s = {seconds(self.timeout)} s (stream "
                              "off: the whole answer must arrive within it); raise timeout_s or turn stream on; "
                              "the request was not repeated") from error
        except (http.client.HTTPException, ConnectionError) as error:
            raise ServerError(f"{self.base_url} cut off the answer ({type(error).__name__}): the server may have "
                              "crashed or been restarted; see its log") from error
        if not raw.strip():
            raise ServerError(f"{self.base_url} answered HTTP {response.status} with an empty body: see the "
                              "server's log")
        reply = reply_from_body(raw, self.base_url)
        if stream_asked:
            log.info("GenAssist: %s answered without streaming although asked to stream", self.base_url)
        return reply

    def _check_finish(self, reply: StreamedReply, settings: GenerationSettings) -> None:
        if reply.finish_reason in _BLOCKED:
            raise ServerError(f"{self.base_url} withheld the rest of the answer (finish_reason "
                              f"'{reply.finish_reason}') after {reply.progress()}: rephrase the request")
        if reply.finish_reason == "length":
            where = " while still thinking" if reply.reasoning and not reply.text.strip() else ""
            log.warning("GenAssist: the answer of %s hit max_new_tokens = %d%s (finish_reason 'length'): raise "
                        "max_new_tokens if it looks cut short", self.model, settings.max_new_tokens, where)
        elif not reply.text.strip():
            log.warning("GenAssist: %s gave an empty answer (finish_reason %r); if the prompt is long it may not "
                        "fit the model's context", self.model, reply.finish_reason)
