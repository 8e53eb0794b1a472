"""The MLLM loader and prompting nodes in the real ComfyUI registry: scripted server answers for text,
tiny local models for loading, memory management, masks, batches, interrupt and the answer cache."""

import base64
import io
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from harness.inprocess import node, server_mllm
from harness.openai_server import ScriptedOpenAIServer

ANSWER = "Sure. <gen_image> a cozy wooden cabin in a snowy pine forest at dusk </gen_image>"


def refine(comfy_host, mllm, task, text="", image=None, mask=None, seed=0, **kw):
    return node(comfy_host, "GenAssist_RefinePrompt")(mllm, task, text, seed, 256, 0.2,
                                                            image=image, mask=mask, **kw)


def image_batch(*colors, size=(48, 64)):
    return torch.stack([torch.tensor(c, dtype=torch.float32).expand(*size, 3) for c in colors])


def sent_image(request) -> np.ndarray:
    parts = request.json["messages"][-1]["content"]
    url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


@pytest.fixture
def server():
    with ScriptedOpenAIServer(ANSWER) as s:
        yield s


def test_generate_task_parses_the_tagged_prompt(comfy_host, server):
    prompts, responses, sources = refine(comfy_host, server_mllm(comfy_host, server), "generate", "snowy cabin")
    assert prompts == ["a cozy wooden cabin in a snowy pine forest at dusk"]
    assert responses == [ANSWER] and sources == [""]
    messages = server.requests[-1].json["messages"]
    assert messages[0]["role"] == "system" and "<gen_image> PROMPT </gen_image>" in messages[0]["content"]
    assert messages[1]["content"] == "Write an image-generation prompt for: snowy cabin"


def test_clip_style_asks_for_short_tags(comfy_host, server):
    refine(comfy_host, server_mllm(comfy_host, server), "generate", "cabin", style="clip_tags")
    assert "77 tokens" in server.requests[-1].json["messages"][0]["content"]


def test_inpaint_shows_the_masked_region_black(comfy_host, server):
    image = image_batch((0.2, 0.6, 1.0))
    mask = torch.zeros(1, 48, 64)
    mask[:, 10:30, 20:40] = 1.0
    mask[:, 0, 0] = 0.3  # below LLMGA's 125/255 threshold: kept
    refine(comfy_host, server_mllm(comfy_host, server), "inpaint", image=image, mask=mask)
    pixels = sent_image(server.requests[-1])
    assert (pixels[10:30, 20:40] == 0).all()
    assert tuple(pixels[40, 5]) == (51, 153, 255) and tuple(pixels[0, 0]) == (51, 153, 255)


def test_mask_is_resized_to_the_image(comfy_host, server):
    mask = torch.zeros(1, 24, 32)
    mask[:, 12:, :] = 1.0
    refine(comfy_host, server_mllm(comfy_host, server), "outpaint", image=image_batch((1, 1, 1)), mask=mask)
    pixels = sent_image(server.requests[-1])
    assert (pixels[30:] == 0).all() and (pixels[:20] == 255).all()


