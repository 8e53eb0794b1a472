"""The bracket-depth scan that guards every JSON reader agrees with the real nesting, strings skipped."""

import pytest
from hypothesis import given

from genassist.mllm.json_limits import MAX_JSON_DEPTH, loads, nesting_depth
from harness.fuzz import FUZZ, dumps, json_values


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
