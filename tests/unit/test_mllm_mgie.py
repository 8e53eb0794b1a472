"""MGIE's request on every local backend: the question first, then the image; greedy decoding with
no_repeat_ngram_size=3 over prompt and answer (as MGIE's demo decodes), asserted on the exact model inputs
and on the generate() call. The server backend's side is in tests/host/test_mllm_nodes.py."""

import pytest
import torch
from PIL import Image

from genassist.mllm.backend import GenerationSettings, Message
from genassist.mllm.decoding import PromptNGramBlock
from genassist.mllm.image_tokens import IMAGE_TOKEN_INDEX
from genassist.mllm.task_prompts import MGIE_DATA_SUFFIX, MGIE_NO_REPEAT_NGRAM, mgie_request

GREY = Image.new("RGB", (40, 30), (128, 128, 128))
QUESTION = "what will this image be like if 'make it winter'"
MGIE_DECODING = GenerationSettings(max_new_tokens=40, temperature=0.0, no_repeat_ngram_size=MGIE_NO_REPEAT_NGRAM)


def spy_generate(model, calls):
    """Record generate()'s kwargs and output on this model instance (the real method still runs)."""
    real = model.generate

    def generate(**kwargs):
        out = real(**kwargs)
        calls.append((kwargs, out))
        return out

    model.generate = generate
    return real


def repeated_ngram(ids: list[int], n: int = 3):
    seen = set()
    for i in range(len(ids) - n + 1):
        gram = tuple(ids[i:i + n])
        if gram in seen:
            return gram
        seen.add(gram)
    return None


def test_request_suffix_is_an_option():
    assert mgie_request("make it winter", GREY)[0].text == QUESTION + MGIE_DATA_SUFFIX
    (message,) = mgie_request("make it winter", GREY, short_paragraph=False)
    assert message.text == QUESTION and message.images == [GREY] and message.image_after_text


def test_legacy_prompt_has_the_image_after_the_question(llmga):
    prompt, ids, images = llmga.prepare(mgie_request("make it winter", GREY, short_paragraph=False))
    assert f"<|start_header_id|>user<|end_header_id|>\n\n{QUESTION}\n<image><|eot_id|>" in prompt
    assert images == [GREY]
    tok = llmga.tokenizer
    before, after = prompt.split("<image>")
    assert ids == tok(before).input_ids + [IMAGE_TOKEN_INDEX] + tok(after).input_ids[1:]
    # every other request keeps LLaVA's image-first order
    other, _, _ = llmga.prepare([Message("user", "Generate a similar image.", [GREY])])
    assert "<|end_header_id|>\n\n<image>\nGenerate a similar image." in other


def test_transformers_prompt_has_the_image_after_the_question(qwen):
    inputs = qwen.prepare(mgie_request("make it winter", GREY, short_paragraph=False))
    text = qwen.tokenizer.decode(inputs["input_ids"][0])
    assert f"<|im_start|>user\n{QUESTION}<|vision_start|><|image_pad|>" in text
    assert text.endswith("<|vision_end|><|im_end|>\n<|im_start|>assistant\n")
    other = qwen.tokenizer.decode(qwen.prepare([Message("user", "Hello", [GREY])])["input_ids"][0])
    assert "<|im_start|>user\n<|vision_start|>" in other and other.endswith("<|vision_end|>Hello<|im_end|>\n"
                                                                           "<|im_start|>assistant\n")


def test_transformers_decodes_with_mgies_settings(qwen):
    calls = []
    real = spy_generate(qwen.model, calls)
    try:
        qwen.generate(mgie_request("make it winter", GREY), MGIE_DECODING)
    finally:
        qwen.model.generate = real
    ((kwargs, out),) = calls
    assert kwargs["no_repeat_ngram_size"] == 3 and kwargs["do_sample"] is False and kwargs["num_beams"] == 1
    assert kwargs["max_new_tokens"] == 40
    ids = out[0].tolist()  # generate saw the prompt ids, so its rule covers prompt + answer
    assert ids[:kwargs["input_ids"].shape[-1]] == kwargs["input_ids"][0].tolist()
    assert repeated_ngram(ids[kwargs["input_ids"].shape[-1] - 2:]) is None


@pytest.mark.parametrize("size", [0, MGIE_NO_REPEAT_NGRAM])
def test_legacy_decodes_with_mgies_settings_over_prompt_and_answer(llmga, size):
    calls = []
    real = spy_generate(llmga.model.language_model, calls)
    settings = GenerationSettings(max_new_tokens=40, temperature=0.0, no_repeat_ngram_size=size)
    try:
        llmga.generate(mgie_request("make it winter", GREY), settings)
    finally:
        llmga.model.language_model.generate = real
    ((kwargs, out),) = calls
    _, prompt_ids, _ = llmga.prepare(mgie_request("make it winter", GREY))
    text_ids = [i for i in prompt_ids if i != IMAGE_TOKEN_INDEX]
    answer = out[0].tolist()  # inputs_embeds: generate returns the new tokens only
    assert kwargs["do_sample"] is False and "inputs_embeds" in kwargs
    if size:
        (block,) = kwargs["logits_processor"]
        assert isinstance(block, PromptNGramBlock) and block.rule.ngram_size == 3
        assert block.prompt.tolist() == text_ids
        # no 3-gram of the answer repeats one of the prompt (joined at the image) or of the answer itself
        assert repeated_ngram(text_ids[-2:] + answer) is None
        prompt_grams = {tuple(text_ids[i:i + 3]) for i in range(len(text_ids) - 2)}
        assert not prompt_grams & {tuple(answer[i:i + 3]) for i in range(len(answer) - 2)}
    else:  # the control: these random weights do loop when nothing forbids it
        assert "logits_processor" not in kwargs and "no_repeat_ngram_size" not in kwargs
        assert repeated_ngram(answer) is not None


def test_ngram_block_bans_the_prompts_continuation():
    block = PromptNGramBlock([5, 6, 7, IMAGE_TOKEN_INDEX, 8], 3)
    scores = block(torch.tensor([[5, 6]]), torch.zeros(1, 10))
    assert scores[0, 7] == float("-inf") and torch.isfinite(scores[0, [0, 1, 2, 3, 4, 5, 6, 8, 9]]).all()
