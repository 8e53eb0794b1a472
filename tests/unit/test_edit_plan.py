"""Edit plans: the JSON contract, validation errors that name step and field, and the planner's handling of
malformed model answers (a repaired plan, an empty plan, or an error naming the problem; never a crash)."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genassist.editing.plan import ACTIONS, EditPlan, EditStep, PlanError, plan_from_json, plan_from_value
from genassist.editing.planner import (
    EXAMPLE,
    PlanAnswerError,
    parse_plan_answer,
    plan_edit,
    planning_prompt,
)
from genassist.mllm.backend import GenerationSettings
from genassist.mllm.structured_answer import StructuredAnswerError
from harness.scripted_generate import scripted

STEPS = [
    {"instruction": "place a glass of soda on the table", "action": "add", "region": "the right part of the table",
     "prompt": "a tall clear glass of dark soda with ice cubes on a wooden table"},
    {"instruction": "keep only one vase of flowers", "action": "remove", "region": "the second vase",
     "prompt": "the bare wooden table top"},
    {"instruction": "add a bottle of beer", "action": "add", "region": "the left part of the table",
     "prompt": "a brown glass bottle of beer with a white label standing on the table"},
]
GOOD = json.dumps({"steps": STEPS})


def run(*answers, max_steps=6):
    generate, calls = scripted(*answers)
    return plan_edit(generate, None, "put a soda and a beer on the table, one vase only", max_steps,
                     GenerationSettings()), calls


def with_step(index, **changes):
    steps = [dict(s) for s in STEPS]
    for key, value in changes.items():
        if value is KeyError:
            steps[index].pop(key)
        else:
            steps[index][key] = value
    return json.dumps({"steps": steps})


TRUNCATED = GOOD[:len(GOOD) // 2]

# (first answer, answer to the repair turn, expected): expected is ("plan", steps) or ("empty",) or
# ("error", words every error message must contain)
CORPUS = {
    "truncated json, repaired": (TRUNCATED, GOOD, ("plan", 3)),
    "truncated twice": (TRUNCATED, TRUNCATED, ("error", "cut off")),
    "prose, repaired": ("First add a soda, then remove a vase, then add a beer.", GOOD, ("plan", 3)),
    "prose twice": ("Sure! Here is my plan: add a soda.", "Add a soda, then a beer.", ("error", "no JSON")),
    "refusal twice": ("I'm sorry, I can't help with that.", "I cannot edit images.", ("error", "no JSON")),
    "empty twice": ("", "", ("error", "empty")),
    "whitespace, repaired": ("  \n\t ", GOOD, ("plan", 3)),
    "fenced": (f"```json\n{GOOD}\n```", None, ("plan", 3)),
    "fenced without language": (f"```\n{GOOD}\n```", None, ("plan", 3)),
    "think block": (f"<think>three objects, so three steps</think>{GOOD}", None, ("plan", 3)),
    "unclosed think twice": ("<think>let me consider the table, the vase", "<think>hmm", ("error", "no JSON")),
    "llmga tags": (f"<gen_image> {GOOD} </gen_image>", None, ("plan", 3)),
    "prose around json": (f"Here is the plan:\n{GOOD}\nHope this helps!", None, ("plan", 3)),
    "trailing commas": (GOOD.replace("}]}", "},]}").replace('"}', '",}'), None, ("plan", 3)),
    "python literal quotes": (repr({"steps": STEPS}), None, ("plan", 3)),
    "steps is a string, repaired": ('{"steps": "add a soda"}', GOOD, ("plan", 3)),
    "steps is an object twice": ('{"steps": {"a": 1}}', '{"steps": {"a": 1}}', ("error", "'steps' must be a list")),
    "step is a string twice": ('{"steps": ["add a soda"]}', '["add a soda"]', ("error", "step 1", "JSON object")),
    "step is a list twice": ('{"steps": [[1, 2]]}', '{"steps": [[1, 2]]}', ("error", "step 1", "JSON object")),
    "missing region twice": (with_step(1, region=KeyError), with_step(1, region=KeyError),
                             ("error", "step 2", "'region'", "missing")),
    "missing prompt twice": (with_step(2, prompt=KeyError), with_step(2, prompt=KeyError),
                             ("error", "step 3", "'prompt'", "missing")),
    "missing instruction twice": (with_step(0, instruction=KeyError), with_step(0, instruction=KeyError),
                                  ("error", "step 1", "'instruction'", "missing")),
    "missing action twice": (with_step(1, action=KeyError), with_step(1, action=KeyError),
                             ("error", "step 2", "'action'", "missing")),
    "missing action, repaired": (with_step(1, action=KeyError), GOOD, ("plan", 3)),
    "unknown action twice": (with_step(0, action="move"), with_step(0, action="teleport"),
                             ("error", "step 1", "'action'", "teleport", "add, remove")),
    "action is a boolean twice": (with_step(0, action=True), with_step(0, action=True),
                                  ("error", "step 1", "'action'", "true")),
    "region is a number twice": (with_step(1, region=3), with_step(1, region=3),
                                 ("error", "step 2", "'region'", "must be text", "number")),
    "prompt is a list twice": (with_step(2, prompt=["a", "b"]), with_step(2, prompt=["a"]),
                               ("error", "step 3", "'prompt'", "must be text", "list")),
    "region is empty twice": (with_step(0, region=""), with_step(0, region="  "),
                              ("error", "step 1", "'region'", "empty")),
    "instruction is null twice": (with_step(0, instruction=None), with_step(0, instruction=None),
                                  ("error", "step 1", "'instruction'", "missing")),
    "region far too long twice": (with_step(0, region="x" * 500), with_step(0, region="y " * 300),
                                  ("error", "step 1", "'region'", "at most 200")),
    "huge step count": (json.dumps({"steps": STEPS * 200}), None, ("plan", 6)),
    "one step too many": (json.dumps({"steps": STEPS * 3}), None, ("plan", 6)),
    "empty steps": ('{"steps": []}', None, ("empty",)),
    "empty steps with prose": ('Nothing needs to change. {"steps": []}', None, ("empty",)),
    "bare empty list": ("[]", None, ("empty",)),
    "steps null": ('{"steps": null}', None, ("empty",)),
    "no steps key twice": ("{}", '{"answer": "done"}', ("error", "no 'steps' list")),
    "bare list of steps": (json.dumps(STEPS), None, ("plan", 3)),
    "bare single step": (json.dumps(STEPS[0]), None, ("plan", 1)),
    "capitalised keys": (json.dumps({"Steps": [{k.capitalize(): v for k, v in s.items()} for s in STEPS]}), None,
                         ("plan", 3)),
    "alias keys": (json.dumps({"plan": [{"sub_instruction": s["instruction"], "type": s["action"],
                                         "target": s["region"], "description": s["prompt"]} for s in STEPS]}),
                   None, ("plan", 3)),
    "number answer twice": ("42", "7", ("error", "no JSON")),
    "null answer twice": ("null", "none", ("error", "no JSON")),
    "echoes the example twice": (EXAMPLE, EXAMPLE, ("error", "repeats the example")),
    "echoes the example, repaired": (EXAMPLE, GOOD, ("plan", 3)),
    "garbage brackets twice": ("{{{{[[[[" * 50, "}}}]]]" * 50, ("error", "cut off")),
    "deep nesting twice": ("[" * 1000 + "]" * 1000, "[" * 1000, ("error",)),
    "wrong top-level type twice": ('"steps"', "true", ("error", "no JSON")),
    "steps with non-object extras": (json.dumps({"steps": STEPS + [None]}), json.dumps({"steps": STEPS + [None]}),
                                     ("error", "step 4", "JSON object")),
}


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_malformed_answer_corpus(case):
    first, second, expected = CORPUS[case]
    answers = (first,) if second is None else (first, second)
    if expected[0] == "error":
        with pytest.raises(PlanAnswerError) as error:
            run(*answers)
        message = str(error.value)
        assert "after one retry" in message and "Edit Plan From JSON" in message
        for word in expected[1:]:
            assert word in message, message
        return
    result, calls = run(*answers)
    assert len(calls) == len(answers), "a repair turn only when the first answer was unusable"
    if expected[0] == "empty":
        assert len(result.plan) == 0 and "unchanged" in result.reasoning
        return
    assert len(result.plan) == expected[1]
    for step in result.plan.steps:
        assert step.action in ACTIONS and step.instruction and step.region and step.prompt


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 40


def test_a_repaired_plan_is_exactly_the_second_answer_and_the_repair_says_why():
    result, calls = run(TRUNCATED, GOOD)
    assert [s.to_dict() for s in result.plan.steps] == STEPS
    repair = calls[1]
    assert [m.role for m in repair] == ["user", "assistant", "user"]
    assert repair[1].text == TRUNCATED and "cut off" in repair[2].text and '"steps"' in repair[2].text


def test_truncation_to_max_steps_keeps_the_first_steps_in_order_and_says_so():
    result, _ = run(json.dumps({"steps": STEPS * 3}), max_steps=4)
    assert [s.instruction for s in result.plan.steps] == [s["instruction"] for s in (STEPS * 2)[:4]]
    assert "had 9 steps; kept the first 4" in result.reasoning


def test_reasoning_keeps_thinking_and_the_models_own_reasoning_key():
    answer = "<think>soda first, vase second</think>" + json.dumps({"reasoning": "three objects", "steps": STEPS})
    result, _ = run(answer)
    assert "soda first, vase second" in result.reasoning and "three objects" in result.reasoning


def test_action_synonyms_and_global_default_region():
    plan = plan_from_value({"steps": [
        {"instruction": "a", "action": "Insert", "region": "r", "prompt": "p"},
        {"instruction": "b", "action": "DELETE", "region": "r", "prompt": "p"},
        {"instruction": "c", "action": "change attribute", "region": "r", "prompt": "p"},
        {"instruction": "d", "action": "swap", "region": "r", "prompt": "p"},
        {"instruction": "e", "action": "global", "prompt": "p"},
    ]})
    assert [s.action for s in plan.steps] == ["add", "remove", "attribute", "replace", "global"]
    assert plan.steps[4].region == "the whole image"


def test_extra_keys_are_ignored_and_whitespace_is_collapsed():
    plan = plan_from_value({"steps": [{"instruction": " add  a\ncat ", "action": "add", "region": "sofa",
                                       "prompt": "a grey cat", "confidence": 0.9}], "model": "x"})
    assert plan.steps == (EditStep("add a cat", "add", "sofa", "a grey cat"),)
    assert json.loads(plan.to_json()) == {"steps": [plan.steps[0].to_dict()]}


def test_json_round_trip_is_exact():
    plan = plan_from_value({"steps": STEPS + [{"instruction": "warmer light ☀", "action": "global",
                                                "region": "the whole image", "prompt": "golden hour"}]})
    again = plan_from_json(plan.to_json())
    assert again == plan and again.to_json() == plan.to_json()


@pytest.mark.parametrize("text,words", [
    ("", ["empty"]),
    ("   ", ["empty"]),
    ('{"steps": [', ["not valid JSON", "line 1", "column"]),
    ('{\n  "steps": [\n    {"instruction": "a",}\n  ]\n}', ["not valid JSON", "line 3"]),
    ('{"steps": [{"instruction": "a", "action": "add", "region": "r"}]}', ["step 1", "'prompt'", "missing"]),
    (with_step(1, action="fly"), ["step 2", "'action'", "'fly'"]),
    (with_step(2, region=7), ["step 3", "'region'", "must be text"]),
    ('{"stepz": []}', ["no 'steps' list"]),
    ('"just text"', ["must be a JSON object"]),
    (json.dumps({"steps": STEPS * 11}), ["33 steps", "at most 32"]),
])
def test_plan_from_json_errors_name_the_step_and_field(text, words):
    with pytest.raises(PlanError) as error:
        plan_from_json(text)
    for word in words:
        assert word in str(error.value), str(error.value)


def test_plan_from_json_accepts_a_pasted_code_fence_and_the_empty_plan():
    assert len(plan_from_json(f"```json\n{GOOD}\n```")) == 3
    empty = plan_from_json('{"steps": []}')
    assert empty == EditPlan() and "unchanged" in empty.notes[0]


def test_prompt_states_schema_example_limit_and_request():
    prompt = planning_prompt("put a vase on the table", 4)
    for word in ('"instruction"', '"action"', '"region"', '"prompt"', "add, remove, replace, attribute",
                 "at most 4 steps", "JSON only", '{"steps": []}', "Request: put a vase on the table"):
        assert word in prompt
    assert prompt.count('{"steps": [{') == 1  # exactly one worked example
    assert len(plan_from_value(json.loads(EXAMPLE))) == 2  # and the example obeys the contract
    assert len(prompt) < 1800  # short enough for small local models' context and attention


def test_image_goes_with_the_request_and_empty_instruction_is_an_error():
    generate, calls = scripted(GOOD)
    image = object()
    plan_edit(generate, image, "edit", 6, GenerationSettings())
    assert calls[0][0].images == [image]
    with pytest.raises(ValueError, match="instruction is empty"):
        plan_edit(generate, image, "  ", 6, GenerationSettings())


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_arbitrary_text_gives_a_valid_plan_or_an_answer_error(text):
    try:
        plan = parse_plan_answer(text, 6)
    except StructuredAnswerError:
        return
    assert len(plan) <= 6
    for step in plan.steps:
        assert step.action in ACTIONS and step.region.strip() and step.prompt.strip()


# --- the optional box (0..1000 of the image at that step) ---

def _one(**extra):
    return {"steps": [{"instruction": "add a glass", "action": "add", "region": "the left part of the table",
                       "prompt": "a glass of soda", **extra}]}


def test_box_is_optional_and_round_trips():
    from genassist.editing.plan import plan_from_json, plan_from_value
    assert plan_from_value(_one()).steps[0].box is None
    assert plan_from_value(_one(box=[])).steps[0].box is None
    plan = plan_from_value(_one(bbox_2d=[100, 200.5, 300, 400]))
    assert plan.steps[0].box == (100.0, 200.5, 300.0, 400.0)
    again = plan_from_json(plan.to_json())
    assert again.steps[0].box == plan.steps[0].box
    assert json.loads(plan.to_json())["steps"][0]["box"] == [100, 200.5, 300, 400]
    assert "box" not in plan_from_value(_one()).to_json()


@pytest.mark.parametrize("box, words", [
    ([1, 2, 3], "four numbers"), ("10 20 30 40", "four numbers"), ([0, 0, True, 10], "four numbers"),
    ([0, 0, 1001, 10], "outside 0..1000"), ([-1, 0, 10, 10], "outside 0..1000"),
    ([500, 10, 400, 20], "x0 < x1"), ([10, 30, 20, 30], "x0 < x1"),
])
def test_bad_box_names_step_and_field(box, words):
    from genassist.editing.plan import PlanError, plan_from_value
    value = {"steps": [_one()["steps"][0], _one(box=box)["steps"][0]]}
    with pytest.raises(PlanError, match=r"step 2: field 'box'") as error:
        plan_from_value(value)
    assert words in str(error.value)


def test_planning_prompt_asks_for_the_box():
    from genassist.editing.planner import EXAMPLE_PLAN, planning_prompt
    text = planning_prompt("put a glass on the table", 4)
    assert '"box"' in text and "where the new thing goes" in text and "0 to 1000" in text
    assert all(step.box is not None for step in EXAMPLE_PLAN.steps)
