"""GenAssist: a multimodal LLM in the loop of image generation and editing (ComfyUI node pack).

Registration only (classic V1 API). Each module in ``nodes/`` is imported on its own, so a missing
optional dependency disables that capability alone and the log says how to fix it. Nothing heavy is
imported here: node modules load transformers, segment-anything, ... lazily, when a node runs.
"""

from .nodes._folders import register_model_folders
from .nodes._registry import load_node_modules

register_model_folders()
NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = load_node_modules()
WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
