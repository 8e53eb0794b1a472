"""Legacy LLaVA conversation templates (as used by LLMGA, LISA and MGIE checkpoints).

These models were fine-tuned on prompts rendered by LLaVA's ``Conversation.get_prompt``; the exact
separators matter, so each style is rendered here character for character. Templates and the
name → template rule follow LLMGA's ``llava/conversation.py`` and ``serve/cli-*.py``.
"""

from dataclasses import dataclass

IMAGE_PLACEHOLDER = "<image>"
IM_START, IM_END = "<im_start>", "<im_end>"

_HUMAN_SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
                 "The assistant gives helpful, detailed, and polite answers to the human's questions.")
_USER_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
                "The assistant gives helpful, detailed, and polite answers to the user's questions.")
LLMGA_SYSTEM = ("You are LLMGA, a useful language and vision generation assistant. You can generate images "
                "according to the user's requirements. If the user wants you to inpaint or outpaint images, "
                "please imagine what is in the black mask parts of the image. If image generation is "
                "required, please provide a detailed description of the generated images in the form of "
                "<gen_image> DETAILED DESCRIPTION </gen_image>.")


@dataclass(frozen=True)
class ConversationTemplate:
    name: str
    system: str
    roles: tuple[str, str]
    style: str  # single | two | llama_2 | concat | gemma | phi_3
    sep: str
    sep2: str = ""

    @property
    def stop_string(self) -> str:
        """The text that ends an assistant turn (LLaVA's KeywordsStoppingCriteria keyword)."""
        return self.sep2 if self.style in ("two", "gemma") else self.sep


TEMPLATES: dict[str, ConversationTemplate] = {t.name: t for t in (
    ConversationTemplate("llava_v0", _HUMAN_SYSTEM, ("Human", "Assistant"), "single", "###"),
    ConversationTemplate("llava_v1", _HUMAN_SYSTEM, ("USER", "ASSISTANT"), "two", " ", "</s>"),
    ConversationTemplate("vicuna_v1", _USER_SYSTEM, ("USER", "ASSISTANT"), "two", " ", "</s>"),
    ConversationTemplate("llava_llama_2", LLMGA_SYSTEM, ("USER", "ASSISTANT"), "llama_2", "<s>", "</s>"),
    ConversationTemplate("mistral_instruct", "", ("USER", "ASSISTANT"), "llama_2", "<s>", "</s>"),
    ConversationTemplate(
        "llama_3",
        "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful language and vision assistant. "
        "You are able to understand the visual content that the user provides, and assist the user with a "
        "variety of tasks using natural language.",
        # The assistant header really is "system" in LLMGA's template; the checkpoints were trained so.
        ("<|start_header_id|>user<|end_header_id|>\n\n", "<|start_header_id|>system<|end_header_id|>\n\n"),
        "concat", "<|eot_id|>"),
    ConversationTemplate(
        "qwen_2",
        "<|im_start|>system\nA conversation between a user and an LLM-based AI assistant. "
        "The assistant gives helpful and honest answers.",
        ("<|im_start|>user\n", "<|im_start|>assistant\n"), "concat", "<|im_end|>"),
    ConversationTemplate(
        "mpt",
        "<|im_start|>system\nA conversation between a user and an LLM-based AI assistant. "
        "The assistant gives helpful and honest answers.",
        ("<|im_start|>user\n", "<|im_start|>assistant\n"), "concat", "<|im_end|>"),
    ConversationTemplate("chatml_direct", "<|im_start|>system\nAnswer the questions.",
                         ("<|im_start|>user\n", "<|im_start|>assistant\n"), "concat", "<|im_end|>"),
    ConversationTemplate("gemma", "", ("user", "model"), "gemma", "", "<eos>"),
    ConversationTemplate("phi_3", "", ("<|user|>", "<|assistant|>"), "phi_3", "<|end|>"),
)}


def render(template: ConversationTemplate | str, messages: list[str | None]) -> str:
    """Render alternating user/assistant messages; a trailing None opens the assistant's turn."""
    t = TEMPLATES[template] if isinstance(template, str) else template
    turns = [(t.roles[i % 2], m) for i, m in enumerate(messages)]
    if t.style == "single":
        out = t.system + t.sep
        for role, msg in turns:
            out += f"{role}: {msg}{t.sep}" if msg else f"{role}:"
        return out
    if t.style == "two":
        seps = (t.sep, t.sep2)
        out = t.system + seps[0]
        for i, (role, msg) in enumerate(turns):
            out += f"{role}: {msg}{seps[i % 2]}" if msg else f"{role}:"
        return out
    if t.style == "concat":
        out = t.system + t.sep
        for role, msg in turns:
            out += f"{role}{msg}{t.sep}" if msg else role
        return out
    if t.style == "llama_2":
        out = ""
        for i, (_, msg) in enumerate(turns):
            if not msg:
                continue
            if i == 0:
                msg = f"<<SYS>>\n{t.system}\n<</SYS>>\n\n{msg}"  # wrapped even when empty, as trained
            out += f"{t.sep}[INST] {msg} [/INST]" if i % 2 == 0 else f" {msg} {t.sep2}"
        return out.lstrip(t.sep)  # character-set lstrip, as LLaVA does
    if t.style == "gemma":
        seps = (t.sep, t.sep2)
        out = t.system + seps[0]
        for i, (role, msg) in enumerate(turns):
            out += (f"<start_of_turn>{role}\n{msg}<end_of_turn>\n{seps[i % 2]}" if msg
                    else f"<start_of_turn>{role}\n")
        return out
    if t.style == "phi_3":
        return "".join(f"{role}\n{msg}{t.sep}\n" if msg else f"{role}\n" for role, msg in turns)
    raise ValueError(f"unknown conversation style {t.style!r}")


def image_prefix(use_im_start_end: bool) -> str:
    """What precedes the first user message when an image is given (LLaVA puts the image first)."""
    token = f"{IM_START}{IMAGE_PLACEHOLDER}{IM_END}" if use_im_start_end else IMAGE_PLACEHOLDER
    return token + "\n"


def template_for_model_name(name: str, backbone: str | None = None) -> str:
    """LLMGA's rule (serve/cli-*.py): the folder name picks the template. When the name says nothing,
    fall back on the backbone family so a renamed folder still gets its trained template."""
    low = name.lower()
    for needle, template in (("llama-2", "llava_llama_2"), ("llama3", "llama_3"), ("gemma", "gemma"),
                             ("qwen2", "qwen_2"), ("phi-3", "phi_3"), ("mistral", "mistral_instruct"),
                             ("v1.6-34b", "chatml_direct"), ("v1", "llava_v1"), ("mpt", "mpt")):
        if needle in low:
            return template
    by_backbone = {"qwen2": "qwen_2", "gemma": "gemma", "phi3": "phi_3", "mistral": "mistral_instruct",
                   "llama3": "llama_3", "llama": "llava_v1"}
    return by_backbone.get(backbone or "", "llava_v0")
