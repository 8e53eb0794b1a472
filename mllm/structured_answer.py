"""JSON answers from an MLLM: a tolerant reader and the ask -> validate -> one repair turn loop.

Shared by everything that asks a model for structured output (grounding boxes, edit plans). Models wrap
JSON in <think> blocks, code fences, LLMGA's <gen_image> tags or prose; small models add trailing commas
or write Python literals. The reader accepts all of that; anything else is a StructuredAnswerError whose
message is shown to the model in the repair turn, so it says plainly what was wrong.
"""

import ast
import json
import re
from collections.abc import Callable
from typing import TypeVar

from .backend import GenerationSettings, Message
from .json_limits import check_json_text, closing_index
from .parsing import END_TAG, START_TAG, split_thinking

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")

T = TypeVar("T")
MAX_ANSWER_CHARS = 200_000  # far beyond any max_new_tokens; bounds the reader's time on a runaway answer
MAX_DECODE_ATTEMPTS = 16  # opening brackets tried per candidate: prose full of brackets stays linear


class StructuredAnswerError(ValueError):
    """The answer is not the JSON that was asked for (the message is shown to the model in the repair turn)."""


class _Undecodable(ValueError):
    """No value starts here; ``closing`` is where its bracket closes in the candidate (skip to there)."""

    def __init__(self, closing: int):
        super().__init__("not JSON nor a literal")
        self.closing = closing


def _decode_at(candidate: str, start: int):
    """The JSON (or Python-literal) value starting at `start`, or raise _Undecodable."""
    decoder = json.JSONDecoder()
    try:
        return decoder.raw_decode(candidate[start:])[0]
    except ValueError:  # a syntax error, or an integer too long to convert
        pass
    tail = candidate[start:]
    balanced = closing_index(tail, 0)
    end = max(tail.rfind("}"), tail.rfind("]"))
    # the balanced span first (one object among several), then up to the last bracket (a stray one inside)
    for body in dict.fromkeys((tail[:balanced], tail[:end + 1])) if end != -1 else ():
        try:
            return _repaired(body)
        except ValueError:
            continue
    raise _Undecodable(start + balanced)


def _repaired(body: str):
    """body as JSON with trailing commas dropped, else as a Python literal; ValueError if neither."""
    try:
        return json.loads(_TRAILING_COMMA.sub(r"\1", body))
    except json.JSONDecodeError:
        pass
    if len(body) > 50_000:
        raise ValueError("too long to read as a literal")
    try:
        value = ast.literal_eval(body)  # literals only: safe on untrusted text
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError) as error:
        raise ValueError("not a literal") from error
    if not isinstance(value, (dict, list)):
        raise ValueError("not an object")
    return value


def extract_json(text: str):
    """The JSON value in a model answer: drops <think> blocks, code fences and LLMGA tags, then reads the
    first JSON object/array (prose before or after is ignored; trailing commas and Python-style quoting
    are accepted). A value nested inside a bracket that does not decode (a cut-off or malformed answer)
    is never returned: a fragment of a broken answer would silently stand for the whole of it."""
    visible, _ = split_thinking(text or "")
    visible = visible.replace(START_TAG, " ").replace(END_TAG, " ")
    check_json_text(visible, "the answer", StructuredAnswerError, max_chars=MAX_ANSWER_CHARS)
    fenced = _FENCE.search(visible)
    candidates = ([fenced.group(1)] if fenced else []) + [visible]
    saw_bracket = False
    for candidate in candidates:
        blocked_until, attempts = 0, 0
        for start, char in enumerate(candidate):
            if char not in "[{" or start < blocked_until:
                continue
            saw_bracket = True
            attempts += 1
            if attempts > MAX_DECODE_ATTEMPTS:
                break
            try:
                return _decode_at(candidate, start)
            except _Undecodable as undecodable:
                blocked_until = undecodable.closing
            except RecursionError:
                blocked_until = closing_index(candidate, start)
    if saw_bracket:
        raise StructuredAnswerError("its JSON is cut off or malformed (no complete JSON object could be read)")
    raise StructuredAnswerError("it contains no JSON object")


def ask_with_repair(generate: Callable[[list[Message], GenerationSettings], str], messages: list[Message],
                    settings: GenerationSettings, parse: Callable[[str], T],
                    repair_prompt: Callable[[str], str]) -> tuple[T | None, list[str], str | None]:
    """Ask; if `parse` rejects the answer (StructuredAnswerError), show the model why and ask once more.

    Returns (parsed value or None, raw answers, error): error is None on success, else both reasons.
    Never raises for a bad answer; errors of `generate` itself (interrupt, connection) propagate."""
    answers = [generate(messages, settings)]
    try:
        return parse(answers[0]), answers, None
    except StructuredAnswerError as error:
        first_error = str(error)
    repair = messages + [Message("assistant", answers[0]), Message("user", repair_prompt(first_error))]
    answers.append(generate(repair, settings))
    try:
        return parse(answers[1]), answers, None
    except StructuredAnswerError as error:
        return None, answers, f"{first_error}; after one retry: {error}"
