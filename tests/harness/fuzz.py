"""Hostile-input testing: JSON-ish text strategies and an outcome tally written to tests/artifacts.

Every call under test ends in one of three ways: a value ("parsed"), one of the pack's own error types
with a message that says what to fix ("error: PlanError"), or anything else, an internal error, which
fails the test at once. The tally (cases per parser, outcomes by kind) goes to fuzz_report.json, merged
across test modules, and is printed as a summary.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from . import host

REPORT = "fuzz_report.json"
MAX_MESSAGE = 3000  # an error message quotes the input, never the whole of a runaway one
# Each property test: a few hundred cases, the same ones every run (CI stays stable), no per-case deadline.
FUZZ = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
INTERNAL = (KeyError, TypeError, AttributeError, IndexError, RecursionError, ZeroDivisionError, OverflowError,
            UnicodeError, MemoryError, AssertionError)


class Tally:
    """Outcomes per parser (or node) for one test module; flushed into the shared report at the end."""

    def __init__(self, section: str):
        self.section = section
        self.counts: dict[str, Counter] = defaultdict(Counter)
        self.last_error: Exception | None = None  # the allowed error of the last call, for its message
        self.examples: dict[str, dict[str, str]] = defaultdict(dict)  # one message per parser and error type

    def call(self, name: str, allowed: tuple[type[Exception], ...], fn, *args, **kwargs):
        """fn(*args): the value, or None after one of `allowed` with a non-empty message; an internal
        error type (or any other exception) is recorded and re-raised, failing the test."""
        try:
            value = fn(*args, **kwargs)
        except allowed as error:
            if isinstance(error, INTERNAL) or not str(error).strip() or len(str(error)) > MAX_MESSAGE:
                self.counts[name][f"internal: {type(error).__name__}"] += 1
                raise
            self.counts[name][f"error: {type(error).__name__}"] += 1
            self.last_error = error
            self.examples[name].setdefault(type(error).__name__, str(error)[:200])
            return None
        except BaseException as error:
            self.counts[name][f"internal: {type(error).__name__}"] += 1
            raise
        self.counts[name]["parsed"] += 1
        return value

    def flush(self) -> dict:
        path = host.artifacts_dir() / REPORT
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            report = {}
        report.setdefault(self.section, {}).update(
            {name: dict(sorted(c.items())) for name, c in sorted(self.counts.items())})
        report.setdefault("example messages", {}).update(self.examples)
        path.write_text(json.dumps(report, indent=1, sort_keys=True))
        for name, counter in sorted(self.counts.items()):
            told = ", ".join(f"{kind} {n}" for kind, n in sorted(counter.items()))
            print(f"[fuzz] {self.section} / {name}: {sum(counter.values())} cases ({told})")  # noqa: T201 - the summary
        return report


# ---- strategies -------------------------------------------------------------------------------------

_ALL_CHARS = st.characters(exclude_categories=())  # every code point, lone surrogates included
_CONTROL = st.sampled_from(["\x00", "\x01", "\x07", "\x1b", "\x7f", "\u2028", "\u200b", "\ufeff", "\ud800",
                            "\udfff", "\r", "\t", "\\", '"', "\\u", "\\ud83d"])
text_any = st.text(_ALL_CHARS, max_size=80)
numbers = st.one_of(st.integers(-10**6, 10**6), st.integers(min_value=10**18, max_value=10**400),
                    st.floats(allow_nan=True, allow_infinity=True), st.just(-0.0), st.just(1e308))
scalars = st.one_of(st.none(), st.booleans(), numbers, text_any)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.one_of(text_any, st.sampled_from(
        ["steps", "action", "region", "prompt", "instruction", "objects", "box", "points", "label", "x", "y",
         "width", "height", "tiles", "source", "choices", "delta", "content", "error", "message"])), inner,
        max_size=5)), max_leaves=20)


def dumps(value) -> str:
    """JSON text, with Python's NaN/Infinity spellings and huge integers left in (what a model may write)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=True)


@st.composite
def deep_nesting(draw) -> str:
    depth = draw(st.sampled_from([65, 100, 999, 1001, 3000, 20000]))
    opener = draw(st.sampled_from(["[", "{\"a\":", "[{\"steps\":", "{\"steps\": [", "[1,"]))
    closed = draw(st.booleans())
    closer = {"[": "]", "{\"a\":": "}", "[{\"steps\":": "}]", "{\"steps\": [": "]}", "[1,": "]"}[opener]
    return opener * depth + ("0" + closer * depth if closed else "")


@st.composite
def mutated(draw, base: st.SearchStrategy[str]) -> str:
    """A text, then one hostile change: cut off, repeated (a repetition loop), control characters or
    prose around it, or an out-of-range number spliced in."""
    text = draw(base)
    how = draw(st.sampled_from(["as is", "truncate", "repeat", "control", "prose", "number", "fence", "think"]))
    if how == "truncate" and text:
        return text[:draw(st.integers(0, len(text)))]
    if how == "repeat":
        return text * draw(st.integers(2, 400))
    if how == "control":
        at = draw(st.integers(0, len(text)))
        return text[:at] + "".join(draw(st.lists(_CONTROL, min_size=1, max_size=6))) + text[at:]
    if how == "prose":
        return draw(text_any) + "\n" + text + "\n" + draw(text_any)
    if how == "number":
        at = draw(st.integers(0, len(text)))
        return text[:at] + draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "9" * 5000, "-0"]))\
            + text[at:]
    if how == "fence":
        return "```json\n" + text + "\n```"
    if how == "think":
        return "<think>" + text[: len(text) // 2] + "</think>" + text
    return text


def hostile_json(valid: st.SearchStrategy) -> st.SearchStrategy[str]:
    """Texts around a family of valid documents: the documents themselves, random JSON values, deep
    nesting, raw unicode, all mutated."""
    return st.one_of(mutated(valid.map(dumps)), mutated(json_values.map(dumps)), deep_nesting(),
                     mutated(text_any))


def finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
