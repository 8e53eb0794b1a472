"""Score saved ReasonSeg predictions (``<image stem>_<query index>.png``, white = object) as LISA does."""

from pathlib import Path

from PIL import Image

from .mask_metrics import MaskCounts, ciou, giou, load_prediction_mask, mask_counts
from .reasonseg import ReasonSegItem, prediction_name

QUERY_TYPES = ("short", "sentence")


def query_indices(item: ReasonSegItem, queries: str) -> list[int]:
    """LISA's validation scores only each image's first query ("first"); "all" scores every query."""
    return [0] if queries == "first" else list(range(len(item.queries)))


def score_item(item: ReasonSegItem, predictions: Path, queries: str) -> list[dict]:
    with Image.open(item.image_path) as image:
        size = image.size
    target = item.target(size)
    rows = []
    for index in query_indices(item, queries):
        path = predictions / prediction_name(item.stem, index)
        missing = not path.is_file()
        predicted = target * 0 if missing else load_prediction_mask(path, size)
        counts = mask_counts(predicted, target)
        rows.append({"key": path.stem, "stem": item.stem, "query_index": index, "query": item.queries[index],
                     "type": item.query_type, "intersection": counts.intersection, "union": counts.union,
                     "iou": counts.iou, "missing": missing})
    return rows


def summarize(rows: list[dict]) -> dict:
    counts = [MaskCounts(r["intersection"], r["union"]) for r in rows]
    return {"count": len(rows), "missing": sum(r["missing"] for r in rows), "gIoU": giou(counts),
            "cIoU": ciou(counts)}


def score_reasonseg(items: list[ReasonSegItem], predictions, queries: str = "first") -> dict:
    """A missing prediction counts as an empty mask (and is reported), so a partial run cannot look better."""
    predictions = Path(predictions)
    rows, errors = [], []
    for item in items:
        try:
            rows += score_item(item, predictions, queries)
        except (OSError, ValueError) as err:  # an unreadable image: named, and the rest are still scored
            errors.append(f"{item.image_path}: image: {err}")
    summary = summarize(rows)
    per_type = {kind: summarize([r for r in rows if r["type"] == kind]) for kind in QUERY_TYPES
                if any(r["type"] == kind for r in rows)}
    return {"dataset": "reasonseg", "queries": queries, **summary, "per_type": per_type, "items": rows,
            "errors": errors}
