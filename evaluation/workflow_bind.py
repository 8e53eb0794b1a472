"""Bind a dataset item to a ComfyUI workflow in API format. Input nodes are marked by their title
(``_meta.title``, set in the UI with "Title"): ``eval:image`` (and ``eval:mask``) get the item's uploaded
image in their ``image`` input (a LoadImage), ``eval:query`` / ``eval:instruction`` get its text in the
first of their inputs named query, instruction, text, value, string or prompt. ``eval:<field>=<input>``
names the input explicitly. The node titled ``eval:output`` (a SaveImage or PreviewImage) gives the
prediction: for segmentation a mask as an image (white = object), for editing the edited image."""

import copy
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "eval:"
FILE_FIELDS = ("image", "mask")
TEXT_FIELDS = ("query", "instruction")
TEXT_INPUTS = ("query", "instruction", "text", "value", "string", "prompt")


@dataclass
class Task:
    """One prediction to make: the item's files and texts, and where its prediction goes."""
    key: str
    output: Path
    kind: str  # "mask" or "image"
    files: dict[str, Path] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)


@dataclass
class Binding:
    node_id: str
    field: str
    input_name: str


@dataclass
class BoundWorkflow:
    graph: dict
    bindings: list[Binding]
    output_node: str

    def fill(self, files: dict[str, str], texts: dict[str, str]) -> dict:
        """A copy of the graph with the item's uploaded file names and texts in the marked inputs."""
        graph = copy.deepcopy(self.graph)
        for binding in self.bindings:
            value = files[binding.field] if binding.field in FILE_FIELDS else texts[binding.field]
            graph[binding.node_id]["inputs"][binding.input_name] = value
        return graph


def _title(node: dict) -> str:
    return str((node.get("_meta") or {}).get("title", "")).strip()


def bind_workflow(graph: dict, provided: set[str], source: str = "workflow") -> BoundWorkflow:
    """Find the marked nodes; clear errors when the graph is not API format or is marked wrongly."""
    if not isinstance(graph, dict) or "nodes" in graph or not all(
            isinstance(n, dict) and "class_type" in n for n in graph.values()):
        raise ValueError(f"{source} is not a workflow in API format: in ComfyUI use Workflow > Export (API)")
    bindings, outputs = [], []
    for node_id, node in graph.items():
        title = _title(node)
        if not title.lower().startswith(PREFIX):
            continue
        name, _, explicit = title[len(PREFIX):].partition("=")
        name, explicit = name.strip().lower(), explicit.strip()
        if name == "output":
            outputs.append(node_id)
            continue
        if name not in FILE_FIELDS + TEXT_FIELDS:
            raise ValueError(f"{source}: node {node_id} is titled {title!r}; the fields are "
                             f"{', '.join(FILE_FIELDS + TEXT_FIELDS)} and output")
        if name not in provided:
            raise ValueError(f"{source}: node {node_id} asks for {name!r}, which this dataset does not provide "
                             f"(it provides {', '.join(sorted(provided))})")
        inputs = node.setdefault("inputs", {})
        candidates = [explicit] if explicit else (["image"] if name in FILE_FIELDS else list(TEXT_INPUTS))
        chosen = next((c for c in candidates if c in inputs), None)
        if chosen is None:
            raise ValueError(f"{source}: node {node_id} ({node['class_type']}, titled {title!r}) has none of the "
                             f"inputs {candidates}; name one with '{PREFIX}{name}=<input name>'")
        bindings.append(Binding(node_id, name, chosen))
    if len(outputs) != 1:
        raise ValueError(f"{source}: exactly one node must be titled '{PREFIX}output' (found {len(outputs)})")
    if not bindings:
        raise ValueError(f"{source}: no node is titled '{PREFIX}image', '{PREFIX}query' or '{PREFIX}instruction'")
    return BoundWorkflow(graph, bindings, outputs[0])
