"""Native transformers families load and generate through TransformersBackend with their own templates:
Qwen3-VL, LLaVA-1.5 '-hf' and a text-only causal LM (tiny random weights, ComfyUI's tokenizers)."""

import pytest
import torch
from PIL import Image

from genassist.mllm.backend import GenerationSettings, Message
from genassist.mllm.loader import load_backend
from harness import host

QWEN_TOKENIZER = host.comfy_dir() / "comfy" / "text_encoders" / "qwen25_tokenizer"
LLAMA_TOKENIZER = host.comfy_dir() / "comfy" / "text_encoders" / "llama_tokenizer"
RED = Image.new("RGB", (64, 48), (200, 10, 10))
LLAVA_TEMPLATE = ("{% for message in messages %}{{ message['role'].upper() }}: {% if message['content'] is string %}"
                  "{{ message['content'] }}{% else %}{% for c in message['content'] %}{% if c['type'] == 'image' %}"
                  "<image>\n{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %} "
                  "{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}")


def write_qwen3_vl(folder):
    from transformers import (
        AutoTokenizer,
        Qwen2VLImageProcessor,
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
        Qwen3VLProcessor,
    )
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    from tiny_models.qwen25vl import CHAT_TEMPLATE

    config = Qwen3VLConfig(
        text_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, head_dim=16, vocab_size=151936,
                         rope_scaling={"rope_type": "default", "mrope_section": [2, 3, 3], "mrope_interleaved": True}),
        vision_config=dict(depth=2, hidden_size=64, intermediate_size=128, num_heads=2, out_hidden_size=64,
                           patch_size=16, spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64,
                           deepstack_visual_indexes=[1]),
        image_token_id=151655, video_token_id=151656, vision_start_token_id=151652, vision_end_token_id=151653,
        tie_word_embeddings=True)
    torch.manual_seed(0)
    Qwen3VLForConditionalGeneration(config).save_pretrained(folder)
    Qwen3VLProcessor(image_processor=Qwen2VLImageProcessor(patch_size=16, merge_size=2, min_pixels=4096,
                                                           max_pixels=65536),
                     tokenizer=AutoTokenizer.from_pretrained(str(QWEN_TOKENIZER)),
                     video_processor=Qwen3VLVideoProcessor(), chat_template=CHAT_TEMPLATE).save_pretrained(folder)


def write_llava_hf(folder):
    from transformers import (
        AutoTokenizer,
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    tokenizer = AutoTokenizer.from_pretrained(str(LLAMA_TOKENIZER))
    tokenizer.add_tokens(["<image>"], special_tokens=True)
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                       num_attention_heads=2, image_size=56, patch_size=14),
        text_config=LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                num_key_value_heads=2, vocab_size=len(tokenizer)),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"), vision_feature_layer=-2)
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(folder)
    LlavaProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 56},
                                                      crop_size={"height": 56, "width": 56}),
                   tokenizer=tokenizer, patch_size=14, num_additional_image_tokens=1,
                   vision_feature_select_strategy="default", chat_template=LLAVA_TEMPLATE).save_pretrained(folder)


def write_text_llama(folder):
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(LLAMA_TOKENIZER))
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                 num_key_value_heads=2, vocab_size=len(tokenizer))).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


BUILDERS = {"qwen3_vl": write_qwen3_vl, "llava_hf": write_llava_hf, "causal_lm": write_text_llama}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def backend(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    BUILDERS[request.param](str(folder))
    loaded = load_backend(str(folder))
    assert loaded.family == request.param
    return loaded


def messages_for(backend):
    images = [] if backend.family == "causal_lm" else [RED]
    return [Message("user", "Describe the picture.", images)]


def test_inputs_follow_the_models_own_template(backend):
    inputs = backend.prepare(messages_for(backend))
    text = backend.tokenizer.decode(inputs["input_ids"][0])
    assert "Describe the picture." in text
    if backend.family == "qwen3_vl":
        grid = inputs["image_grid_thw"][0].tolist()
        assert text.count("<|image_pad|>") == grid[0] * grid[1] * grid[2] // 4
        assert text.endswith("<|im_start|>assistant\n")
    elif backend.family == "llava_hf":
        assert text.count("<image>") == (56 // 14) ** 2 and text.endswith("ASSISTANT:")
        assert tuple(inputs["pixel_values"].shape) == (1, 3, 56, 56)
    else:
        assert "<|start_header_id|>user<|end_header_id|>" in text and "pixel_values" not in inputs


def test_seeded_generation_is_repeatable(backend):
    settings = GenerationSettings(max_new_tokens=5, temperature=0.8, seed=11)
    streamed = []
    first = backend.generate(messages_for(backend), settings, on_text=streamed.append)
    assert first == backend.generate(messages_for(backend), settings)
    assert streamed and streamed[-1].strip() == first
