"""MLLMBackend over a native transformers model folder (Qwen2.5-VL, Qwen3-VL, LLaVA-1.5/NeXT '-hf',
any text-only causal LM): the model's own chat template and processor do the formatting."""

import json
import logging
import os

import torch

from .backend import GenerationSettings, Message
from .decoding import generate_text
from .vision_cache import cache_image_features
from .weights import dtype_kwarg

log = logging.getLogger(__name__)

# config.json model_type -> our family name; anything else with a causal-LM head is 'causal_lm'
VISION_FAMILIES = {
    "qwen2_5_vl": "qwen2_5_vl", "qwen3_vl": "qwen3_vl", "qwen2_vl": "qwen2_vl",
    "llava": "llava_hf", "llava_next": "llava_hf", "llava_onevision": "llava_hf",
}


def read_config(folder: str) -> dict:
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        return json.load(f)


def family_of(config: dict) -> str:
    return VISION_FAMILIES.get(config.get("model_type", ""), "causal_lm")


def chat_messages(messages: list[Message]) -> tuple[list[dict], list]:
    """Our messages -> the content-list format chat templates of vision models take, plus the images."""
    out, images = [], []
    for message in messages:
        images_part = [{"type": "image"} for _ in message.images]
        text_part = [{"type": "text", "text": message.text}]
        content = text_part + images_part if message.image_after_text else images_part + text_part
        images.extend(message.images)
        out.append({"role": message.role, "content": content})
    return out, images


def text_messages(messages: list[Message]) -> list[dict]:
    if any(m.images for m in messages):
        raise ValueError("this model reads text only; disconnect the image or load a vision model")
    return [{"role": m.role, "content": m.text} for m in messages]


class TransformersBackend:
    decode_mode = "auto"  # decode_plan.MODES; Load MLLM sets "compiled" when compile is on

    def __init__(self, folder: str, dtype=torch.float32, revision: str = "", quantization: str = "none",
                 device=None, trust_remote_code: bool = False):
        from transformers import AutoModelForCausalLM, AutoProcessor, AutoTokenizer

        self.folder = folder
        self.name = os.path.basename(os.path.normpath(folder))
        self.revision = revision
        self.family = family_of(read_config(folder))
        kwargs = dict(local_files_only=True, trust_remote_code=trust_remote_code, **dtype_kwarg(dtype))
        kwargs.update(quantization_kwargs(quantization, device))
        if self.family == "causal_lm":
            self.processor = None
            self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True,
                                                           trust_remote_code=trust_remote_code)
            self.model = AutoModelForCausalLM.from_pretrained(folder, **kwargs).eval()
        else:
            from transformers import AutoModelForImageTextToText

            self.processor = AutoProcessor.from_pretrained(folder, local_files_only=True,
                                                           trust_remote_code=trust_remote_code)
            self.tokenizer = self.processor.tokenizer
            self.model = AutoModelForImageTextToText.from_pretrained(folder, **kwargs).eval()

    @property
    def module(self) -> torch.nn.Module:
        return self.model

    def prepare(self, messages: list[Message]) -> dict:
        """The exact model inputs (input_ids, attention_mask, pixel values...) on the model's device."""
        device = next(self.model.parameters()).device
        if self.processor is None:
            prompt = self.tokenizer.apply_chat_template(text_messages(messages), tokenize=False,
                                                        add_generation_prompt=True)
            inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        else:
            chat, images = chat_messages(messages)
            prompt = self.processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
            inputs = self.processor(text=[prompt], images=images or None, return_tensors="pt")
        dtype = next(self.model.parameters()).dtype
        return {k: (v.to(device, dtype) if torch.is_floating_point(v) else v.to(device))
                for k, v in inputs.items()}

    def generate(self, messages, settings: GenerationSettings, on_text=None, should_stop=None) -> str:
        inputs = self.prepare(messages)
        cache_image_features(self.model)  # the same image asked about again skips the vision tower
        return generate_text(self.model, self.tokenizer, settings, on_text, should_stop,
                             decode_mode=self.decode_mode, **inputs)


def quantization_kwargs(quantization: str, device) -> dict:
    """from_pretrained kwargs for 8/4-bit bitsandbytes loading (CUDA only)."""
    if quantization in ("none", "", None):
        return {}
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError as error:
        raise RuntimeError(f"quantization '{quantization}' needs the bitsandbytes package: "
                           "pip install bitsandbytes (CUDA GPUs only), or set quantization to none") from error
    if device is None or getattr(device, "type", str(device)) != "cuda":
        raise RuntimeError(f"quantization '{quantization}' runs on CUDA GPUs only; set quantization to none")
    if quantization == "8bit":
        config = BitsAndBytesConfig(load_in_8bit=True)
    elif quantization == "4bit":
        config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                    bnb_4bit_compute_dtype=torch.float16, bnb_4bit_use_double_quant=True)
    else:
        raise ValueError(f"quantization must be none, 8bit or 4bit, got {quantization!r}")
    return {"quantization_config": config, "device_map": {"": device}}
