"""What we ask the MLLM for each task.

LLMGA checkpoints get the phrasings they were fine-tuned on (llava/prompt_temp.py; one fixed choice from
each list, so answers are reproducible). Other models get our own instructions asking for the same
tagged answer, written for the text encoder that will read the prompt.
"""

from dataclasses import dataclass, field

from PIL import Image

from .backend import Message

TASKS = ("generate", "similar_image", "inpaint", "outpaint", "edit")
STYLES = ("paragraph", "clip_tags")

# LLMGA training phrasings (one per list)
LLMGA_GENERATE = "Generate an image based on given keywords."
LLMGA_SIMILAR = "Generate a similar image."
LLMGA_EDIT_FIRST_TURN = "Generate a similar image"  # cli-sd15-editing.py forces this exact first turn
LLMGA_INPAINT = "Inpaint this image."
LLMGA_OUTPAINT = "Extend this image."
LLMGA_EDIT_SIZE = 512  # cli-sd15-editing.py: centre square, resized to 512, before captioning and editing

_STYLE_RULES = {
    "paragraph": "Write one detailed paragraph in natural language (60 to 150 words): subject, setting, "
                 "composition, lighting, colours, style and mood.",
    "clip_tags": "Write a comma-separated list of short descriptive phrases, most important first, at most "
                 "60 words in total (the text encoder reads only 77 tokens).",
}
SYSTEM_PROMPT = ("You write prompts for a text-to-image diffusion model. {style} Describe only what should be "
                 "visible in the image. Answer with the prompt only, in the form <gen_image> PROMPT "
                 "</gen_image>, with no other text.")
_GENERIC = {
    "generate": "Write an image-generation prompt for: {text}",
    "similar_image": "Write a prompt that would generate an image similar to the given image.{hint}",
    "inpaint": "The black area of the given image is missing. Imagine what fills it so the picture is "
               "whole, and write a prompt describing the complete image.{hint}",
    "outpaint": "The black border of the given image is unknown. Imagine the scene extended into it, and "
                "write a prompt describing the complete, larger image.{hint}",
    "edit_first": "Write a prompt that would generate an image similar to the given image.",
    "edit": "Rewrite that prompt so it describes the image after this edit: {text}",
}


@dataclass
class TaskRequest:
    """A conversation to send; two_turn tasks (edit) send ``first`` and then ``second`` after the answer."""

    first: list[Message]
    second: Message | None = None
    notes: list[str] = field(default_factory=list)


def needs_image(task: str) -> bool:
    return task in ("similar_image", "inpaint", "outpaint", "edit")


def _hint(text: str) -> str:
    return f" Take this into account: {text}" if text else ""


def centre_square(image: Image.Image, size: int = LLMGA_EDIT_SIZE) -> Image.Image:
    """The centred square of the short side, resized to size x size (bicubic, PIL's default for RGB)."""
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return image.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)


def build_request(task: str, text: str, image=None, llmga: bool = False, style: str = "paragraph") -> TaskRequest:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    text = (text or "").strip()
    if needs_image(task) and image is None:
        raise ValueError(f"task '{task}' needs an image: connect one to the image input")
    if task in ("generate", "edit") and not text:
        raise ValueError(f"task '{task}' needs text: " + ("the keywords to expand" if task == "generate"
                                                          else "the edit instruction"))
    images = [image] if image is not None and task != "generate" else []
    notes = ["image ignored: task 'generate' reads text only"] if image is not None and task == "generate" else []
    if llmga:
        if task == "generate":
            return TaskRequest([Message("user", f"{LLMGA_GENERATE} {text}")], notes=notes)
        if task == "edit":  # LLMGA dropped the instruction's last character (its period) in training
            instruction = text[:-1] if text.endswith(".") else text
            if image.width != image.height:
                notes.append(f"LLMGA edit: the model sees the centre square of the {image.width}x{image.height} "
                             f"image at {LLMGA_EDIT_SIZE} px, as LLMGA's edit pipeline crops it")
            return TaskRequest([Message("user", LLMGA_EDIT_FIRST_TURN, [centre_square(image)])],
                               Message("user", instruction), notes=notes)
        phrase = {"similar_image": LLMGA_SIMILAR, "inpaint": LLMGA_INPAINT, "outpaint": LLMGA_OUTPAINT}[task]
        return TaskRequest([Message("user", f"{phrase} {text}".strip(), images)], notes=notes)
    system = Message("system", SYSTEM_PROMPT.format(style=_STYLE_RULES[style]))
    if task == "edit":
        return TaskRequest([system, Message("user", _GENERIC["edit_first"], images)],
                           Message("user", _GENERIC["edit"].format(text=text)))
    user = _GENERIC[task].format(text=text, hint=_hint(text))
    return TaskRequest([system, Message("user", user, images)], notes=notes)


# MGIE (apple/ml-mgie demo.ipynb): the instruction goes into this question and the image follows the text
# ("question\n<im_start>…<im_end>"); greedy decoding, at most 96 new tokens, no_repeat_ngram_size=3.
# "  (in a short paragraph)" (two spaces) is not part of MGIE's inference prompt: its training data was made
# by asking LLaVA the question with it appended (process_data.ipynb). It helps a general VLM answer as
# MGIE's data did; leave it off for MGIE's own checkpoint.
MGIE_TEMPLATE = "what will this image be like if '{instruction}'"
MGIE_DATA_SUFFIX = "  (in a short paragraph)"
MGIE_NO_REPEAT_NGRAM = 3


def mgie_request(instruction: str, image, short_paragraph: bool = True) -> list[Message]:
    instruction = (instruction or "").strip()
    if not instruction:
        raise ValueError("instruction is empty: write the edit, e.g. 'make it snowy'")
    text = MGIE_TEMPLATE.format(instruction=instruction) + (MGIE_DATA_SUFFIX if short_paragraph else "")
    return [Message("user", text, [image], image_after_text=True)]
