"""The conventions every shipped example workflow follows, as checks that return readable problems.

They mirror ComfyUI's own templates and what its frontend reads: a MarkdownNote that explains the workflow,
`properties.models` on loaders (the missing-models dialog offers those downloads), groups naming the stages,
no overlapping nodes, links that read left to right, and a `<stem>.jpg` thumbnail beside the JSON.
"""

import re
from pathlib import Path

NOTE_TYPES = {"MarkdownNote", "Note"}
NOTE_SECTIONS = ("## What it does", "## Models", "## Inputs to change", "## What to expect")
MODEL_EXTENSIONS = (".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".bin", ".gguf")
NODE_TITLE_HEIGHT = 30  # LiteGraph draws a node's title bar above its pos
MIN_READABLE_SCALE = 0.6

# Single-file loaders: the models/ folder their files come from (the directory the frontend checks).
LOADER_FOLDERS = {
    "CheckpointLoaderSimple": "checkpoints",
    "CLIPLoader": "text_encoders",
    "DualCLIPLoader": "text_encoders",
    "TripleCLIPLoader": "text_encoders",
    "VAELoader": "vae",
    "UNETLoader": "diffusion_models",
    "LoraLoader": "loras",
    "LoraLoaderModelOnly": "loras",
    "ControlNetLoader": "controlnet",
    "CLIPVisionLoader": "clip_vision",
    "UpscaleModelLoader": "upscale_models",
    "GenAssist_LoadSAM": "sams",
}
# Loaders of models published without a per-file URL: the note names the file and its folder instead.
NO_DIRECT_URL = {"GenAssist_LoadDiffRIR": "diffrir"}
# Loaders of folder models (under models/LLM unless FOLDER_ROOTS says otherwise): widget positions holding
# folder names.
FOLDER_LOADERS = {"GenAssist_LoadMLLM": (0,), "GenAssist_LoadLISA": (0, 1), "GenAssist_LoadSAM3": (0,)}
FOLDER_ROOTS = {"GenAssist_LoadSAM3": "sams"}
# Nodes that use a model served elsewhere: widget position of the model's name.
SERVER_MODEL_WIDGET = {"GenAssist_MLLMServer": 1}


def _values(node: dict) -> list:
    values = node.get("widgets_values") or []
    return list(values.values()) if isinstance(values, dict) else list(values)


def _label(node: dict) -> str:
    return f"node {node.get('id')} ({node.get('type')})"


def model_files(node: dict) -> list[str]:
    return [v for v in _values(node) if isinstance(v, str) and v.lower().endswith(MODEL_EXTENSIONS)]


def note_text(workflow: dict) -> str:
    notes = [n for n in workflow.get("nodes", []) if n.get("type") == "MarkdownNote"]
    return "\n".join(str(_values(n)[0]) for n in notes if _values(n))


def section(text: str, heading: str) -> str:
    """The text under a `## heading`, up to the next `## ` heading."""
    start = text.find(heading)
    if start < 0:
        return ""
    rest = text[start + len(heading):]
    following = re.search(r"^## ", rest, flags=re.M)
    return rest[:following.start()] if following else rest


def note_problems(workflow: dict) -> list[str]:
    text = note_text(workflow)
    if not text.strip():
        return ["no MarkdownNote explaining the workflow"]
    problems = [] if text.lstrip().startswith("# ") else ["the note does not start with a '# Title' line"]
    problems += [f"the note has no '{heading}' section" for heading in NOTE_SECTIONS if heading not in text]
    expect = section(text, "## What to expect")
    if "VRAM" not in expect:
        problems.append("'## What to expect' does not give the VRAM")
    if not re.search(r"measured|estimate", expect, flags=re.I):
        problems.append("'## What to expect' does not say whether its numbers are measured or estimates")
    models = section(text, "## Models")
    for node in workflow.get("nodes", []):
        kind = node.get("type")
        folder = LOADER_FOLDERS.get(kind) or NO_DIRECT_URL.get(kind)
        if folder:
            for name in model_files(node):
                if name not in models or f"models/{folder}/" not in models:
                    problems.append(f"'## Models' does not name {name} in models/{folder}/ ({_label(node)})")
        for position in FOLDER_LOADERS.get(kind, ()):
            name = _values(node)[position] if position < len(_values(node)) else None
            root = FOLDER_ROOTS.get(kind, "LLM")
            if name and f"--local-dir ComfyUI/models/{root}/{name}" not in text:
                problems.append(f"the note has no download command for the folder model {name} "
                                f"('... --local-dir ComfyUI/models/{root}/{name}', {_label(node)})")
        if kind in SERVER_MODEL_WIDGET:
            name = _values(node)[SERVER_MODEL_WIDGET[kind]]
            if name not in models:
                problems.append(f"'## Models' does not name the served model {name} ({_label(node)})")
    return problems


def model_problems(workflow: dict) -> list[str]:
    problems = []
    for node in workflow.get("nodes", []):
        kind, files = node.get("type"), model_files(node)
        entries = (node.get("properties") or {}).get("models") or []
        known = kind in LOADER_FOLDERS or kind in NO_DIRECT_URL or kind in FOLDER_LOADERS
        if files and not known:
            problems.append(f"{_label(node)} loads {files} but is not a known loader: add its models/ folder to "
                            "LOADER_FOLDERS in tests/harness/workflow_conventions.py")
        for entry in entries:
            name, url = entry.get("name", ""), entry.get("url", "")
            if name not in _values(node):
                problems.append(f"{_label(node)}: properties.models names {name!r}, which is not its selected file "
                                "(the frontend ignores it)")
            if not url.startswith("https://"):
                problems.append(f"{_label(node)}: url of {name} is not https: {url!r}")
            elif not url.endswith("/" + name):
                problems.append(f"{_label(node)}: url of {name} does not end in the file name: {url!r}")
            if kind in LOADER_FOLDERS and entry.get("directory") != LOADER_FOLDERS[kind]:
                problems.append(f"{_label(node)}: directory of {name} is {entry.get('directory')!r}, "
                                f"not {LOADER_FOLDERS[kind]!r}")
        if kind in LOADER_FOLDERS:
            listed = {entry.get("name") for entry in entries}
            problems += [f"{_label(node)}: no properties.models entry for {name}" for name in files
                         if name not in listed]
    return problems


def node_box(node: dict) -> tuple[float, float, float, float]:
    x, y = node["pos"][0], node["pos"][1]
    w, h = node["size"][0], node["size"][1]
    return x, y - NODE_TITLE_HEIGHT, x + w, y + h


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _group_area(group: dict) -> tuple[float, float, float, float]:
    x, y, w, h = group["bounding"]
    return x, y + group.get("font_size", 24) * 1.4, x + w, y + h


def _within(box, area) -> bool:
    return area[0] <= box[0] and area[1] <= box[1] and box[2] <= area[2] and box[3] <= area[3]


def overlap_problems(nodes: list[dict]) -> list[str]:
    boxes = [(n, node_box(n)) for n in nodes]
    return [f"{_label(a)} overlaps {_label(b)}" for i, (a, box_a) in enumerate(boxes)
            for b, box_b in boxes[i + 1:] if _overlap(box_a, box_b)]


def layout_problems(workflow: dict) -> list[str]:
    nodes = workflow.get("nodes", [])
    groups = workflow.get("groups", [])
    problems = overlap_problems(nodes)
    problems += [f"group {g.get('id')} has no title" for g in groups if not str(g.get("title", "")).strip()]
    for i, a in enumerate(groups):
        for b in groups[i + 1:]:
            ax, ay, aw, ah = a["bounding"]
            bx, by, bw, bh = b["bounding"]
            if _overlap((ax, ay, ax + aw, ay + ah), (bx, by, bx + bw, by + bh)):
                problems.append(f"group {a.get('title')!r} overlaps group {b.get('title')!r}")
    numbered = [(g["bounding"][0], int(m.group(1))) for g in groups
                if (m := re.match(r"\s*(\d+)", str(g.get("title", ""))))]
    order = [number for _, number in sorted(numbered)]
    if order != sorted(order):
        problems.append(f"numbered stages do not read left to right: {order}")
    for node in nodes:
        if node.get("type") in NOTE_TYPES:
            continue
        homes = [g for g in groups if _within(node_box(node), _group_area(g))]
        if len(homes) != 1:
            problems.append(f"{_label(node)} lies inside {len(homes)} groups, not exactly one (below the title)")
    by_id = {n["id"]: n for n in nodes}
    for link in workflow.get("links", []):
        source, target = by_id.get(link[1]), by_id.get(link[3])
        if source and target and not source["pos"][0] < target["pos"][0]:
            problems.append(f"link {link[0]} runs right to left: {_label(source)} -> {_label(target)}")
    return problems


def view_problems(workflow: dict) -> list[str]:
    """The view the workflow opens at (extra.ds) must be one where the frontend still draws text: below
    MinFontSizeForLOD (8 px) over the 14-px node font, i.e. a scale under ~0.57, it draws bare boxes."""
    scale = ((workflow.get("extra") or {}).get("ds") or {}).get("scale")
    if scale is None:
        return ["no extra.ds: the workflow opens fitted to the screen, unreadably small when it is wide"]
    return [] if scale >= MIN_READABLE_SCALE else [f"extra.ds.scale {scale} < {MIN_READABLE_SCALE}: text not drawn"]


def expected_missing_models(workflow: dict) -> list[str]:
    """What the frontend's missing-models dialog lists on a host with no model files: `directory / name` of each
    properties.models entry naming its node's selected file, one per URL (as the frontend de-duplicates)."""
    seen, labels = set(), []
    for node in workflow.get("nodes", []):
        for entry in (node.get("properties") or {}).get("models") or []:
            if entry.get("name") in _values(node) and entry.get("url") not in seen:
                seen.add(entry.get("url"))
                labels.append(f"{entry['directory']} / {entry['name']}")
    return sorted(labels)


def thumbnail_path(workflow_path: Path) -> Path:
    return workflow_path.with_suffix(".jpg")
