"""MLLMBackend over a legacy LLaVA checkpoint (LLMGA): template prompt, image splicing, decoding."""

import torch

from .backend import GenerationSettings, Message
from .decoding import generate_text
from .legacy_llava import LegacyLlava, build_prompt, tokenize_with_images


def split_conversation(messages: list[Message]) -> tuple[list[str], list[str], list]:
    """User texts, earlier assistant answers and images. Legacy templates carry their own system prompt
    (the one the checkpoint was trained with), so system messages are dropped."""
    users, answers, images = [], [], []
    for message in messages:
        if message.role == "user":
            users.append(message.text)
            images.extend(message.images)
        elif message.role == "assistant":
            answers.append(message.text)
    if not users:
        raise ValueError("the conversation has no user message")
    return users, answers, images


class LegacyLlavaBackend:
    decode_mode = "auto"  # decode_plan.MODES; Load MLLM sets "compile" when compile is on

    def __init__(self, model: LegacyLlava, tokenizer, revision: str = ""):
        self.model = model
        self.tokenizer = tokenizer
        self.family = "llmga" if "llmga" in model.spec.name.lower() else "legacy_llava"
        self.name = model.spec.name
        self.revision = revision

    @property
    def module(self) -> torch.nn.Module:
        return self.model

    def prepare(self, messages: list[Message]) -> tuple[str, list[int], list]:
        """(prompt text, token ids with -200 image placeholders, images) exactly as fed to the model."""
        users, answers, images = split_conversation(messages)
        if len(images) > 1:
            raise ValueError(f"{self.name} takes one image per conversation, got {len(images)}")
        prompt = build_prompt(self.model.spec.template, users, answers, has_image=bool(images),
                              use_im_start_end=self.model.spec.use_im_start_end,
                              image_after_text=any(m.image_after_text for m in messages if m.images))
        return prompt, tokenize_with_images(self.tokenizer, prompt), images

    def generate(self, messages, settings: GenerationSettings, on_text=None, should_stop=None) -> str:
        _, ids, images = self.prepare(messages)
        with torch.inference_mode():
            embeds, _ = self.model.embed(torch.tensor(ids), images)
        stop = self.model_stop_strings()
        return generate_text(self.model.language_model, self.tokenizer, settings, on_text, should_stop,
                             stop_strings=stop, extra_eos_tokens=stop, prompt_ids=ids, inputs_embeds=embeds,
                             decode_mode=self.decode_mode,
                             attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long,
                                                       device=embeds.device))

    def model_stop_strings(self) -> list[str]:
        from .conversation import TEMPLATES

        stop = TEMPLATES[self.model.spec.template].stop_string.strip()
        return [stop] if stop else []
