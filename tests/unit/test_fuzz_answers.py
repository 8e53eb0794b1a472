"""Hostile model answers: structured JSON, grounding boxes/points/labels, generation prompts, canvas
captions and LISA's [SEG] positions end in a value or the pack's own error type."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from genassist.canvas.captions import read_caption
from genassist.mllm.backend import GenerationSettings, Message
from genassist.mllm.parsing import AnswerError, mgie_clean, parse_generation_answer, split_thinking
from genassist.mllm.structured_answer import StructuredAnswerError, ask_with_repair, extract_json
from genassist.segmentation.grounding import CONVENTIONS, frame_for, parse_grounding
from genassist.segmentation.lisa import seg_hidden_positions
from harness.fuzz import FUZZ, Tally, dumps, hostile_json, json_values, mutated, text_any


@pytest.fixture(scope="module")
def tally():
    collected = Tally("parsers")
    yield collected
    collected.flush()


coordinate = st.one_of(st.integers(-50, 1100), st.floats(-2, 1200), st.sampled_from([0.5, 1e400, -1e400]),
                       st.text(max_size=4), st.none())
box = st.one_of(st.lists(st.integers(0, 28), min_size=4, max_size=4), st.lists(st.floats(0, 1), min_size=4, max_size=4),
                st.lists(coordinate, min_size=0, max_size=6),
                st.fixed_dictionaries({"x1": coordinate, "y1": coordinate, "x2": coordinate, "y2": coordinate}),
                json_values)
points = st.one_of(st.lists(st.lists(coordinate, min_size=0, max_size=3), max_size=4), st.lists(coordinate, max_size=3),
                   json_values)
label = st.one_of(text_any, json_values)
grounded_object = st.dictionaries(st.sampled_from(["box", "bbox", "bbox_2d", "box_2d", "points", "point",
                                                   "point_2d", "label"]),
                                  st.one_of(box, points, label), max_size=4)
grounding_answers = st.one_of(
    st.fixed_dictionaries({"explanation": label, "objects": st.lists(grounded_object, max_size=25)}),
    st.lists(grounded_object, max_size=3),
    st.dictionaries(st.sampled_from(["objects", "boxes", "detections", "results", "instances", "explanation"]),
                    st.one_of(st.lists(grounded_object, max_size=3), json_values), max_size=2),
    grounded_object)


@FUZZ
@given(hostile_json(json_values))
def test_structured_answers_give_json_or_a_repairable_error(tally, text):
    value = tally.call("structured answer (extract_json)", (StructuredAnswerError,), extract_json, text)
    assert value is None or isinstance(value, (dict, list))


@FUZZ
@given(st.lists(hostile_json(json_values), min_size=2, max_size=2))
def test_ask_with_repair_never_raises_for_a_bad_answer(tally, answers):
    replies = iter(answers)
    result = tally.call("structured answer (ask_with_repair)", (), ask_with_repair,
                        lambda messages, settings: next(replies), [Message("user", "boxes?")],
                        GenerationSettings(max_new_tokens=8), extract_json, lambda reason: f"fix: {reason}")
    value, seen, error = result
    assert len(seen) in (1, 2) and (value is None) == (error is not None)


@FUZZ
@given(hostile_json(grounding_answers), st.sampled_from(CONVENTIONS), st.integers(1, 4096), st.integers(1, 64))
def test_grounding_answers_give_boxes_in_the_image_or_a_repairable_error(tally, text, convention, width, height):
    frame = frame_for(convention, width, height)
    parsed = tally.call(f"grounding answer ({convention})", (StructuredAnswerError,), parse_grounding, text, frame)
    if parsed is None:
        return
    objects, explanation = parsed
    assert isinstance(explanation, str)
    for found in objects:
        assert isinstance(found.label, str)
        if found.box is not None:
            x1, y1, x2, y2 = found.box
            assert all(math.isfinite(v) for v in found.box)
            assert 0 <= x1 < x2 <= width * 1.0001 and 0 <= y1 < y2 <= height * 1.0001
        for x, y in found.points:
            assert 0 <= x <= width * 1.0001 and 0 <= y <= height * 1.0001


generation_answers = st.one_of(
    text_any,
    st.lists(st.sampled_from(["<gen_image>", "</gen_image>", "<think>", "</think>", "```", "```json\n", "Prompt:",
                              "**Caption:**", "I'm sorry", "\"", "“", "</s>", "<|im_end|>", " a red fox ", "\n",
                              "alternative", "ASSISTANT:", "[IMG0]", ".", "\x00", "\ud800"]), max_size=12).map("".join))


@FUZZ
@given(mutated(generation_answers))
def test_generation_answers_give_a_prompt_or_an_answer_error(tally, text):
    parsed = tally.call("generation answer (parse_generation_answer)", (AnswerError,), parse_generation_answer, text)
    assert parsed is None or (parsed.prompt.strip() and "<gen_image>" not in parsed.prompt)
    visible, thinking = split_thinking(text)
    assert isinstance(visible, str) and isinstance(thinking, str)


@FUZZ
@given(mutated(generation_answers))
def test_expressive_instructions_give_text_or_an_answer_error(tally, text):
    cleaned = tally.call("expressive instruction (mgie_clean)", (AnswerError,), mgie_clean, text)
    assert cleaned is None or cleaned.endswith(".")


@FUZZ
@given(mutated(generation_answers))
def test_canvas_captions_give_a_caption_or_the_fallback(tally, text):
    caption, used = tally.call("canvas caption answer (read_caption)", (), read_caption, text, "the global caption",
                               "tiles[0]")
    assert caption.strip() and (used or caption == "the global caption")
    assert used is False or len(caption.split()) <= 40


@FUZZ
@given(st.lists(st.integers(0, 40), max_size=60), st.integers(0, 40))
def test_lisa_seg_positions_are_inside_the_expanded_sequence(tally, ids, seg_id):
    """LISA's answer is read as token ids: every [SEG] in any sequence maps to a hidden-state position."""
    input_ids = torch.tensor(ids, dtype=torch.long)
    index_map = torch.arange(len(ids)) + 255  # one 256-feature image before the text
    positions = tally.call("LISA answer ([SEG] positions)", (), seg_hidden_positions, input_ids, index_map, seg_id)
    assert positions.tolist() == [i + 254 for i, t in enumerate(ids) if t == seg_id]


