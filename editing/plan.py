"""The edit plan: TIE's chain of thought as data, its JSON contract and its validation.

A plan is an ordered list of simple steps. Each step says what to do (instruction, action), where
(region: a phrase a segmenter can find in the image as it is at that step) and what the result looks
like (prompt: a detailed description, used as the inpainting prompt). The JSON form is a user-facing
contract, written by the MLLM and by people alike; unknown keys are ignored:

    {"steps": [{"instruction": "...", "action": "add|remove|replace|attribute|global",
                "region": "...", "prompt": "...", "box": [x0, y0, x1, y1]}]}

`box` is optional: where the step happens, in 0..1000 of the image as it is at that step (the
convention Qwen2.5-VL and the grounding parser use). For an add step it is where the new thing goes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ..mllm.json_limits import loads

ACTIONS = ("add", "remove", "replace", "attribute", "global")
FIELDS = ("instruction", "action", "region", "prompt")
MAX_PLAN_STEPS = 32  # a longer hand-written plan is a mistake, not a plan
MAX_REGION_CHARS = 200
MAX_TEXT_CHARS = 2000
BOX_SCALE = 1000  # box coordinates are in 0..BOX_SCALE of the image's width and height

# Other names models use for the same fields and actions (the contract's names always win).
FIELD_ALIASES = {
    "instruction": ("instruction", "sub_instruction", "subinstruction", "step", "edit", "task"),
    "action": ("action", "type", "kind", "operation", "action_type"),
    "region": ("region", "target", "target_phrase", "location", "where", "mask", "area", "object"),
    "prompt": ("prompt", "inpaint_prompt", "description", "detailed_description", "result", "caption"),
    "box": ("box", "bbox", "box_2d", "bbox_2d"),
}
STEP_LIST_KEYS = ("steps", "plan", "edits", "sub_instructions", "subtasks")
ACTION_ALIASES = {
    "add": ("add", "insert", "place", "put", "addition"),
    "remove": ("remove", "delete", "erase", "removal"),
    "replace": ("replace", "swap", "substitute", "replacement"),
    "attribute": ("attribute", "change attribute", "change_attribute", "modify", "recolor", "recolour",
                  "color", "colour", "change"),
    "global": ("global", "style", "whole image", "whole_image", "global edit"),
}
_ACTION_LOOKUP = {alias: action for action, aliases in ACTION_ALIASES.items() for alias in aliases}
_WHOLE_IMAGE = "the whole image"


def _show(value, limit: int) -> str:
    """A short JSON excerpt of a value for an error message (never fails, even on absurd nesting)."""
    try:
        return json.dumps(value, ensure_ascii=False)[:limit]
    except (ValueError, TypeError, RecursionError):
        return type(value).__name__


class PlanError(ValueError):
    """A plan (an edit plan, or a canvas plan) is unusable; the message names the step (1-based) or tile and
    the field, and says how to fix it."""


@dataclass(frozen=True)
class EditStep:
    instruction: str
    action: str
    region: str
    prompt: str
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 in 0..BOX_SCALE; None: no box

    def to_dict(self) -> dict:
        out = {"instruction": self.instruction, "action": self.action, "region": self.region,
               "prompt": self.prompt}
        if self.box is not None:
            out["box"] = [int(v) if float(v).is_integer() else v for v in self.box]
        return out


@dataclass(frozen=True)
class EditPlan:
    """GENASSIST_EDIT_PLAN. `notes` say what validation changed (truncation, defaults), for the log."""

    steps: tuple[EditStep, ...] = ()
    notes: tuple[str, ...] = field(default=(), compare=False)

    def to_json(self) -> str:
        return json.dumps({"steps": [s.to_dict() for s in self.steps]}, indent=2, ensure_ascii=False)

    def __len__(self) -> int:
        return len(self.steps)


def _field(item: dict, name: str):
    for key in FIELD_ALIASES[name]:
        if key in item:
            return key, item[key]
    lowered = {str(k).strip().lower(): k for k in item}
    for key in FIELD_ALIASES[name]:
        if key in lowered:
            return lowered[key], item[lowered[key]]
    return None, None


def _text(step: int, name: str, value, limit: int) -> str:
    if value is None:
        raise PlanError(f"step {step}: field '{name}' is missing")
    if not isinstance(value, str):
        kind = {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object"}.get(
            type(value), type(value).__name__)
        raise PlanError(f"step {step}: field '{name}' must be text, got {kind}")
    text = " ".join(value.split())
    if not text:
        raise PlanError(f"step {step}: field '{name}' is empty")
    if len(text) > limit:
        raise PlanError(f"step {step}: field '{name}' is {len(text)} characters long (at most {limit})")
    return text


def normalize_action(step: int, value) -> str:
    if not isinstance(value, str) or not value.strip():
        shown = "missing" if value is None else f"{_show(value, 40)}"
        raise PlanError(f"step {step}: field 'action' is {shown}; use one of {', '.join(ACTIONS)}")
    key = re.sub(r"\s+", " ", value.strip().lower().replace("-", " "))
    action = _ACTION_LOOKUP.get(key) or _ACTION_LOOKUP.get(key.replace(" ", "_"))
    if action is None:
        raise PlanError(f"step {step}: field 'action' is {value.strip()[:40]!r}; use one of {', '.join(ACTIONS)}")
    return action


def validate_box(step: int, value) -> tuple[float, float, float, float] | None:
    """[x0, y0, x1, y1] in 0..BOX_SCALE, or None when the step has no box (missing, null or [])."""
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        return None
    if (not isinstance(value, (list, tuple)) or len(value) != 4
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise PlanError(f"step {step}: field 'box' must be four numbers [x0, y0, x1, y1] in 0..{BOX_SCALE}, "
                        f"got {_show(value, 60)}")
    x0, y0, x1, y1 = (float(v) for v in value)
    if not all(0 <= v <= BOX_SCALE for v in (x0, y0, x1, y1)):
        raise PlanError(f"step {step}: field 'box' {_show(value, 60)} has a coordinate outside 0..{BOX_SCALE} "
                        "(coordinates are thousandths of the image's width and height)")
    if x1 <= x0 or y1 <= y0:
        raise PlanError(f"step {step}: field 'box' {_show(value, 60)} is empty: it needs x0 < x1 and y0 < y1")
    return x0, y0, x1, y1


def validate_step(step: int, item) -> EditStep:
    """One step from its JSON object (step is 1-based, for messages)."""
    if not isinstance(item, dict):
        raise PlanError(f"step {step}: must be a JSON object with {', '.join(FIELDS)}, got "
                        f"{_show(item, 60)}")
    action = normalize_action(step, _field(item, "action")[1])
    instruction = _text(step, "instruction", _field(item, "instruction")[1], MAX_TEXT_CHARS)
    region_value = _field(item, "region")[1]
    if action == "global" and (region_value is None or region_value == ""):
        region_value = _WHOLE_IMAGE  # a global step edits everything; no region to find
    region = _text(step, "region", region_value, MAX_REGION_CHARS)
    prompt = _text(step, "prompt", _field(item, "prompt")[1], MAX_TEXT_CHARS)
    return EditStep(instruction, action, region, prompt, validate_box(step, _field(item, "box")[1]))


def step_list(value) -> list:
    """The list of step objects in a plan JSON value ({"steps": [...]}, or a bare list)."""
    if isinstance(value, list):
        return value
    if not isinstance(value, dict):
        raise PlanError(f"the plan must be a JSON object {{\"steps\": [...]}}, got {_show(value, 60)}")
    keys = {str(k).strip().lower(): k for k in value}
    for key in STEP_LIST_KEYS:
        if key in keys:
            key = keys[key]
            steps = value[key]
            if steps is None:
                return []
            if not isinstance(steps, list):
                raise PlanError(f"'{key}' must be a list of steps, got {_show(steps, 60)}")
            return steps
    if _field(value, "instruction")[0] and _field(value, "region")[0]:
        return [value]  # one bare step
    raise PlanError("the plan has no 'steps' list: write {\"steps\": [...]} ({\"steps\": []} for no change)")


def plan_from_value(value, max_steps: int | None = None) -> EditPlan:
    """Validate a decoded plan. More than `max_steps` steps are cut to the first max_steps with a note;
    without max_steps, more than MAX_PLAN_STEPS is an error."""
    items = step_list(value)
    notes = []
    limit = max_steps if max_steps is not None else MAX_PLAN_STEPS
    if len(items) > limit:
        if max_steps is None:
            raise PlanError(f"the plan has {len(items)} steps; at most {MAX_PLAN_STEPS} are allowed")
        notes.append(f"the plan had {len(items)} steps; kept the first {max_steps} (max_steps)")
        items = items[:max_steps]
    steps = tuple(validate_step(index + 1, item) for index, item in enumerate(items))
    if not steps:
        notes.append("the plan has no steps: the image is left unchanged")
    return EditPlan(steps, tuple(notes))


_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n?(.*?)```\s*$", re.DOTALL)


def plan_from_json(text: str) -> EditPlan:
    """A plan from JSON a person wrote or pasted (a surrounding code fence is fine). Errors name the line
    and column of a syntax error, or the step and the field."""
    if not isinstance(text, str) or not text.strip():
        raise PlanError('the plan JSON is empty: write {"steps": [...]} ({"steps": []} for no change)')
    fenced = _FENCE.match(text)
    body = fenced.group(1) if fenced else text
    return plan_from_value(loads(body, "the plan", PlanError))
