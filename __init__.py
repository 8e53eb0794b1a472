"""GenAssist: a multimodal LLM in the loop of image generation and editing (ComfyUI node pack).

Registration only (V3: one ComfyExtension from ``comfy_entrypoint``). Each module in ``nodes/`` is imported
on its own, so a missing optional dependency disables that capability alone and the log says how to fix it.
Nothing heavy is imported here: node modules load transformers, segment-anything, ... lazily, when a node
runs.
"""

from .nodes._folders import register_model_folders
from .nodes._registry import GenAssistExtension, load_node_modules

register_model_folders()
NODES = load_node_modules()
WEB_DIRECTORY = "./web"


def comfy_entrypoint() -> GenAssistExtension:
    return GenAssistExtension(NODES)


__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
