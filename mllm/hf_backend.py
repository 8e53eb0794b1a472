"""MLLMBackend over a native transformers model folder: any image-text-to-text model transformers knows
(Qwen2/2.5/3-VL, Qwen3.5, Gemma 3, InternVL, SmolVLM, Mistral 3, LLaVA...) or a text-only causal LM. The
model's own chat template and processor do the formatting (family quirks: vision_chat.py)."""

import json
import logging
import os

import torch

from .backend import GenerationSettings, Message
from .decoding import generate_text
from .vision_cache import cache_image_features
from .vision_chat import (
    TEXT_ONLY,
    check_supported,
    family_of,
    processor_inputs,
    render_prompt,
    text_only_error,
)
from .weights import dtype_kwarg

log = logging.getLogger(__name__)


def read_config(folder: str) -> dict:
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        return json.load(f)


def text_messages(messages: list[Message], name: str = "this model", model_type: str = "") -> list[dict]:
    if any(m.images for m in messages):
        raise text_only_error(name, model_type)
    return [{"role": m.role, "content": m.text} for m in messages]


def load_vision_model(folder: str, **kwargs):
    """The image-text-to-text class transformers maps this model type to (vision-to-sequence on older
    versions, then a causal LM whose processor takes images)."""
    import transformers

    errors = []
    for auto_name in ("AutoModelForImageTextToText", "AutoModelForVision2Seq", "AutoModelForCausalLM"):
        auto = getattr(transformers, auto_name, None)
        if auto is None:
            continue
        try:
            return auto.from_pretrained(folder, **kwargs)
        except ValueError as error:  # "Unrecognized configuration class ... for this kind of AutoModel"
            if "Unrecognized configuration class" not in str(error):
                raise
            errors.append(error)
    raise ValueError(f"{os.path.basename(os.path.normpath(folder))}: transformers {transformers.__version__} has "
                     "no image-text-to-text class for this model type; update transformers or use a server "
                     f"backend (MLLM Server). ({errors[-1] if errors else 'no auto class'})")


class TransformersBackend:
    decode_mode = "auto"  # decode_plan.MODES; Load MLLM sets "compile" when compile is on

    def __init__(self, folder: str, dtype=torch.float32, revision: str = "", quantization: str = "none",
                 device=None, trust_remote_code: bool = False):
        from transformers import AutoModelForCausalLM, AutoProcessor, AutoTokenizer

        self.folder = folder
        self.name = os.path.basename(os.path.normpath(folder))
        self.revision = revision
        config = read_config(folder)
        check_supported(config, folder, trust_remote_code)
        self.model_type = config.get("model_type", "")
        self.family = family_of(config, folder)
        kwargs = dict(local_files_only=True, trust_remote_code=trust_remote_code, **dtype_kwarg(dtype))
        kwargs.update(quantization_kwargs(quantization, device))
        if self.family == TEXT_ONLY:
            self.processor = None
            self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True,
                                                           trust_remote_code=trust_remote_code)
            self.model = AutoModelForCausalLM.from_pretrained(folder, **kwargs).eval()
        else:
            self.processor = AutoProcessor.from_pretrained(folder, local_files_only=True,
                                                           trust_remote_code=trust_remote_code)
            self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
            self.model = load_vision_model(folder, **kwargs).eval()
            cache_image_features(self.model)  # the same image asked about again skips the vision tower

    @property
    def module(self) -> torch.nn.Module:
        return self.model

    def prepare(self, messages: list[Message]) -> dict:
        """The exact model inputs (input_ids, attention_mask, pixel values...) on the model's device."""
        device = next(self.model.parameters()).device
        if self.processor is None:
            chat = text_messages(messages, self.name, self.model_type)
            prompt = self.tokenizer.apply_chat_template(chat, tokenize=False,
                                                        add_generation_prompt=True)
            inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        else:
            prompt, images = render_prompt(self.processor, messages)
            inputs = processor_inputs(self.processor, prompt, images, self.model_type)
        dtype = next(self.model.parameters()).dtype
        return {k: (v.to(device, dtype) if torch.is_floating_point(v) else v.to(device))
                for k, v in inputs.items()}

    def generate(self, messages, settings: GenerationSettings, on_text=None, should_stop=None) -> str:
        inputs = self.prepare(messages)
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
