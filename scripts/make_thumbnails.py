"""Draw the template-browser thumbnail of example workflows: <stem>.jpg beside each <stem>.json.

GenAssist ships no model weights, so a thumbnail cannot honestly show a generated picture. It shows what the
workflow is instead: the title of its note, its stages (groups, left to right) with their nodes, and the links
between them, drawn from the JSON itself so it changes whenever the layout does.

    .host/venv/bin/python scripts/make_thumbnails.py                      # every example workflow
    .host/venv/bin/python scripts/make_thumbnails.py example_workflows/x.json
"""

import json
import sys
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

EXAMPLES = Path(__file__).resolve().parents[1] / "example_workflows"
SIZE = 512
TITLE_BAND = 96
MARGIN = 16
NODE_TITLE_HEIGHT = 30  # LiteGraph draws a node's title bar above its pos
NOTE_TYPES = {"MarkdownNote", "Note"}
BACKGROUND, INK, NODE_FILL, LINK = (32, 32, 36), (235, 235, 235), (70, 70, 78), (150, 190, 230)
DEFAULT_GROUP_COLOR = "#3f789e"


def workflow_title(workflow: dict, fallback: str) -> str:
    """The `# Title` line that opens the workflow's Markdown note."""
    for node in workflow.get("nodes", []):
        if node.get("type") in NOTE_TYPES and node.get("widgets_values"):
            first = str(node["widgets_values"][0]).lstrip().splitlines()[0] if node["widgets_values"][0] else ""
            if first.startswith("# "):
                return first[2:].strip()
    return fallback.replace("_", " ")


def _node_box(node: dict) -> tuple[float, float, float, float]:
    x, y = node["pos"][:2] if isinstance(node["pos"], list) else (node["pos"]["0"], node["pos"]["1"])
    w, h = node.get("size", [200, 60])[:2]
    return x, y - NODE_TITLE_HEIGHT, x + w, y + h


def _rgb(color: str, lighten: float = 0.0) -> tuple[int, int, int]:
    color = (color or DEFAULT_GROUP_COLOR).lstrip("#")
    if len(color) == 3:
        color = "".join(c * 2 for c in color)
    r, g, b = (int(color[i:i + 2], 16) for i in (0, 2, 4))
    return tuple(int(c + (255 - c) * lighten) for c in (r, g, b))


def _fit_text(draw: ImageDraw.ImageDraw, text: str, width: float, size: int, max_lines: int):
    """Largest font (down to 9 px) at which text wraps into max_lines within width."""
    for font_size in range(size, 8, -1):
        font = ImageFont.load_default(size=font_size)
        chars = max(1, int(width / (font_size * 0.55)))
        lines = textwrap.wrap(text, chars)[:max_lines] or [""]
        if all(draw.textlength(line, font=font) <= width for line in lines):
            return font, lines
    return ImageFont.load_default(size=9), textwrap.wrap(text, max(1, int(width / 5)))[:max_lines]


def render(workflow: dict, title: str) -> Image.Image:
    image = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font, lines = _fit_text(draw, title, SIZE - 2 * MARGIN, 30, 2)
    for i, line in enumerate(lines):
        draw.text((MARGIN, MARGIN + i * font.size * 1.2), line, fill=INK, font=font)

    nodes = {n["id"]: n for n in workflow.get("nodes", []) if n.get("type") not in NOTE_TYPES}
    groups = workflow.get("groups", [])
    boxes = [_node_box(n) for n in nodes.values()]
    boxes += [(g["bounding"][0], g["bounding"][1], g["bounding"][0] + g["bounding"][2],
               g["bounding"][1] + g["bounding"][3]) for g in groups]
    if not boxes:
        return image
    left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
    right, bottom = max(b[2] for b in boxes), max(b[3] for b in boxes)
    area_w, area_h = SIZE - 2 * MARGIN, SIZE - TITLE_BAND - MARGIN
    scale = min(area_w / max(right - left, 1), area_h / max(bottom - top, 1))
    off_x = MARGIN + (area_w - (right - left) * scale) / 2
    off_y = TITLE_BAND + (area_h - (bottom - top) * scale) / 2

    def at(x: float, y: float) -> tuple[float, float]:
        return off_x + (x - left) * scale, off_y + (y - top) * scale

    for group in groups:
        gx, gy, gw, gh = group["bounding"]
        x0, y0 = at(gx, gy)
        x1, y1 = at(gx + gw, gy + gh)
        draw.rounded_rectangle((x0, y0, x1, y1), radius=6, fill=_rgb(group.get("color"), 0.0),
                               outline=_rgb(group.get("color"), 0.4), width=2)
        font, lines = _fit_text(draw, group.get("title", ""), x1 - x0 - 8, 16, 2)
        for i, line in enumerate(lines):
            draw.text((x0 + 4, y0 + 3 + i * font.size * 1.1), line, fill=INK, font=font)
    for link in workflow.get("links", []):
        source, target = nodes.get(link[1]), nodes.get(link[3])
        if source and target:
            sx0, sy0, sx1, sy1 = _node_box(source)
            tx0, ty0, tx1, ty1 = _node_box(target)
            draw.line((at(sx1, (sy0 + sy1) / 2), at(tx0, (ty0 + ty1) / 2)), fill=LINK, width=1)
    for node in nodes.values():
        x0, y0, x1, y1 = _node_box(node)
        draw.rectangle((*at(x0, y0), *at(x1, y1)), fill=NODE_FILL, outline=(20, 20, 20))
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