def test_grounding_answer_nested_deep_names_the_limit():
    with pytest.raises(StructuredAnswerError, match=r"nested \d+ levels deep \(at most 64\)"):
        parse_grounding('{"objects": ' + "[" * 5000, frame_for("0-1000", 64, 64))


def test_structured_answer_full_of_brackets_stays_fast():
    import time

    start = time.perf_counter()
    with pytest.raises(StructuredAnswerError):
        extract_json("[a] " * 20_000)
    assert time.perf_counter() - start < 2.0


def test_runaway_answer_is_an_error_naming_the_size_limit():
    with pytest.raises(StructuredAnswerError, match=r"at most 200000"):
        extract_json(dumps({"steps": ["x" * 250_000]}))


@st.composite
def well_formed_boxes(draw):
    x1, x2 = sorted(draw(st.lists(st.integers(0, 1000), min_size=2, max_size=2, unique=True)))
    y1, y2 = sorted(draw(st.lists(st.integers(0, 1000), min_size=2, max_size=2, unique=True)))
    return [x1, y1, x2, y2]


@FUZZ
@given(st.lists(st.tuples(text_any, well_formed_boxes()), min_size=1, max_size=5), st.sampled_from(["", "```json\n"]))
def test_well_formed_grounding_answers_parse_to_pixels(tally, found, fence):
    text = fence + dumps({"explanation": "why", "objects": [{"label": label, "box": b} for label, b in found]})
    objects, _ = tally.call("grounding answer (0-1000, well formed)", (), parse_grounding, text,
                            frame_for("0-1000", 2000, 500))
    assert [o.box for o in objects] == [(b[0] * 2.0, b[1] * 0.5, b[2] * 2.0, b[3] * 0.5) for _, b in found]


