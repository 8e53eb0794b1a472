"""Draw the template-browser thumbnail of example workflows: <stem>.jpg beside each <stem>.json.

GenAssist ships no model weights, so a thumbnail cannot honestly show a generated picture. It shows what the
workflow is instead: the title of its note, its stages (groups, left to right) with their nodes, and the links
between them, drawn from the JSON itself so it changes whenever the layout does.

    .host/venv/bin/python scripts/make_thumbnails.py                      # every example workflow
    .host/venv/bin/python scripts/make_thumbnails.py example_workflows/x.json
"""

import json
import re
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

EXAMPLES = Path(__file__).resolve().parents[1] / "example_workflows"
SIZE = 512
TITLE_BAND = 112
MARGIN = 16
NOTE_TYPES = {"MarkdownNote", "Note"}
BACKGROUND, INK, LINK = (32, 32, 36), (240, 240, 240), (150, 190, 230)
DEFAULT_GROUP_COLOR = "#3f789e"


def workflow_title(workflow: dict, fallback: str) -> str:
    """The `# Title` line that opens the workflow's Markdown note."""
    for node in workflow.get("nodes", []):
        if node.get("type") in NOTE_TYPES and node.get("widgets_values"):
            first = str(node["widgets_values"][0]).lstrip().splitlines()[0] if node["widgets_values"][0] else ""
            if first.startswith("# "):
                return first[2:].strip()
    return fallback.replace("_", " ")


CORE_NAMES = {"CheckpointLoaderSimple": "Load Checkpoint", "KSampler": "KSampler", "KSamplerAdvanced": "KSampler",
              "PreviewAny": "Preview text", "PreviewImage": "Preview Image"}
PER_ROW = 3
GAP = 18


def node_label(node: dict) -> str:
    """The node's title, else a readable form of its type (GenAssist_LoadMLLM -> Load MLLM)."""
    if node.get("title"):
        return node["title"]
    kind = node.get("type", "")
    if kind in CORE_NAMES:
        return CORE_NAMES[kind]
    kind = kind.removeprefix("GenAssist_")
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", kind)


def _inside(node: dict, bounding: list) -> bool:
    x, y = node["pos"][:2]
    gx, gy, gw, gh = bounding
    return gx <= x <= gx + gw and gy <= y <= gy + gh


def stages(workflow: dict) -> list[tuple[str, str, list[str]]]:
    """(title, color, node labels) per group, in reading order: left to right, then top to bottom."""
    nodes = [n for n in workflow.get("nodes", []) if n.get("type") not in NOTE_TYPES]
    groups = sorted(workflow.get("groups", []), key=lambda g: (g["bounding"][0], g["bounding"][1]))
    result = []
    for group in groups:
        members = sorted((n for n in nodes if _inside(n, group["bounding"])), key=lambda n: (n["pos"][0], n["pos"][1]))
        result.append((group.get("title", ""), group.get("color") or DEFAULT_GROUP_COLOR,
                       [node_label(n) for n in members]))
    return result


def _rgb(color: str, lighten: float = 0.0) -> tuple[int, int, int]:
    color = color.lstrip("#")
    if len(color) == 3:
        color = "".join(c * 2 for c in color)
    r, g, b = (int(color[i:i + 2], 16) for i in (0, 2, 4))
    return tuple(int(c + (255 - c) * lighten) for c in (r, g, b))


def _fit_text(draw: ImageDraw.ImageDraw, text: str, width: float, size: int, max_lines: int):
    """Largest font (down to 9 px) at which text wraps into max_lines within width."""
    for font_size in range(size, 8, -1):
        font = ImageFont.load_default(size=font_size)
        lines = _wrap(draw, text, font, width)
        if len(lines) <= max_lines:
            return font, lines
    font = ImageFont.load_default(size=9)
    return font, _wrap(draw, text, font, width)[:max_lines]


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: float) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and draw.textlength(candidate, font=font) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return lines + [line] if line else lines


def _stage_box(draw, box, title, color, labels):
    x0, y0, x1, y1 = box
    draw.rounded_rectangle(box, radius=8, fill=_rgb(color), outline=_rgb(color, 0.45), width=2)
    font, lines = _fit_text(draw, title, x1 - x0 - 16, 17, 3)
    y = y0 + 8
    for line in lines:
        draw.text((x0 + 8, y), line, fill=INK, font=font)
        y += font.size * 1.2
    y += 6
    small = ImageFont.load_default(size=12)
    room = int((y1 - 8 - y) // 16)
    shown = labels if len(labels) <= room else labels[:max(room - 1, 0)] + [f"+{len(labels) - room + 1} more"]
    for label in shown:
        text = label
        while text and draw.textlength(text, font=small) > x1 - x0 - 26:
            text = text[:-4] + "..." if len(text) > 4 else ""
        draw.ellipse((x0 + 9, y + 5, x0 + 14, y + 10), fill=_rgb(color, 0.8))
        draw.text((x0 + 19, y), text, fill=_rgb(color, 0.8), font=small)
        y += 16


def render(workflow: dict, title: str) -> Image.Image:
    image = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font, lines = _fit_text(draw, title, SIZE - 2 * MARGIN, 30, 3)
    for i, line in enumerate(lines):
        draw.text((MARGIN, MARGIN + i * font.size * 1.2), line, fill=INK, font=font)
    footer = ImageFont.load_default(size=12)
    draw.text((MARGIN, SIZE - MARGIN - 12), "GenAssist example workflow: its stages, left to right",
              fill=(150, 150, 150), font=footer)

    found = stages(workflow)
    if not found:
        return image
    rows = [found[i:i + PER_ROW] for i in range(0, len(found), PER_ROW)]
    top, bottom = TITLE_BAND + 24, SIZE - MARGIN - 24
    row_h = (bottom - top - GAP * (len(rows) - 1)) / len(rows)
    for r, row in enumerate(rows):
        width = (SIZE - 2 * MARGIN - GAP * (len(row) - 1)) / len(row)
        y0 = top + r * (row_h + GAP)
        for c, (stage_title, color, labels) in enumerate(row):
            x0 = MARGIN + c * (width + GAP)
            _stage_box(draw, (x0, y0, x0 + width, y0 + row_h), stage_title, color, labels)
            if c < len(row) - 1:
                mid = y0 + row_h / 2
                ax = x0 + width + 3
                draw.polygon([(ax, mid - 7), (ax + GAP - 6, mid), (ax, mid + 7)], fill=LINK)
    return image


def thumbnail_path(workflow_path: Path) -> Path:
    return workflow_path.with_suffix(".jpg")


def render_file(workflow_path: Path) -> Image.Image:
    workflow = json.loads(workflow_path.read_text())
    return render(workflow, workflow_title(workflow, workflow_path.stem))


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(EXAMPLES.glob("*.json"))
    for path in paths:
        out = thumbnail_path(path)
        render_file(path).save(out, "JPEG", quality=90)
        print(f"wrote {out}")  # noqa: T201 - a command-line tool reports what it wrote
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
