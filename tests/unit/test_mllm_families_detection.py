"""Which folders are vision models (from transformers' own mappings, not a hand list), the errors for a
text-only model given an image and for a model type this transformers cannot run, the chat-format quirks,
and each family's grounding box convention parsed to pixels."""

import json

import pytest
import torch
from PIL import Image

from genassist.mllm.backend import Message
from genassist.mllm.loader import load_backend
from genassist.mllm.vision_chat import content_messages, family_of, render_prompt, vision_model_types
from genassist.segmentation.grounding import (
    GroundingAnswerError,
    convention_for,
    frame_for,
    parse_grounding,
    qwen_resized_size,
)
from harness import host

RED = Image.new("RGB", (64, 48), (200, 10, 10))


def test_vision_types_come_from_transformers():
    types = vision_model_types()
    assert {"qwen2_5_vl", "qwen3_vl", "gemma3", "internvl", "idefics3", "mistral3", "llava"} <= types
    assert "llama" not in types and "qwen2" not in types


@pytest.mark.parametrize("model_type, family", [
    ("qwen2_5_vl", "qwen2_5_vl"), ("qwen3_vl", "qwen3_vl"), ("qwen2_vl", "qwen2_vl"), ("llava", "llava_hf"),
    ("llava_next", "llava_hf"), ("llava_onevision", "llava_hf"), ("gemma3", "gemma3"), ("internvl", "internvl"),
    ("aya_vision", "aya_vision"), ("llama", "causal_lm"), ("qwen2", "causal_lm"), ("gemma3_text", "causal_lm"),
])
def test_family_of_a_config(model_type, family):
    assert family_of({"model_type": model_type}) == family


def test_a_folder_whose_processor_takes_images_is_a_vision_model(tmp_path):
    assert family_of({"model_type": "llama"}, str(tmp_path)) == "causal_lm"
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"image_processor_type": "CLIPImageProcessor"}))
    assert family_of({"model_type": "llama"}, str(tmp_path)) == "llama"


def test_unknown_model_type_says_what_to_do(tmp_path):
    folder = tmp_path / "Qwen9-VL-7B"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "qwen9_vl", "architectures": ["X"]}))
    with pytest.raises(ValueError) as error:
        load_backend(str(folder))
    message = str(error.value)
    assert "Qwen9-VL-7B" in message and "'qwen9_vl'" in message
    assert "pip install -U transformers" in message and "MLLM Server" in message


@pytest.fixture(scope="module")
def text_llama(tmp_path_factory):
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("text") / "Llama-tiny-text"
    tokenizer = AutoTokenizer.from_pretrained(str(host.comfy_dir() / "comfy" / "text_encoders" / "llama_tokenizer"))
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                 num_key_value_heads=1, vocab_size=len(tokenizer))).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return load_backend(str(folder))


def test_text_only_model_given_an_image_names_its_type(text_llama):
    assert text_llama.family == "causal_lm"
    with pytest.raises(ValueError) as error:
        text_llama.prepare([Message("user", "Describe it.", [RED])])
    message = str(error.value)
    assert "Llama-tiny-text" in message and "'llama'" in message and "reads text only" in message
    assert "newer transformers" in message and "MLLM Server" in message
    assert "input_ids" in text_llama.prepare([Message("user", "Hello")])


class RejectsSystem:
    """A processor whose chat template has no system role (it raises, as some families' templates do)."""

    def apply_chat_template(self, chat, tokenize=False, add_generation_prompt=True):
        if any(turn["role"] == "system" for turn in chat):
            raise ValueError("System role not supported")
        return json.dumps(chat)


def test_a_system_prompt_the_template_rejects_joins_the_first_user_turn():
    prompt, images = render_prompt(RejectsSystem(), [Message("system", "Be brief."),
                                                     Message("user", "Describe it.", [RED])])
    chat = json.loads(prompt)
    assert [turn["role"] for turn in chat] == ["user"] and images == [RED]
    assert chat[0]["content"] == [{"type": "image"}, {"type": "text", "text": "Be brief.\n\nDescribe it."}]


def test_image_goes_before_the_text_unless_the_message_says_after():
    chat, images = content_messages([Message("user", "Q", [RED, RED], image_after_text=True)])
    assert [part["type"] for part in chat[0]["content"]] == ["text", "image", "image"] and len(images) == 2
    chat, _ = content_messages([Message("user", "Q", [RED])])
    assert [part["type"] for part in chat[0]["content"]] == ["image", "text"]


@pytest.mark.parametrize("family, convention", [
    ("qwen2_5_vl", "qwen2.5-vl"), ("qwen3_vl", "0-1000"), ("qwen3_5", "0-1000"), ("gemma3", "loc1024"),
    ("paligemma", "loc1024"), ("internvl", "internvl"), ("mistral3", "0-1000"), ("openai", "0-1000"),
])
def test_convention_per_family(family, convention):
    assert convention_for(family) == convention


# one box, (80, 120, 400, 360) on a 640x480 image, written in each convention
@pytest.mark.parametrize("convention, answer", [
    ("0-1000", '[{"bbox_2d": [125, 250, 625, 750], "label": "cat"}]'),
    ("0-1", '{"objects": [{"label": "cat", "box": [0.125, 0.25, 0.625, 0.75]}]}'),
    ("pixels", '{"objects": [{"label": "cat", "box": [80, 120, 400, 360]}]}'),
    ("loc1024", "<loc0256><loc0128><loc0768><loc0640> cat"),
    ("loc1024", '{"objects": [{"label": "cat", "box": [125, 250, 625, 750]}]}'),
    ("internvl", "<ref>cat</ref><box>[[125, 250, 625, 750]]</box>"),
    ("internvl", "cat[[125, 250, 625, 750]]"),  # tags dropped by a decoder that skips special tokens
    ("internvl", '{"objects": [{"label": "cat", "box": [125, 250, 625, 750]}]}'),
])
def test_each_convention_parses_to_the_pixel_box(convention, answer):
    (found,), _ = parse_grounding(answer, frame_for(convention, 640, 480))
    assert found.label == "cat" and found.box == pytest.approx((80, 120, 400, 360))


def test_qwen25_absolute_pixels_refer_to_its_resized_frame():
    seen_w, seen_h = qwen_resized_size(640, 480)
    answer = json.dumps([{"bbox_2d": [seen_w / 8, seen_h / 4, seen_w * 5 / 8, seen_h * 3 / 4], "label": "cat"}])
    (found,), _ = parse_grounding(answer, frame_for("qwen2.5-vl", 640, 480))
    assert found.box == pytest.approx((80, 120, 400, 360))


def test_several_native_boxes_and_bad_ones():
    found, _ = parse_grounding("<loc0000><loc0000><loc0512><loc0512> cat ; <loc0512><loc0512><loc1023><loc1023> dog",
                               frame_for("loc1024", 1024, 1024))
    assert [(o.label, o.box) for o in found] == [("cat", (0, 0, 512, 512)), ("dog", (512, 512, 1023, 1023))]
    found, _ = parse_grounding("<ref>cats</ref><box>[[0, 0, 500, 500], [500, 500, 1000, 1000]]</box>",
                               frame_for("internvl", 100, 100))
    assert [o.box for o in found] == [(0, 0, 50, 50), (50, 50, 100, 100)]
    with pytest.raises(GroundingAnswerError, match="outside"):
        parse_grounding("<box>[[0, 0, 1500, 10]]</box>", frame_for("internvl", 100, 100))
    with pytest.raises(GroundingAnswerError, match="no area"):
        parse_grounding("<loc0100><loc0100><loc0100><loc0100>", frame_for("loc1024", 100, 100))