WIDTH, HEIGHT = 2000, 500
plain_labels = st.from_regex(r"[a-z][a-z ]{0,10}[a-z]", fullmatch=True)


def native_answer(convention: str, found) -> tuple[str, list]:
    """found [(label, box in 0..1000)] written as a model of that convention answers, and the pixel boxes
    (on a WIDTH x HEIGHT image) the answer stands for."""
    def pixels(box, scale):  # box in the answer's units, scale = units per image side
        return (box[0] * WIDTH / scale, box[1] * HEIGHT / scale, box[2] * WIDTH / scale, box[3] * HEIGHT / scale)

    if convention == "loc1024":  # <loc y0><loc x0><loc y1><loc x1> label, bins of 1/1024
        locs = [[v * 1024 // 1000 for v in b] for _, b in found]
        text = "\n".join("".join(f"<loc{v:04d}>" for v in (y0, x0, y1, x1)) + f" {label}"
                         for (label, _), (x0, y0, x1, y1) in zip(found, locs))
        return text, [pixels(b, 1024) for b in locs]
    if convention == "internvl":  # <ref>label</ref><box>[[x0, y0, x1, y1]]</box>, 0..1000
        return "".join(f"<ref>{label}</ref><box>[{b}]</box>" for label, b in found), [pixels(b, 1000) for _, b in found]
    # JSON objects in the asked units: fractions of the side (0-1) or pixels
    expected = [pixels(b, 1000) for _, b in found]
    boxes = [[v / 1000 for v in b] for _, b in found] if convention == "0-1" else [list(b) for b in expected]
    text = dumps({"objects": [{"label": label, "box": b} for (label, _), b in zip(found, boxes)]})
    return text, expected


@FUZZ
@given(st.lists(st.tuples(plain_labels, well_formed_boxes()), min_size=1, max_size=5),
       st.sampled_from(["0-1", "pixels", "loc1024", "internvl"]))
def test_well_formed_answers_in_each_convention_parse_to_pixels(tally, found, convention):
    text, expected = native_answer(convention, found)
    objects, _ = tally.call(f"grounding answer ({convention}, well formed)", (), parse_grounding, text,
                            frame_for(convention, WIDTH, HEIGHT))
    assert [o.label for o in objects] == [label for label, _ in found]
    assert [o.box for o in objects] == [pytest.approx(box) for box in expected]


@FUZZ
@given(hostile_json(st.one_of(st.dictionaries(st.sampled_from(["[SEG]", "<im_start>", "<im_end>"]),
                                              st.one_of(st.integers(0, 40000), json_values), max_size=3),
                              st.fixed_dictionaries({"added_tokens_decoder": st.dictionaries(
                                  st.one_of(st.integers(0, 40000).map(str), text_any),
                                  st.one_of(st.fixed_dictionaries({"content": text_any}), json_values),
                                  max_size=3)}))),
       st.sampled_from(["added_tokens.json", "tokenizer_config.json"]))
def test_lisa_tokenizer_files_give_tokens_or_an_error_naming_the_file(tally, text, file_name):
    import tempfile
    from pathlib import Path

    from genassist.segmentation.lisa_tokenizer import _added_tokens

    with tempfile.TemporaryDirectory() as folder:
        Path(folder, file_name).write_text(text, encoding="utf-8", errors="surrogatepass")
        added = tally.call("LISA tokenizer files (added tokens)", (ValueError,), _added_tokens, folder, 32000)
        if added is None:
            assert file_name in str(tally.last_error)
        else:
            assert all(isinstance(k, str) and isinstance(v, int) for k, v in added.items())
