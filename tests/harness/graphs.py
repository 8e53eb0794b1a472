"""API-format graphs in e2e tests: load a shipped example for the server, find nodes, put the scripted MLLM
server in, and read what a run left in the server's history (saved images, previewed text)."""

import io
import json

import numpy as np
from PIL import Image

from genassist.evaluation.comfy_client import output_images

from .host import PACK_DIR
from .workflow import ui_to_api

EXAMPLES = PACK_DIR / "example_workflows"


def load_example(name: str, server) -> tuple[dict, dict]:
    """A shipped example workflow as saved (UI format) and as converted for this server (API format)."""
    ui = json.loads((EXAMPLES / name).read_text())
    return ui, ui_to_api(ui, server.object_info())


def node_of(graph: dict, class_type: str, title: str | None = None, **inputs) -> str:
    """The id of the first node of this class (with this title and these input values, where given)."""
    for node_id, node in graph.items():
        titled = title is None or node.get("_meta", {}).get("title") == title
        if node["class_type"] == class_type and titled and all(node["inputs"].get(k) == v for k, v in inputs.items()):
            return node_id
    raise LookupError(f"the graph has no {class_type} node" + (f" titled {title!r}" if title else "")
                      + (f" with inputs {inputs}" if inputs else ""))


def scripted_mllm(base_url: str, stream: bool = True, timeout_s: int = 30) -> dict:
    """An MLLM Server node (API format) on the scripted OpenAI-compatible server at base_url."""
    return {"class_type": "GenAssist_MLLMServer",
            "inputs": {"base_url": base_url, "model": "scripted", "api_key_env": "", "timeout_s": timeout_s,
                       "stream": stream, "cache_answers": False}}


def grounded_segmenter(base_url: str) -> dict:
    """Nodes "1" to "3" of a graph: the scripted MLLM server, the tiny SAM (sam_vit_h_4b8939.pth) and a Grounded
    Segmenter of the two, whose GENASSIST_SEGMENTER is ["3", 0]."""
    return {
        "1": scripted_mllm(base_url, stream=False),
        "2": {"class_type": "GenAssist_LoadSAM", "inputs": {"model_name": "sam_vit_h_4b8939.pth", "dtype": "auto",
                                                           "download": False}},
        "3": {"class_type": "GenAssist_GroundedSegmenter", "inputs": {"mllm": ["1", 0], "sam": ["2", 0],
                                                                     "box_format": "auto", "max_new_tokens": 256,
                                                                     "seed": 0}},
    }


def saved_images(server, entry: dict, graph: dict, prefix: str | None = None) -> list[Image.Image]:
    """The images the graph's SaveImage node wrote in this run (where the graph has several, the one saving
    under filename_prefix `prefix`), fetched through the server's /view."""
    save = node_of(graph, "SaveImage", **({} if prefix is None else {"filename_prefix": prefix}))
    return [Image.open(io.BytesIO(server.view(info))) for info in output_images(entry, save)]


def saved_image(server, entry: dict, graph: dict, prefix: str | None = None) -> Image.Image:
    """The one image of saved_images (a run that saved none or several fails here)."""
    (image,) = saved_images(server, entry, graph, prefix)
    return image


def pixels(image: Image.Image) -> np.ndarray:
    """RGB pixels [H,W,3] as int, so that differences of pixels do not wrap around."""
    return np.asarray(image.convert("RGB")).astype(int)


def saved_pixels(server, entry: dict, graph: dict, prefix: str | None = None) -> list[np.ndarray]:
    return [pixels(image) for image in saved_images(server, entry, graph, prefix)]


def preview_text(entry: dict, graph: dict, title: str | None = None) -> str:
    """The text the graph's PreviewAny node (the one with this title, where given) showed in this run."""
    return entry["outputs"][node_of(graph, "PreviewAny", title)]["text"][0]
