"""The bracket scan that guards every JSON reader (and finds where an answer's JSON ends) agrees with the real
nesting, strings skipped."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genassist.mllm.json_limits import (
    MAX_JSON_DEPTH,
    brackets,
    closing_index,
    loads,
    nesting_depth,
    try_loads,
)
from harness.fuzz import FUZZ, dumps, json_values


def brackets_one_char_at_a_time(text: str, start: int = 0) -> list[tuple[int, str]]:
    """The reference: a character loop that tracks strings and escapes by hand."""
    found, in_string, escaped = [], False, False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[]{}":
            found.append((index, char))
    return found


def depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


@FUZZ
@given(json_values)
def test_scan_depth_is_the_values_depth(value):
    assert nesting_depth(dumps(value)) == depth(value)


@pytest.mark.parametrize("text, expected", [
    ('{"a": "[[[[{{{{"}', 1), ('["\\"[[", ["]"]]', 2), ('"[[[', 0), ("]]]][[", 2), ("", 0),
])
def test_brackets_inside_strings_do_not_count(text, expected):
    assert nesting_depth(text) == expected


def test_loads_at_the_limit_and_one_past_it():
    value = loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, "x", ValueError)
    for _ in range(MAX_JSON_DEPTH - 1):
        assert value and isinstance(value, list)
        value = value[0]
    assert value == []
    with pytest.raises(ValueError, match=rf"nested {MAX_JSON_DEPTH + 1} levels deep"):
        loads("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "x", ValueError)


@FUZZ
@given(st.text(alphabet='[]{}"\\ a\n', max_size=80), st.integers(0, 80))
def test_bracket_scan_equals_a_character_loop(text, start):
    assert list(brackets(text, start)) == brackets_one_char_at_a_time(text, start)


@FUZZ
@given(json_values.filter(lambda value: isinstance(value, (list, dict))), st.text(max_size=20))
def test_closing_index_ends_where_the_value_ends(value, tail):
    text = dumps(value)
    assert closing_index(text + tail, 0) == len(text)
    assert closing_index(" x" + text + tail, 2) == len(text) + 2


@pytest.mark.parametrize("text, expected", [
    ('["]", "\\"", {}] tail', 15), ('[1, 2', 5), ('["unterminated ]', 16), ('{"a": [1]} {"b": 2}', 10),
])
def test_closing_index_skips_strings_and_reports_an_unclosed_bracket(text, expected):
    assert closing_index(text, 0) == expected


def test_deep_and_long_bracket_runs_scan_in_linear_time():
    import time

    start = time.perf_counter()
    assert nesting_depth("[" * 1_000_000) == 1_000_000
    assert closing_index("[" * 500_000 + "]" * 500_000, 0) == 1_000_000
    assert time.perf_counter() - start < 2.0


def test_try_loads_keeps_nan_and_infinity_that_loads_refuses():
    """Server bodies (try_loads) may carry a -Infinity logprob from a Python server; plans (loads) may not."""
    decoded, value = try_loads('{"logprob": -Infinity, "x": NaN}')
    assert decoded and value["logprob"] == -math.inf and math.isnan(value["x"])
    with pytest.raises(ValueError, match="-Infinity is not a number JSON allows"):
        loads('{"logprob": -Infinity}', "the plan", ValueError)
    assert try_loads("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)) == (False, None)
    assert try_loads("1" * 5000) == (False, None)  # too long to convert: not JSON within the limits
