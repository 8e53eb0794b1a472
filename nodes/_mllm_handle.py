"""GENASSIST_MLLM: the value every MLLM-using node receives.

Wraps any mllm backend with what only the host provides: ComfyUI memory management (the local model
lives in a ModelPatcher and is loaded before each generation, so the diffusion model can evict it),
live text on the node, the cancel button, and the optional answer cache.
"""

import logging
import os

import comfy.model_management as mm
import torch

from ..mllm.answer_cache import AnswerCache, answer_key
from ..mllm.backend import GenerationSettings, Message, MLLMBackend
from ._memory import load_for_inference
from ._oom import MLLM_ADVICE, fail_on_oom
from ._progress import check_interrupt, text_streamer

log = logging.getLogger("GenAssist")
MAX_PROMPT_CHARS = 200_000  # ~50k tokens, past any supported model's context: a pasted file, not a request


def default_cache_dir() -> str:
    import folder_paths

    return os.path.join(folder_paths.get_user_directory(), "genassist", "mllm_answers")


class ModelContainer(torch.nn.Module):
    """A plain module around the backend's model: ModelPatcher writes attributes such as ``device`` onto
    the module it manages, which transformers models expose as read-only properties."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner


class MLLMHandle:
    """``.family``, ``.name`` and ``.generate(messages, settings, node_id=None) -> str``."""

    def __init__(self, backend: MLLMBackend, patcher=None, cache_dir: str | None = None,
                 activation_bytes: int = 0):
        self.backend = backend
        self.patcher = patcher
        self.cache = AnswerCache(cache_dir) if cache_dir else None
        self.activation_bytes = activation_bytes

    @property
    def family(self) -> str:
        return self.backend.family

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def revision(self) -> str:
        return self.backend.revision

    def __repr__(self) -> str:
        return f"MLLMHandle({self.family}: {self.name})"

    def generate(self, messages: list[Message], settings: GenerationSettings, node_id=None) -> str:
        chars = sum(len(message.text) for message in messages)
        if chars > MAX_PROMPT_CHARS:
            raise ValueError(f"the request to {self.name} is {chars} characters long (at most {MAX_PROMPT_CHARS}, "
                             "MAX_PROMPT_CHARS): shorten the text or instruction input")
        key = answer_key(self.backend, messages, settings) if self.cache else None
        if key and (cached := self.cache.get(key)) is not None:
            log.info("GenAssist: cached answer from %s", self.name)
            text_streamer(node_id)(cached)
            return cached
        check_interrupt()
        answer = fail_on_oom(lambda: self._run(messages, settings, node_id), f"the MLLM {self.name}",
                             MLLM_ADVICE)
        check_interrupt()  # a stop request ended decoding early: raise the host's exception, keep nothing
        if key:
            self.cache.put(key, answer)
        return answer

    def _run(self, messages: list[Message], settings: GenerationSettings, node_id) -> str:
        if self.patcher is not None:  # None: a server, or quantized weights resident on the GPU
            load_for_inference(self.patcher, self.activation_bytes)
        return self.backend.generate(messages, settings, on_text=text_streamer(node_id),
                                     should_stop=mm.processing_interrupted)
