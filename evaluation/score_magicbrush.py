"""Score saved MagicBrush predictions (``<session>_<turn>.png``, the edited image) as MagicBrush does:
every turn edited independently from the dataset's own input image (its "all turn" setting)."""

from pathlib import Path

import numpy as np
from PIL import Image

from .image_metrics import l1_l2
from .magicbrush import MagicBrushTurn, prediction_name

METRICS = ("L1", "L2", "CLIP-I", "DINO", "CLIP-T")


def score_turn(turn: MagicBrushTurn, predictions: Path, clip=None, dino=None) -> dict:
    path = predictions / prediction_name(turn.key)
    row = {"key": turn.key, "session": turn.session, "turn": turn.turn, "instruction": turn.instruction,
           "missing": not path.is_file()}
    if row["missing"]:
        return row
    with Image.open(path) as loaded, Image.open(turn.output_path) as target_file:
        prediction, target = loaded.convert("RGB"), target_file.convert("RGB")
    row["L1"], row["L2"] = l1_l2(prediction, target)
    if clip is not None:
        embedded = clip.image_embedding(prediction)  # one CLIP pass for both scores
        row["CLIP-I"] = clip.clip_i(embedded, target)
        if turn.caption:
            row["CLIP-T"] = clip.clip_t(embedded, turn.caption)
    if dino is not None:
        row["DINO"] = dino.dino(prediction, target)
    return row


def score_magicbrush(turns: list[MagicBrushTurn], predictions, clip=None, dino=None, progress=None) -> dict:
    """Means over the turns that have a prediction; missing ones are counted, not scored."""
    predictions = Path(predictions)
    rows = []
    for turn in turns:
        rows.append(score_turn(turn, predictions, clip, dino))
        if progress is not None:
            progress(turn.key)
    result = {"dataset": "magicbrush", "setting": "all turns, each edited from the dataset's input",
              "count": len(rows), "missing": sum(r["missing"] for r in rows)}
    for metric in METRICS:
        values = [r[metric] for r in rows if metric in r]
        if values:
            result[metric] = float(np.mean(values))
            result[f"{metric} count"] = len(values)
    result["items"] = rows
    return result