def test_edit_uses_llmgas_two_turn_recipe(comfy_host):
    answers = ["<gen_image> a red car on a street </gen_image>", "<gen_image> a blue car on a street </gen_image>"]
    with ScriptedOpenAIServer(answers) as server:
        prompts, responses, sources = refine(comfy_host, server_mllm(comfy_host, server), "edit",
                                             "make the car blue", image=image_batch((1, 0, 0)))
    assert sources == ["a red car on a street"] and prompts == ["a blue car on a street"]
    assert responses == [answers[1]]
    second = server.requests[1].json["messages"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[2]["content"] == answers[0]
    assert "make the car blue" in second[3]["content"]


def test_batch_gives_one_answer_per_image(comfy_host):
    with ScriptedOpenAIServer(["<gen_image> first </gen_image>", "<gen_image> second </gen_image>"]) as server:
        prompts, _, _ = refine(comfy_host, server_mllm(comfy_host, server), "similar_image",
                               image=image_batch((1, 0, 0), (0, 0, 1)))
    assert prompts == ["first", "second"]
    assert tuple(sent_image(server.requests[0])[0, 0]) == (255, 0, 0)
    assert tuple(sent_image(server.requests[1])[0, 0]) == (0, 0, 255)


def test_missing_image_and_refusal_are_clear_errors(comfy_host):
    with ScriptedOpenAIServer("I'm sorry, but I can't help with that.") as server:
        mllm = server_mllm(comfy_host, server)
        with pytest.raises(ValueError, match="needs an image"):
            refine(comfy_host, mllm, "inpaint")
        with pytest.raises(ValueError, match="refused"):
            refine(comfy_host, mllm, "generate", "a cat")


def test_expressive_instruction_uses_mgies_question(comfy_host, caplog):
    reply = "The sky is grey and snow covers the roofs. People wear coats. Cars are white."
    with ScriptedOpenAIServer(reply) as server, caplog.at_level("INFO", logger="GenAssist"):
        (out,) = node(comfy_host, "GenAssist_ExpressiveInstruction")(
            server_mllm(comfy_host, server), image_batch((0.5, 0.5, 0.5)), "make it winter", 0, 96, 0.0)
    assert "n-gram rule is not applied" in caplog.text
    assert out == ["The sky is grey and snow covers the roofs. People wear coats."]
    body = server.requests[-1].json
    content = body["messages"][-1]["content"]
    assert [part["type"] for part in content] == ["text", "image_url"], "MGIE asks first, then shows the image"
    assert content[0]["text"] == "what will this image be like if 'make it winter'  (in a short paragraph)"
    assert body["temperature"] == 0.0 and body["max_tokens"] == 96
    # the chat-completions API has no n-gram rule: MGIE's no_repeat_ngram_size=3 cannot be sent
    assert not any("ngram" in key for key in body)


def test_expressive_instruction_without_the_data_suffix(comfy_host):
    with ScriptedOpenAIServer("Snow covers the roofs. The sky is grey.") as server:
        node(comfy_host, "GenAssist_ExpressiveInstruction")(
            server_mllm(comfy_host, server), image_batch((0.5, 0.5, 0.5)), "make it winter", 0, 96, 0.0,
            short_paragraph=False)
    text = server.requests[-1].json["messages"][-1]["content"][0]["text"]
    assert text == "what will this image be like if 'make it winter'"


def test_interrupt_stops_the_stream_and_raises(comfy_host):
    import comfy.model_management as mm

    def answer_then_cancel(request):
        mm.interrupt_current_processing(True)
        return "x" * 2000

    with ScriptedOpenAIServer(answer_then_cancel, chunk_chars=1, chunk_delay=0.002) as server:
        with pytest.raises(mm.InterruptProcessingException):
            refine(comfy_host, server_mllm(comfy_host, server), "generate", "cat")
    assert not mm.processing_interrupted(), "the flag is consumed by the raise"
    assert server.chunks_sent < 2000


def test_answer_cache_skips_the_model(comfy_host, server, tmp_path):
    module = sys.modules[comfy_host.NODE_CLASS_MAPPINGS["GenAssist_MLLMServer"].__module__]
    first = server_mllm(comfy_host, server)
    cached = module.MLLMHandle(first.backend, None, cache_dir=str(tmp_path))
    assert refine(comfy_host, cached, "generate", "cabin", seed=3)[0] == refine(comfy_host, cached, "generate",
                                                                                 "cabin", seed=3)[0]
    assert len(server.requests) == 1
    refine(comfy_host, cached, "generate", "cabin", seed=4)
    assert len(server.requests) == 2


def test_load_local_qwen_is_managed_by_comfy(comfy_host, tiny):
    import comfy.model_management as mm

    (mllm,) = node(comfy_host, "GenAssist_LoadMLLM")(tiny.qwen25vl(), "auto", "none", False, False)
    assert mllm.family == "qwen2_5_vl" and mllm.name == "Qwen2.5-VL-3B-Instruct"
    assert mllm.patcher is not None and mllm.patcher.model.inner is mllm.backend.module
    args = (mllm, "similar_image", "", 7, 12, 0.7)
    first = node(comfy_host, "GenAssist_RefinePrompt")(*args, image=image_batch((1, 0, 0)))
    assert any(loaded.model is mllm.patcher for loaded in mm.current_loaded_models)
    mm.unload_all_models()
    again = node(comfy_host, "GenAssist_RefinePrompt")(*args, image=image_batch((1, 0, 0)))
    assert first == again and len(first[0]) == 1


def test_load_local_llmga_gets_llmga_phrasing(comfy_host, tiny):
    (mllm,) = node(comfy_host, "GenAssist_LoadMLLM")(tiny.llmga(), "fp32", "none", False, False)
    assert mllm.family == "llmga"
    seen = []
    real = mllm.backend.generate

    def spy(messages, settings, **kw):
        seen.append(messages)
        return real(messages, settings, **kw)

    mllm.backend.generate = spy
    mask = torch.zeros(1, 48, 64)
    mask[:, :, :32] = 1
    try:
        node(comfy_host, "GenAssist_RefinePrompt")(mllm, "inpaint", "", 1, 8, 0.5,
                                                          image=image_batch((1, 1, 1)), mask=mask)
    except ValueError as error:  # random weights may babble something refusal-like; the request is what we test
        assert "image 0" in str(error)
    (messages,) = seen
    assert [(m.role, m.text) for m in messages] == [("user", "Inpaint this image.")]
    pixels = np.asarray(messages[0].images[0])
    assert (pixels[:, :32] == 0).all() and (pixels[:, 32:] == 255).all()


def test_llmga_edit_sees_the_centre_square_at_512(comfy_host, tiny):
    """LLMGA's edit pipeline captions the centre square of the photo, resized to 512 (cli-sd15-editing.py)."""
    (mllm,) = node(comfy_host, "GenAssist_LoadMLLM")(tiny.llmga(), "fp32", "none", False, False)
    seen = []
    real = mllm.backend.generate

    def spy(messages, settings, **kw):
        seen.append(messages)
        return "<gen_image> a grey wall </gen_image>"

    mllm.backend.generate = spy
    photo = torch.full((1, 200, 300, 3), 0.5)  # 3:2; its centre square is x in [50, 250)
    photo[0, :20, 50:70] = torch.tensor([1.0, 0.0, 0.0])  # red: top-left corner of the square
    photo[0, 180:, 230:250] = torch.tensor([0.0, 1.0, 0.0])  # green: bottom-right corner of the square
    photo[0, 90:110, :50] = torch.tensor([0.0, 0.0, 1.0])  # blue: the strips a crop cuts off
    photo[0, 90:110, 250:] = torch.tensor([0.0, 0.0, 1.0])
    try:
        prompts, _, sources = node(comfy_host, "GenAssist_RefinePrompt")(
            mllm, "edit", "make the wall blue.", 0, 8, 0.2, image=photo)
    finally:
        mllm.backend.generate = real
    assert sources == ["a grey wall"] and prompts == ["a grey wall"]
    first, second = seen
    (image,) = first[0].images
    assert image.size == (512, 512)
    pixels = np.asarray(image).astype(int)
    assert tuple(pixels[20, 20]) == (255, 0, 0) and tuple(pixels[491, 491]) == (0, 255, 0)
    assert tuple(pixels[256, 256]) == (128, 128, 128)
    blue = (pixels[..., 2] > 100) & (pixels[..., 0] < 100) & (pixels[..., 1] < 100)
    assert not blue.any(), "the cut-off strips must not reach the model"
    assert second[0].images == [image] and second[-1].text == "make the wall blue"


def test_missing_model_error_names_folder_and_fix(comfy_host):
    with pytest.raises(FileNotFoundError, match="Qwen3-VL-8B-Instruct.*download"):
        node(comfy_host, "GenAssist_LoadMLLM")("Qwen3-VL-8B-Instruct", "auto", "none", False, False)


def test_quantization_without_bitsandbytes_is_clear(comfy_host, tiny):
    with pytest.raises(RuntimeError, match="bitsandbytes|CUDA"):
        node(comfy_host, "GenAssist_LoadMLLM")(tiny.qwen25vl(), "auto", "4bit", False, False)


def test_cancel_stops_a_local_model_within_one_token(comfy_host, tiny):
    import comfy.model_management as mm

    (mllm,) = node(comfy_host, "GenAssist_LoadMLLM")(tiny.qwen25vl(), "auto", "none", False, False)
    real = mllm.backend.generate
    streamed = []

    def cancel_after_first_token(messages, settings, on_text=None, should_stop=None):
        def on_text_then_cancel(text):
            streamed.append(text)
            mm.interrupt_current_processing(True)

        return real(messages, settings, on_text=on_text_then_cancel, should_stop=should_stop)

    mllm.backend.generate = cancel_after_first_token
    with pytest.raises(mm.InterruptProcessingException):
        node(comfy_host, "GenAssist_RefinePrompt")(mllm, "generate", "a cat", 0, 200, 0.0)
    # cancel arrived while token 1 was streamed; generate checks it before decoding token 3 at the latest
    assert len(streamed) <= 2, "decoding went on after cancel"
    assert not mm.processing_interrupted()


def test_model_list_offers_mllms_not_lisa_or_vision_towers(comfy_host, tiny):
    qwen, lisa = tiny.qwen25vl(), tiny.lisa()
    choices = node(comfy_host, "GenAssist_LoadMLLM").choices("model")
    assert qwen in choices
    assert lisa not in choices, "LISA checkpoints load with GenAssist_LoadLISA"
    assert not {"clip-vit-large-patch14", "clip-vit-large-patch14-336"} & set(choices)


def test_compile_input_decodes_on_a_fast_path_with_the_same_answer(comfy_host, tiny, monkeypatch, caplog):
    """compile: recorded CUDA graphs on a GPU; on a CPU torch.compile (dynamo with aot_eager here)."""
    import logging

    from genassist.mllm.backend import GenerationSettings, Message

    monkeypatch.setenv("GENASSIST_COMPILE_BACKEND", "aot_eager")  # graph capture without minutes of codegen
    loader = node(comfy_host, "GenAssist_LoadMLLM")
    assert loader.INPUT_TYPES()["optional"]["compile"][1]["default"] is False
    (plain,) = loader(tiny.llmga(), "fp32", "none", False, False)
    (fast,) = loader(tiny.llmga(), "fp32", "none", False, False, compile=True)
    assert (plain.backend.decode_mode, fast.backend.decode_mode) == ("auto", "compile")
    greedy = GenerationSettings(max_new_tokens=6, temperature=0.0)
    messages = [Message("user", "Describe a red chair.")]
    with caplog.at_level(logging.INFO):
        assert fast.backend.generate(messages, greedy) == plain.backend.generate(messages, greedy)
    logged = " ".join(r.getMessage() for r in caplog.records)
    if next(fast.backend.model.parameters()).device.type == "cuda":
        assert "on the graphs path" in logged and "recording the decode step" in logged
    else:
        assert "on the compiled path" in logged and "compiling the decode step" in logged
