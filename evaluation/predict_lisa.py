"""ReasonSeg predictions straight from the pack's LISA (segmentation.lisa), asked as LISA's validation asks:
a sentence query as "{text} Please output segmentation mask.", a short one as "What is {text} in this image?
Please output segmentation mask."; the mask is the first [SEG]'s logits > 0 at the image's size (empty when
the answer has no [SEG]). Resumable and per-item failures recorded, like the workflow runner."""

import numpy as np
import torch
from PIL import Image

from ..segmentation.lisa import load_lisa
from .workflow_bind import Task
from .workflow_runner import Outcomes, save_png

REQUEST = "Please output segmentation mask."


def lisa_val_question(text: str, is_sentence: bool) -> str:
    text = text.strip()
    return f"{text} {REQUEST}" if is_sentence else f"What is {text} in this image? {REQUEST}"


def predict_mask(model, image: Image.Image, question: str) -> np.ndarray:
    result = model.segment(image, question)
    if result.logits.shape[0] == 0:
        return np.zeros((image.height, image.width), bool)
    return (result.logits[0] > 0).numpy()


def predict_reasonseg_lisa(tasks: list[Task], lisa_folder: str, vision_tower: str, predictions,
                           device: str = "cpu", dtype: str = "float32", stream=None) -> dict:
    pending = [t for t in tasks if not t.output.is_file()]
    summary = {"total": len(tasks), "skipped": len(tasks) - len(pending), "done": 0, "failed": 0}
    if not pending:
        return summary
    model = load_lisa(lisa_folder, vision_tower, dtype=getattr(torch, dtype)).to(device)
    outcomes = Outcomes(predictions, len(pending), stream)
    for task in pending:
        try:
            with Image.open(task.files["image"]) as loaded:
                image = loaded.convert("RGB")
            question = lisa_val_question(task.texts["query"], task.texts["type"] == "sentence")
            save_png(Image.fromarray(predict_mask(model, image, question).astype(np.uint8) * 255), task.output)
        except Exception as err:  # noqa: BLE001 - one item's failure is recorded, the run goes on
            outcomes.failed(task, f"{type(err).__name__}: {err}")
        else:
            outcomes.done(task)
    return {**summary, **outcomes.counts, "failures": dict(outcomes.failures.entries)}
