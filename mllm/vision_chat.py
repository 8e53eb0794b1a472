"""Which transformers folders are vision models, and the few chat-format quirks their templates leave.

A folder is a vision model when transformers itself says so: its config's ``model_type`` is in the
image-text-to-text mapping (the vision-to-sequence mapping on older transformers), or its processor takes
images. The model's own processor and chat template do the formatting; what remains per family is here:
where the image goes in a turn, system prompts a template rejects, and model types this transformers
cannot run.
"""

import json
import os

from .backend import Message

# Our historical family names, kept so answer caches and per-family choices stay stable.
FAMILY_ALIASES = {"llava": "llava_hf", "llava_next": "llava_hf", "llava_onevision": "llava_hf"}
TEXT_ONLY = "causal_lm"
_PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


def vision_model_types() -> frozenset[str]:
    """model_type names transformers can load as image+text -> text models in this version."""
    from transformers.models.auto import modeling_auto

    names: set[str] = set()
    for mapping in ("MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES", "MODEL_FOR_VISION_2_SEQ_MAPPING_NAMES"):
        names.update(getattr(modeling_auto, mapping, {}))
    return frozenset(names)


def known_model_types() -> frozenset[str]:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return frozenset(CONFIG_MAPPING_NAMES)


def processor_takes_images(folder: str) -> bool:
    """The folder ships an image processor (preprocessor_config.json, or one inside processor_config.json)."""
    for name in _PROCESSOR_FILES:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            continue
        if "image_processor_type" in data or "image_processor" in data or "image_mean" in data:
            return True
    return False


def is_vision_model(config: dict, folder: str | None = None) -> bool:
    return config.get("model_type", "") in vision_model_types() or bool(folder and processor_takes_images(folder))


def family_of(config: dict, folder: str | None = None) -> str:
    """Our family name: the model_type of a vision model (LLaVA types share 'llava_hf'), else 'causal_lm'."""
    if not is_vision_model(config, folder):
        return TEXT_ONLY
    model_type = config.get("model_type", "")
    return FAMILY_ALIASES.get(model_type, model_type)


def check_supported(config: dict, folder: str, trust_remote_code: bool) -> None:
    """A model type this transformers does not know fails here with what to do, not deep in from_pretrained."""
    import transformers

    model_type = config.get("model_type", "")
    if model_type in known_model_types() or (trust_remote_code and "auto_map" in config):
        return
    name = os.path.basename(os.path.normpath(folder))
    remote = (" or, as this folder ships its own model code, enable trust_remote_code;"
              if "auto_map" in config else ";")
    raise ValueError(
        f"{name}: model type {model_type or '(none)'!r} is not known to the installed transformers "
        f"{transformers.__version__}. Update transformers (pip install -U transformers){remote} or serve the "
        "model with an OpenAI-compatible server (vLLM, llama.cpp, LM Studio, Ollama) and use MLLM Server.")


def text_only_error(name: str, model_type: str) -> ValueError:
    return ValueError(
        f"{name} (model type {model_type or 'unknown'!r}) reads text only: disconnect the image, or load a "
        "vision model (Qwen2.5-VL, Qwen3-VL, Gemma 3, InternVL, SmolVLM...). If this model does take images, "
        "its type may need a newer transformers (pip install -U transformers) or a server backend (MLLM Server).")


def content_messages(messages: list[Message], merge_system: bool = False) -> tuple[list[dict], list]:
    """Our messages -> chat-template content lists (image parts before the text unless the message says
    otherwise), plus the images in order. ``merge_system`` folds system text into the first user turn,
    for templates that reject a system role."""
    out, images = [], []
    pending_system = []
    for message in messages:
        text = message.text
        if merge_system and message.role == "system":
            pending_system.append(text)
            continue
        if pending_system and message.role == "user":
            text = "\n\n".join(pending_system + [text])
            pending_system = []
        images_part = [{"type": "image"} for _ in message.images]
        text_part = [{"type": "text", "text": text}]
        content = text_part + images_part if message.image_after_text else images_part + text_part
        images.extend(message.images)
        out.append({"role": message.role, "content": content})
    if pending_system:  # a system prompt with no user turn after it becomes the user turn
        out.append({"role": "user", "content": [{"type": "text", "text": "\n\n".join(pending_system)}]})
    return out, images


def render_prompt(processor, messages: list[Message]) -> tuple[str, list]:
    """The prompt text from the model's own chat template, and the images in prompt order. A template that
    rejects the system role (it raises) gets the system text merged into the first user turn instead."""
    chat, images = content_messages(messages)
    try:
        return processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True), images
    except Exception as error:  # jinja's TemplateError, or ValueError from raise_exception
        if not any(m.role == "system" for m in messages):
            raise
        first_error = error
    chat, images = content_messages(messages, merge_system=True)
    try:
        return processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True), images
    except Exception:
        raise first_error from None


def processor_inputs(processor, prompt: str, images: list, model_type: str):
    """The processor's tensors for one prompt. Processors refuse some image shapes (Qwen's above 200:1,
    Pixtral's when a side rounds to nothing): that becomes an error naming the sizes and what to do."""
    try:
        return processor(text=[prompt], images=images or None, return_tensors="pt")
    except ValueError as error:
        if not images:
            raise
        sizes = ", ".join(f"{image.width}x{image.height}" for image in images)
        raise ValueError(f"the {model_type or 'model'} processor refused the image ({sizes}): {error}. Crop or "
                         "pad very thin or tiny images to a more usual shape and size.") from error
