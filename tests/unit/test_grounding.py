"""Grounding answers: prompt, tolerant JSON reading, validation with one repair, coordinate conventions."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from genassist.mllm.backend import GenerationSettings
from genassist.segmentation.grounding import (
    GroundingAnswerError,
    convention_for,
    frame_for,
    ground,
    grounding_prompt,
    parse_grounding,
    qwen_resized_size,
)
from harness.scripted_generate import scripted

IMAGE = Image.new("RGB", (500, 300))


def test_family_conventions_and_override():
    assert convention_for("qwen2_5_vl") == "qwen2.5-vl"
    assert convention_for("qwen3_vl") == "0-1000"
    assert convention_for("openai") == "0-1000" and convention_for("llmga") == "0-1000"
    assert convention_for("qwen3_vl", "pixels") == "pixels"
    with pytest.raises(ValueError, match="box format"):
        convention_for("openai", "furlongs")


def test_qwen25_resized_input_size():
    assert qwen_resized_size(640, 480) == (644, 476)  # round(640/28)=23 -> 644, round(480/28)=17 -> 476
    assert qwen_resized_size(20, 20) == (56, 56)  # below min_pixels: scaled up to 56*56
    w, h = qwen_resized_size(8000, 6000)
    assert w * h <= 28 * 28 * 16384 and w % 28 == 0 and h % 28 == 0


def test_prompt_states_the_coordinate_frame():
    assert "0 to 1000" in grounding_prompt("the chair", frame_for("0-1000", 500, 300))
    qwen = grounding_prompt("the chair", frame_for("qwen2.5-vl", 640, 480))
    assert "644 pixels wide and 476 pixels high" in qwen and "the chair" in qwen


def test_0_1000_boxes_become_original_pixels():
    answer = '{"explanation": "a chair is for sitting", "objects": [{"label": "chair", "box": [100, 200, 500, 600], "points": [[300, 400]]}]}'
    objects, explanation = parse_grounding(answer, frame_for("0-1000", 500, 300))
    assert explanation == "a chair is for sitting"
    assert objects[0].label == "chair"
    assert objects[0].box == pytest.approx((50, 60, 250, 180))
    assert objects[0].points == [pytest.approx((150, 120))]


def test_qwen25_native_answer_in_fences_with_thinking():
    answer = ('<think>people sit on chairs</think>Here:\n```json\n[{"bbox_2d": [0, 0, 322, 238], '
              '"label": "sofa"}]\n```')
    objects, _ = parse_grounding(answer, frame_for("qwen2.5-vl", 640, 480))
    assert objects[0].box == pytest.approx((0, 0, 320, 240))  # 322 * 640/644, 238 * 480/476


def test_lenient_forms_and_clamping():
    frame = frame_for("0-1", 200, 100)
    objects, _ = parse_grounding('{"box": [0.9, 0.8, 0.1, 1.01]}', frame)  # one bare object, reversed corners
    assert objects[0].box == pytest.approx((20, 80, 180, 100))
    objects, _ = parse_grounding('{"objects": [{"point": [0.5, 0.5]}]}', frame)
    assert objects[0].box is None and objects[0].points == [pytest.approx((100, 50))]


@pytest.mark.parametrize("answer,reason", [
    ("I think it is the chair.", "no JSON"),
    ('{"objects": [{"box": [1, 2, 3]}]}', "4 numbers"),
    ('{"objects": [{"box": [0.1, 0.1, 0.1, 0.5]}]}', "no area"),
    ('{"objects": [{"box": [0, 0, 400, 250]}]}', "outside 0..1"),
    ('{"objects": [{"label": "chair"}]}', "neither a box nor points"),
    ('{"objects": "chair"}', "must be a list"),
    ('{"answer": 3}', "no 'objects' list"),
])
def test_invalid_answers_say_why(answer, reason):
    with pytest.raises(GroundingAnswerError, match=reason):
        parse_grounding(answer, frame_for("0-1", 200, 100))


def test_nothing_found_is_a_result_not_an_error():
    generate, calls = scripted('{"explanation": "there is no seat in this picture", "objects": []}')
    result = ground(generate, IMAGE, "the object people sit on", frame_for("0-1000", 500, 300), GenerationSettings())
    assert not result.found and result.error is None and "no seat" in result.explanation
    assert len(calls) == 1 and calls[0][0].images == [IMAGE]


def test_one_repair_turn_fixes_a_malformed_answer():
    good = json.dumps({"explanation": "x", "objects": [{"box": [0, 0, 500, 500]}]})
    generate, calls = scripted("The chair, at the left.", good)
    result = ground(generate, IMAGE, "chair", frame_for("0-1000", 500, 300), GenerationSettings())
    assert result.found and result.objects[0].box == pytest.approx((0, 0, 250, 150))
    repair = calls[1]
    assert [m.role for m in repair] == ["user", "assistant", "user"]
    assert repair[1].text == "The chair, at the left." and "no JSON" in repair[2].text


def test_still_malformed_after_repair_gives_an_explained_empty_result():
    generate, calls = scripted("nope", '{"objects": [{"box": [5]}]}')
    result = ground(generate, IMAGE, "chair", frame_for("0-1000", 500, 300), GenerationSettings())
    assert len(calls) == 2 and not result.found
    assert "no JSON" in result.error and "4 numbers" in result.error


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_arbitrary_text_never_raises_anything_but_answer_errors(text):
    try:
        objects, _ = parse_grounding(text, frame_for("0-1000", 64, 48))
    except GroundingAnswerError:
        return
    for obj in objects:
        if obj.box:
            x1, y1, x2, y2 = obj.box
            assert 0 <= x1 < x2 <= 64 and 0 <= y1 < y2 <= 48
