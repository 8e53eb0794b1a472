"""The predictions a dataset asks for, as tasks: where each goes and what it is made from."""

from pathlib import Path

from .magicbrush import MagicBrushTurn
from .magicbrush import prediction_name as edit_name
from .reasonseg import ReasonSegItem
from .reasonseg import prediction_name as mask_name
from .score_reasonseg import query_indices
from .workflow_bind import Task

PROVIDED = {"reasonseg": {"image", "query"}, "magicbrush": {"image", "mask", "instruction"}}


def reasonseg_tasks(items: list[ReasonSegItem], predictions, queries: str = "first") -> list[Task]:
    predictions = Path(predictions)
    return [Task(f"{item.stem}_{q}", predictions / mask_name(item.stem, q), "mask", {"image": item.image_path},
                 {"query": item.queries[q], "type": item.query_type})
            for item in items for q in query_indices(item, queries)]


def magicbrush_tasks(turns: list[MagicBrushTurn], predictions) -> list[Task]:
    predictions = Path(predictions)
    return [Task(t.key, predictions / edit_name(t.key), "image", {"image": t.input_path, "mask": t.mask_path},
                 {"instruction": t.instruction}) for t in turns]
