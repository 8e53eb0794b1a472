"""Bounds on JSON text nobody controls (pasted plans, model answers, server bodies), checked before decoding.

Python's json decoder recurses once per nesting level: a few thousand ``[[[[`` (a paste gone wrong, or a
small model stuck in a repetition loop) raise a bare RecursionError, and a multi-megabyte answer takes
memory and time for nothing. Every reader of text that comes from a model, a user or an LLM server
checks size and depth first (``check_json_text``, a cheap scan that skips string contents). Plans decode
with ``loads``, which turns every decoder failure (syntax, a 4300-digit integer, NaN) into a ValueError
subclass of the caller's choosing; server bodies with ``try_loads``, whose callers report the raw text
when it is not JSON; structured answers with their own lenient decoders after the same check. (The
evaluation's client of the user's own ComfyUI server reads it with json.loads.)
"""

import json
import re
from collections.abc import Iterator

MAX_JSON_DEPTH = 64  # a plan is 3 levels deep, a grounding answer 4; nothing the pack reads needs more
MAX_JSON_CHARS = 1_000_000  # 32 steps x 4 fields x 2000 characters is a quarter of this

# a JSON string (its closing quote optional: a cut-off answer) or a run of brackets; the alternatives never
# overlap, so matching stays linear on any input, and a run is one match (``[[[[`` x 1000 is cheap)
_STRING_OR_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"?|([\[\]{}]+)', re.DOTALL)


def brackets(text: str, start: int = 0) -> Iterator[tuple[int, str]]:
    """(index, bracket) for every bracket of text[start:] outside JSON strings, in order; the one scan that
    the depth limit and the structured-answer reader share (linear, never recurses)."""
    for match in _STRING_OR_BRACKETS.finditer(text, start):
        if match.lastindex:
            yield from enumerate(match.group(1), match.start())


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting in text, string contents skipped; a stray closing bracket at depth 0 is
    ignored."""
    depth = deepest = 0
    for _, char in brackets(text):
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif depth:
            depth -= 1
    return deepest


def closing_index(text: str, start: int) -> int:
    """Index just past the bracket that closes the one at `start` (strings skipped), or len(text) when it is
    never closed."""
    depth = 0
    for index, char in brackets(text, start):
        depth += 1 if char in "[{" else -1
        if depth == 0:
            return index + 1
    return len(text)


def check_json_text(text: str, what: str, error_type: type[Exception], max_chars: int = MAX_JSON_CHARS,
                    max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise error_type naming the limit when text is longer than max_chars or nested deeper than max_depth."""
    if len(text) > max_chars:
        raise error_type(f"{what} is {len(text)} characters long (at most {max_chars}); it is not a plausible "
                         "answer: shorten it, or lower max_new_tokens if a model wrote it")
    depth = nesting_depth(text)
    if depth > max_depth:
        raise error_type(f"{what} is nested {depth} levels deep (at most {max_depth}): brackets repeat without "
                         "end (a model stuck in a loop, or a broken paste); write the JSON flat, e.g. "
                         '{"steps": [{...}, {...}]}')


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def loads(text: str, what: str, error_type: type[Exception], max_chars: int = MAX_JSON_CHARS,
          max_depth: int = MAX_JSON_DEPTH):
    """json.loads after check_json_text; NaN/Infinity, integers too long to convert and syntax errors become
    error_type with the line and column."""
    check_json_text(text, what, error_type, max_chars, max_depth)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise error_type(f"{what} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
                         ) from None
    except (ValueError, RecursionError) as error:
        raise error_type(f"{what} is not usable JSON: {error}") from None


def try_loads(text: str, max_chars: int = MAX_JSON_CHARS, max_depth: int = MAX_JSON_DEPTH) -> tuple[bool, object]:
    """(True, value), or (False, None) when text is not JSON within the limits (size, depth, syntax, an integer
    too long to convert): for server bodies that may be anything (an error page, a mangled stream chunk), where
    the caller reports the raw text.

    Unlike ``loads``, NaN and +-Infinity are accepted on purpose: a server written in Python that serializes
    with json.dumps's defaults writes them (a -inf logprob), and every caller reads only strings from these
    bodies (content, reasoning, finish_reason, error messages), so a number JSON forbids must not turn a whole
    answer into an error. ``loads`` rejects them because plans and answers carry numbers into the pack's
    arithmetic."""
    if len(text) > max_chars or nesting_depth(text) > max_depth:
        return False, None
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, None
