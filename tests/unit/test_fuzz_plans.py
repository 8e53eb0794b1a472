"""Hostile plan JSON: edit plans, canvas plans and Plan Edit's answers end in a plan or a plan error."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genassist.canvas.layout import layout_tiles
from genassist.canvas.plan import CanvasPlan
from genassist.canvas.plan import plan_from_json as canvas_plan_from_json
from genassist.editing.plan import ACTION_ALIASES, EditPlan, PlanError, plan_from_json, plan_from_value
from genassist.editing.planner import PlanAnswerError, parse_plan_answer, plan_edit
from genassist.mllm.backend import GenerationSettings
from genassist.mllm.json_limits import MAX_JSON_DEPTH
from genassist.mllm.structured_answer import StructuredAnswerError
from harness.fuzz import FUZZ, Tally, dumps, hostile_json, json_values, mutated


@pytest.fixture(scope="module")
def tally():
    collected = Tally("parsers")
    yield collected
    collected.flush()


words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30)
actions = st.sampled_from([alias for aliases in ACTION_ALIASES.values() for alias in aliases] + ["explode", ""])
edit_step = st.fixed_dictionaries({"instruction": words, "action": actions, "region": words, "prompt": words})
edit_plans = st.one_of(st.fixed_dictionaries({"steps": st.lists(edit_step, max_size=40)}),
                       st.lists(edit_step, max_size=3),
                       st.fixed_dictionaries({"steps": st.lists(st.one_of(edit_step, json_values), max_size=3)}))


@st.composite
def canvas_plans(draw):
    """A valid layout's JSON, sometimes with one field replaced by an arbitrary value."""
    plan = layout_tiles(draw(st.integers(1, 64)), draw(st.integers(1, 64)),
                        *(draw(st.sampled_from([0, 8, 24, 40])) for _ in range(4)), tile_size=16,
                        overlap=draw(st.sampled_from([0, 8])), global_caption="a beach")
    for tile in plan.tiles:
        tile.caption = "sand"
    data = json.loads(plan.to_json())
    if draw(st.booleans()):
        target = data if not data["tiles"] or draw(st.booleans()) else draw(st.sampled_from(data["tiles"]))
        key = draw(st.sampled_from(sorted(target) + ["tile_size", "extra"]))
        target[key] = draw(st.one_of(json_values, st.sampled_from([10**30, 1e400, -1, 0, 49153, 1.5, True])))
    return data


@FUZZ
@given(hostile_json(edit_plans))
def test_edit_plan_json_gives_a_plan_or_a_plan_error(tally, text):
    plan = tally.call("edit plan JSON (Edit Plan From JSON)", (PlanError,), plan_from_json, text)
    assert plan is None or isinstance(plan, EditPlan)


@FUZZ
@given(st.one_of(edit_plans, json_values), st.one_of(st.none(), st.integers(1, 64)))
def test_edit_plan_values_give_a_plan_or_a_plan_error(tally, value, max_steps):
    plan = tally.call("edit plan value", (PlanError,), plan_from_value, value, max_steps)
    assert plan is None or isinstance(plan, EditPlan)


@FUZZ
@given(hostile_json(canvas_plans()))
def test_canvas_plan_json_gives_a_plan_or_a_plan_error(tally, text):
    plan = tally.call("canvas plan JSON (Canvas Plan From JSON)", (PlanError,), canvas_plan_from_json, text)
    assert plan is None or isinstance(plan, CanvasPlan)


@FUZZ
@given(st.one_of(hostile_json(edit_plans), mutated(edit_plans.map(lambda p: "Sure! Here is the plan:\n" + dumps(p)))))
def test_plan_edit_answers_give_a_plan_or_a_repairable_error(tally, text):
    plan = tally.call("Plan Edit answer", (StructuredAnswerError,), parse_plan_answer, text, 8)
    assert plan is None or (isinstance(plan, EditPlan) and len(plan) <= 8)


DEEP = "[" * 3000 + "]" * 3000


@pytest.mark.parametrize("parse", [plan_from_json, canvas_plan_from_json], ids=["edit", "canvas"])
@pytest.mark.parametrize("text", [DEEP, "[" * 3000, '{"steps": ' * 2500, "{" * 100_000])
def test_deep_nesting_is_a_plan_error_naming_the_limit(parse, text):
    with pytest.raises(PlanError, match=rf"nested \d+ levels deep \(at most {MAX_JSON_DEPTH}\)"):
        parse(text)


def test_plan_edit_answer_path_reports_the_nesting_limit():
    answers = iter([DEEP, "Sure: " + "[{" * 2000])

    with pytest.raises(PlanAnswerError) as caught:
        plan_edit(lambda messages, settings: next(answers), None, "put a cat on the sofa", 4,
                  GenerationSettings(max_new_tokens=64))
    assert str(caught.value).count(f"(at most {MAX_JSON_DEPTH})") == 2, str(caught.value)[:400]


@pytest.mark.parametrize("text, message", [
    ('{"steps": [{"instruction": "a", "action": "add", "region": NaN, "prompt": "b"}]}', "NaN is not a number"),
    ('{"steps": ' + "9" * 5000 + "}", "not usable JSON"),
    ("x" * 1_000_001, "at most 1000000"),
])
def test_edit_plan_out_of_range_text_names_the_problem(text, message):
    with pytest.raises(PlanError, match=message):
        plan_from_json(text)


@pytest.mark.parametrize("field, value, message", [
    ("width", "1e400", "must be a whole number"), ("width", "NaN", "NaN is not a number"),
    ("height", "10000000", r"at most 49152 \(MAX_CANVAS_SIDE\)"), ("width", "2.5", "must be a whole number"),
])
def test_canvas_plan_numbers_out_of_range_name_the_field(field, value, message):
    text = ('{"global_caption": "a", "width": 8, "height": 8, "source": {"x": 0, "y": 0, "width": 8, '
            '"height": 8}, "tiles": []}').replace(f'"{field}": 8', f'"{field}": {value}', 1)
    with pytest.raises(PlanError, match=message):
        canvas_plan_from_json(text)


def test_canvas_plan_tile_count_is_bounded():
    tiles = [{"x": 8 + i, "y": 0, "width": 1, "height": 1, "direction": "right", "caption": "c"} for i in range(5000)]
    text = dumps({"global_caption": "a", "width": 5008, "height": 8,
                  "source": {"x": 0, "y": 0, "width": 8, "height": 8}, "tiles": tiles})
    with pytest.raises(PlanError, match=r"5000 tiles; at most 4096 \(MAX_TILES\)"):
        canvas_plan_from_json(text)


def test_canvas_layout_tile_count_and_side_are_bounded():
    with pytest.raises(ValueError, match=r"at most 4096 \(MAX_TILES\)"):
        layout_tiles(512, 512, 16384, 16384, 16384, 16384, tile_size=16, overlap=8)
    with pytest.raises(ValueError, match=r"at most 49152 px per side \(MAX_CANVAS_SIDE\)"):
        layout_tiles(40000, 512, 16384, 0, 0, 0, tile_size=4096, overlap=0)

