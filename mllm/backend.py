"""The one small interface every MLLM backend implements (local transformers, legacy LLaVA, HTTP server).

Messages with optional images in, text out; seeded; streamed through ``on_text``; stoppable through
``should_stop`` (the node wires it to ComfyUI's interrupt flag and raises the host's exception).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from PIL import Image


@dataclass
class Message:
    role: str  # "system" | "user" | "assistant"
    text: str
    images: list[Image.Image] = field(default_factory=list)
    image_after_text: bool = False  # where the images go in the turn (MGIE asks its question, then shows it)


@dataclass
class GenerationSettings:
    max_new_tokens: int = 512
    temperature: float = 0.2  # 0 = greedy
    top_p: float = 1.0
    seed: int = 0
    json_mode: bool = False
    no_repeat_ngram_size: int = 0  # >0: never repeat an n-gram of prompt + answer (local backends only)


@runtime_checkable
class MLLMBackend(Protocol):
    family: str  # e.g. "qwen2_5_vl", "qwen3_vl", "llava_hf", "llmga", "causal_lm", "openai"
    name: str  # model name or folder, for logs and cache keys
    revision: str  # content revision (commit/hash of config+weights index, or server model id)

    def generate(self, messages: list[Message], settings: GenerationSettings,
                 on_text: Callable[[str], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> str:
        """Return the full answer. on_text gets the text so far while decoding; should_stop() True
        ends decoding within one step (the caller then raises its own interrupt exception)."""
        ...
