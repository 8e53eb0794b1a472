"""Asking an MLLM for an edit plan: TIE's three chain-of-thought parts in one JSON answer.

TIE's prompts are unpublished; this one is ours. It is short, states the schema explicitly and gives
one worked example, so that LLMGA checkpoints and small local VLMs answer in the contract's shape, not
only large server models. The answer is read tolerantly and validated; a bad answer gets one repair turn
that says exactly what was wrong.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from ..mllm.backend import GenerationSettings, Message
from ..mllm.parsing import split_thinking
from ..mllm.structured_answer import StructuredAnswerError, ask_with_repair, extract_json
from .plan import EditPlan, PlanError, plan_from_value

EXAMPLE = (
    '{"steps": ['
    '{"instruction": "put a red apple on the plate", "action": "add", "region": "the middle of the plate", '
    '"prompt": "a shiny red apple lying in the middle of a white ceramic plate", "box": [430, 520, 560, 650]}, '
    '{"instruction": "remove the cup", "action": "remove", "region": "the cup", '
    '"prompt": "the empty wooden table top, light brown grain", "box": [700, 380, 820, 560]}]}'
)

EXAMPLE_PLAN = plan_from_value(json.loads(EXAMPLE))


def planning_prompt(instruction: str, max_steps: int) -> str:
    return (
        "Plan how to edit this image. Split the request into simple steps, one change each, in the order "
        "to do them.\n"
        "For each step write:\n"
        '- "instruction": the simple edit.\n'
        '- "action": add, remove, replace, attribute (change colour/material/shape) or global (whole image '
        "style or lighting).\n"
        '- "region": a short phrase that points at the area to repaint in the image as it will be at that '
        "step. For add, name the place where the new thing goes, e.g. \"the left part of the table\".\n"
        '- "prompt": what that area must look like afterwards: the object, its colour, shape, material '
        "and position. For remove, describe what is behind it.\n"
        '- "box": [x0, y0, x1, y1], integers from 0 to 1000 (thousandths of the image width and height, '
        "origin top left). For add: the box where the new thing goes, about its size. For the others: the "
        "box of the object that changes. Leave it out for global.\n"
        f"Use at most {max_steps} steps. Answer with JSON only, no other text.\n"
        'Example for the request "put a red apple on the plate and remove the cup":\n'
        f"{EXAMPLE}\n"
        'If the request needs no change, answer {"steps": []}.\n'
        f"Request: {instruction.strip()}"
    )


def repair_prompt(reason: str) -> str:
    return (f"That answer could not be used: {reason}. Answer again with JSON only, in the form "
            '{"steps": [{"instruction": "...", "action": "add|remove|replace|attribute|global", '
            '"region": "...", "prompt": "...", "box": [x0, y0, x1, y1]}]}, or {"steps": []} if nothing must change.')


def _without_box(step) -> tuple:
    return step.instruction, step.action, step.region, step.prompt


_EXAMPLE_STEPS = frozenset(_without_box(step) for step in EXAMPLE_PLAN.steps)  # echoed = not planned


def parse_plan_answer(text: str, max_steps: int) -> EditPlan:
    """The plan in a model's answer; StructuredAnswerError (shown to the model) when it is unusable."""
    if not (text or "").strip():
        raise StructuredAnswerError("the answer is empty")
    try:
        plan = plan_from_value(extract_json(text), max_steps)
    except PlanError as error:
        raise StructuredAnswerError(str(error)) from None
    if any(_without_box(step) in _EXAMPLE_STEPS for step in plan.steps):
        raise StructuredAnswerError("it repeats the example plan instead of planning this request")
    return plan


@dataclass
class PlanResult:
    plan: EditPlan
    reasoning: str  # the model's thinking and any prose around the JSON, plus validation notes
    answers: list[str]


class PlanAnswerError(RuntimeError):
    """The model gave no usable plan, even after the repair turn."""


def reasoning_text(answers: list[str], notes: tuple[str, ...]) -> str:
    parts = []
    for answer in answers:
        visible, thinking = split_thinking(answer or "")
        if thinking:
            parts.append(thinking.strip())
        try:
            value = extract_json(visible)
        except StructuredAnswerError:
            continue
        if isinstance(value, dict):
            said = value.get("reasoning") or value.get("explanation") or value.get("thought")
            if isinstance(said, str) and said.strip():
                parts.append(said.strip())
    parts.extend(f"note: {note}" for note in notes)
    return "\n".join(parts)


def plan_edit(generate: Callable[[list[Message], GenerationSettings], str], image, instruction: str,
              max_steps: int, settings: GenerationSettings) -> PlanResult:
    """Ask for a plan for `instruction` on `image` (PIL, or None for a text-only model)."""
    if not (instruction or "").strip():
        raise ValueError("the edit instruction is empty: describe the edit, e.g. 'put a vase of flowers on "
                         "the table and add a bottle of beer'")
    if max_steps < 1:
        raise ValueError(f"max_steps must be at least 1, got {max_steps}")
    images = [image] if image is not None else []
    messages = [Message("user", planning_prompt(instruction, max_steps), images)]
    plan, answers, error = ask_with_repair(generate, messages, settings,
                                           lambda text: parse_plan_answer(text, max_steps), repair_prompt)
    if error:
        raise PlanAnswerError(
            f"the model gave no usable edit plan ({error}). Its last answer was: {answers[-1][:300]!r}. "
            "Try: raise max_new_tokens if it was cut off, lower the temperature, use a larger model, or write "
            "the plan yourself in an 'Edit Plan From JSON' node.")
    return PlanResult(plan, reasoning_text(answers, plan.notes), answers)
