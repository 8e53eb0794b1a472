"""Bounds on JSON text nobody controls (pasted plans, model answers, server bodies), checked before decoding.

Python's json decoder recurses once per nesting level: a few thousand ``[[[[`` (a paste gone wrong, or a
small model stuck in a repetition loop) raise a bare RecursionError, and a multi-megabyte answer takes
memory and time for nothing. Every reader in the pack checks size and depth first, with a cheap scan
that skips string contents, and decodes with ``loads``, which turns every decoder failure (syntax, a
4300-digit integer, NaN) into a ValueError subclass of the caller's choosing.
"""

import json
import re

MAX_JSON_DEPTH = 64  # a plan is 3 levels deep, a grounding answer 4; nothing the pack reads needs more
MAX_JSON_CHARS = 1_000_000  # 32 steps x 4 fields x 2000 characters is a quarter of this

_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting in text, string contents skipped (linear; never recurses)."""
    depth = deepest = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        char = match.group(0)
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(0, depth - 1)
    return deepest


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
    """(True, value), or (False, None) when text is not JSON within the limits: for bodies that may be
    anything (a server's error page, a mangled stream chunk), where the caller reports the raw text."""
    if len(text) > max_chars or nesting_depth(text) > max_depth:
        return False, None
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, None
