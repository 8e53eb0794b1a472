"""Write a scoring result: OUT/results.json (the stable contract), OUT/results.md (a table) and
OUT/best_worst.png (the best and worst items side by side)."""

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

from . import figure
from .magicbrush import prediction_name as edit_name
from .mask_metrics import load_prediction_mask
from .reasonseg import IGNORE, TARGET
from .reasonseg import prediction_name as mask_name

FIGURE_ROWS = 4


def _cell(value) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def markdown(result: dict) -> str:
    if result["dataset"] == "reasonseg":
        lines = ["| queries | count | missing | gIoU | cIoU |", "|---|---|---|---|---|"]
        groups = [("overall", result)] + list(result["per_type"].items())
        lines += [f"| {name} | {g['count']} | {g['missing']} | {_cell(100 * g['gIoU'])} | {_cell(100 * g['cIoU'])} |"
                  for name, g in groups]
        note = (f"ReasonSeg, {'first query per image (as LISA validates)' if result['queries'] == 'first' else 'all queries'}"
                "; gIoU and cIoU in percent.")
    else:
        metrics = [m for m in ("L1", "L2", "CLIP-I", "DINO", "CLIP-T") if m in result]
        lines = ["| count | missing | " + " | ".join(metrics) + " |", "|---" * (2 + len(metrics)) + "|",
                 f"| {result['count']} | {result['missing']} | " + " | ".join(_cell(result[m]) for m in metrics) + " |"]
        note = f"MagicBrush, {result['setting']}."
    errors = result.get("errors", [])
    tail = [f"\n{len(errors)} malformed item(s) left out:"] + [f"- {e}" for e in errors] if errors else []
    return "\n".join([note, "", *lines, *tail]) + "\n"


def _reasonseg_strip(row: dict, items: dict, predictions: Path) -> Image.Image:
    item = items[row["stem"]]
    with Image.open(item.image_path) as loaded:
        image = loaded.convert("RGB")
    target = item.target(image.size)
    path = predictions / mask_name(row["stem"], row["query_index"])
    predicted = load_prediction_mask(path, image.size) if path.is_file() else np.zeros(target.shape, bool)
    label = f"{row['key']} IoU {row['iou']:.3f}"
    return figure.strip(label, [figure.overlay(image, target == TARGET, (0, 255, 0), target == IGNORE),
                                figure.overlay(image, predicted, (0, 90, 255))])


def _magicbrush_strip(row: dict, turns: dict, predictions: Path) -> Image.Image:
    turn = turns[row["key"]]
    panels = []
    for path in (turn.input_path, turn.output_path, predictions / edit_name(row["key"])):
        with Image.open(path) as image:
            panels.append(image.convert("RGB"))
    return figure.strip(f"{row['key']} L1 {row['L1']:.4f}", panels)


def write_figure(result: dict, items: list, predictions, path: Path) -> Path | None:
    predictions = Path(predictions)
    if result["dataset"] == "reasonseg":
        scored = sorted((r for r in result["items"] if not r["missing"]), key=lambda r: -r["iou"])
        by_key, make = {i.stem: i for i in items}, _reasonseg_strip
    else:
        scored = sorted((r for r in result["items"] if "L1" in r), key=lambda r: r["L1"])
        by_key, make = {t.key: t for t in items}, _magicbrush_strip
    if not scored:
        return None
    rows = min(FIGURE_ROWS, max(1, len(scored) // 2))
    best = [make(r, by_key, predictions) for r in scored[:rows]]
    worst = [make(r, by_key, predictions) for r in scored[::-1][:rows]]
    return figure.best_and_worst(best, worst, path)


def write_results(result: dict, items: list, predictions, out) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=2, allow_nan=True))
    (out / "results.md").write_text(markdown(result))
    figure_path = write_figure(result, items, predictions, out / "best_worst.png")
    return {"json": out / "results.json", "markdown": out / "results.md", "figure": figure_path}
