"""Reading a streamed chat-completions answer (server-sent events) and knowing whether it is whole.

An answer is complete only when the stream says so: ``data: [DONE]`` or a choice's ``finish_reason``
(llama.cpp, vLLM, Ollama and OpenAI send both; some servers send only one). A stream that ends
otherwise was cut off (the server crashed, restarted or a proxy dropped it). Thinking models stream
``delta.reasoning_content`` (llama.cpp, LM Studio, older vLLM) or ``delta.reasoning`` (newer vLLM,
Ollama): shown live, never part of the answer.
"""

import http.client
from dataclasses import dataclass

from .json_limits import try_loads
from .openai_http import ServerError, error_from_value, error_object, seconds

_STRAY_LIMIT = 2000  # characters of non-event text kept for the error message


def _is_whole(data: str) -> bool:
    return data.strip() == "[DONE]" or try_loads(data)[0]


class EmptyStream(ServerError):
    """The server answered 200 and closed the stream without sending anything."""


@dataclass
class StreamedReply:
    text: str = ""
    reasoning: str = ""
    finish_reason: str | None = None
    done: bool = False  # "data: [DONE]" arrived
    stopped: bool = False  # should_stop() ended the reading
    events: int = 0
    stray: str = ""  # lines that were not server-sent events (an HTML page, a JSON error)

    @property
    def complete(self) -> bool:
        return self.done or self.finish_reason is not None

    def progress(self) -> str:
        told = f"{len(self.text)} characters"
        return told + (f" (and {len(self.reasoning)} of reasoning)" if self.reasoning else "")

    def live_text(self) -> str:
        """What the node shows while the answer arrives: the reasoning as a <think> block, then the answer."""
        return f"<think>{self.reasoning}</think>\n{self.text}" if self.reasoning else self.text


class StreamReader:
    def __init__(self, server: str, timeout: float, on_text=None, should_stop=None):
        self.server, self.timeout = server, timeout
        self.on_text, self.should_stop = on_text, should_stop
        self.reply = StreamedReply()

    def read(self, response) -> StreamedReply:
        try:
            self._read_events(response)
        except TimeoutError as error:
            if self.reply.complete:  # finished, only the closing [DONE] or hang-up is missing
                return self.reply
            raise ServerError(f"{self.server}: no answer within timeout_s = {seconds(self.timeout)} s; the stream "
                              f"stalled after {self.reply.progress()}. Raise timeout_s if the model is that slow, "
                              "else check the server (paused, swapping, or stuck)") from error
        except (http.client.HTTPException, ConnectionError) as error:
            if self.reply.complete:
                return self.reply
            raise self._cut_off(type(error).__name__) from error
        return self._finished()

    def _read_events(self, response) -> None:
        data, event = [], ""
        for raw in response:
            if self.should_stop is not None and self.should_stop():
                self.reply.stopped = True  # closing the response ends the server's work too
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line:  # a blank line ends an event
                if data:
                    self._dispatch("\n".join(data), event)
                data, event = [], ""
                if self.reply.done:
                    return
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                data.append(value)
            elif field == "event":
                event = value.strip()
            elif field == "error":  # llama.cpp's server writes errors as "error: {...}"
                self._dispatch(value, "error")
            elif field not in ("", "id", "retry"):  # "" = a comment (keep-alive)
                self.reply.stray = (self.reply.stray + line + "\n")[:_STRAY_LIMIT]
        if data and _is_whole("\n".join(data)):  # the last event lacks its blank line; a partial one is a cut
            self._dispatch("\n".join(data), event)

    def _dispatch(self, data: str, event: str) -> None:
        if data.strip() == "[DONE]":
            self.reply.done = True
            return
        chunk = try_loads(data)[1]
        if not isinstance(chunk, dict):
            raise ServerError(f"{self.server} sent a malformed stream chunk after {self.reply.progress()}: "
                              f"{data[:200]!r}. The server or a proxy in between mangled the stream; try stream "
                              "off")
        self.reply.events += 1
        if "error" in chunk or event == "error" or chunk.get("object") == "error":  # the last: older vLLM
            message = error_from_value(chunk)["message"]
            raise ServerError(f"{self.server} reported an error after {self.reply.progress()}: {message}")
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return  # usage-only or keep-alive chunks
        choice = choices[0]
        delta = choice.get("delta") or {}
        grew = False
        for key, target in (("content", "text"), ("reasoning_content", "reasoning"), ("reasoning", "reasoning")):
            piece = delta.get(key) if isinstance(delta, dict) else None
            if isinstance(piece, str) and piece:
                setattr(self.reply, target, getattr(self.reply, target) + piece)
                grew = True
        if choice.get("finish_reason"):
            self.reply.finish_reason = str(choice["finish_reason"])
        if grew and self.on_text is not None:
            self.on_text(self.reply.live_text())

    def _finished(self) -> StreamedReply:
        reply = self.reply
        if reply.complete or reply.stopped:
            return reply
        if reply.events == 0 and reply.stray:
            message = error_object(reply.stray.strip())["message"]
            raise ServerError(f"{self.server} answered with something that is not an event stream: {message!r} "
                              "(is base_url the server's …/v1 address?)")
        if reply.events == 0:
            raise EmptyStream(f"{self.server} answered 200 and closed the stream without sending anything")
        raise self._cut_off("the stream ended without [DONE] or a finish_reason")

    def _cut_off(self, how: str) -> ServerError:
        return ServerError(f"{self.server} cut off the answer after {self.reply.progress()} ({how}): the server "
                           "may have crashed, run out of memory or been restarted; see its log. The partial answer "
                           f"was not used: {self.reply.text[-120:]!r}")


MAX_BODY_CHARS = 16_000_000  # a whole (non-streamed) answer; larger is not a chat reply


def reply_from_body(raw: str, server: str) -> StreamedReply:
    """A non-streamed chat-completions body -> the reply; ServerError naming what is wrong with it."""
    decoded, data = try_loads(raw, max_chars=MAX_BODY_CHARS)
    if not decoded:
        raise ServerError(f"{server} answered with something that is not JSON: {error_object(raw)['message'][:200]!r} "
                          "(is base_url the server's …/v1 address?)")
    if isinstance(data, dict) and "error" in data:
        detail = error_from_value(data)
        raise ServerError(f"{server} reported: {detail['message']}", error=detail)
    choices = data.get("choices") if isinstance(data, dict) else None
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        raise ServerError(f"unexpected reply from {server} (no choices[0].message object): {raw[:300]}")
    text, reasoning = message.get("content"), message.get("reasoning_content") or message.get("reasoning")
    if text is not None and not isinstance(text, str):
        raise ServerError(f"unexpected reply from {server}: choices[0].message.content is "
                          f"{type(text).__name__}, not text: {raw[:300]}")
    finish = choice.get("finish_reason")
    return StreamedReply(text=text or "", reasoning=reasoning if isinstance(reasoning, str) else "",
                         finish_reason=None if finish is None else str(finish)[:100], done=True)
