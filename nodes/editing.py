"""TIE complex edits as nodes: plan with an MLLM, fix the plan as JSON, apply it step by step.

The plan schema, the planning prompt and the step loop are host-free (``editing/``); this module wires
them to ComfyUI: the MLLM handle, the segmenter, the region inpainting of ``_inpaint_region``, progress,
interrupt and tensors.
"""

import logging

import torch

from ..editing.apply import ApplySettings, apply_plan
from ..editing.localize import LOCALIZE_MODES
from ..editing.plan import EditPlan, PlanError, plan_from_json
from ..editing.planner import EXAMPLE, plan_edit
from ..segmentation.sam_masks import union
from . import _types as types
from ._inpaint_region import (
    SamplingSettings,
    encode_text,
    inpaint_window_fitting,
    preview_callback,
    sampling_inputs,
)
from ._mllm_prompting import generation_inputs, generation_settings
from ._progress import check_interrupt, progress_bar, text_streamer
from ._tensors import as_mask, as_rgb, to_pil
from ._types import io, output

log = logging.getLogger("GenAssist")

CATEGORY = "GenAssist/editing"
PLAN_TYPE = types.EDIT_PLAN
PLAN_TOOLTIP = "The edit plan: ordered steps, each with instruction, action, region and prompt."
# Every output names itself in display_name: ComfyUI 0.3.75 names an output by display_name alone (by
# its type without one) and refuses an output id that an input has (hence the ids ending in "_out").


class PlanEdit(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        seed, *generation = generation_inputs(
            io.Int.Input("max_new_tokens", default=1024, min=64, max=8192, tooltip=(
                "Longest answer in tokens; a plan of 6 steps needs about 400 (thinking models more).")))
        return io.Schema(
            node_id="GenAssist_PlanEdit",
            display_name="Plan Edit (GenAssist, TIE)",
            category=CATEGORY,
            description=(
                "TIE's chain of thought: an MLLM splits a complex edit instruction into simple steps and, for "
                "each, names the region to repaint (a phrase a segmenter can find in the image as it is at that "
                "step), a box (where a new thing goes, or the object that changes) and describes the result "
                "(colour, shape, material, position) as the inpainting prompt. The answer is JSON, validated, "
                "with one repair turn; an instruction that needs no change gives an empty plan. An image batch "
                "is planned from its first image."),
            inputs=[
                types.MLLM.Input("mllm", tooltip=(
                    "From Load MLLM or MLLM Server (a vision model sees the image; a text-only one plans from "
                    "the instruction alone).")),
                io.Image.Input("image", tooltip="The image to edit."),
                io.String.Input("instruction", multiline=True, default="", tooltip=(
                    "The complex edit, e.g. 'put a single vase of flowers and a glass of soda on the table, and "
                    "add a bottle of beer'.")),
                seed,
                io.Int.Input("max_steps", default=6, min=1, max=32, tooltip=(
                    "Most steps in the plan; a longer answer is cut to the first max_steps (said in "
                    "reasoning).")),
                *generation,
            ],
            outputs=[
                output(PLAN_TYPE, "plan",
                                 tooltip=PLAN_TOOLTIP + " Connect to Apply Edit Plan."),
                output(io.String, "plan_json", tooltip=(
                    "The plan as readable JSON: copy it into Edit Plan From JSON to fix a step and re-run "
                    "without the MLLM.")),
                output(io.String, "reasoning",
                                 tooltip="The model's thinking and notes (e.g. steps cut to max_steps)."),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, mllm, image, instruction, seed, max_steps, max_new_tokens, temperature) -> io.NodeOutput:
        node_id = cls.hidden.unique_id
        pils = to_pil(image)
        if len(pils) > 1:
            log.warning("GenAssist PlanEdit: image batch of %d; planning from the first image", len(pils))
        check_interrupt()
        result = plan_edit(lambda messages, gen: mllm.generate(messages, gen, node_id=node_id), pils[0],
                           instruction, int(max_steps), generation_settings(seed, max_new_tokens, temperature))
        reasoning = result.reasoning
        if len(pils) > 1:
            reasoning += f"\nnote: image batch of {len(pils)}: planned from image 1"
        log.info("GenAssist PlanEdit: %d step(s) from %s", len(result.plan), mllm.name)
        return io.NodeOutput(result.plan, result.plan.to_json(), reasoning.strip())


class EditPlanFromJSON(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GenAssist_EditPlanFromJSON",
            display_name="Edit Plan From JSON (GenAssist)",
            category=CATEGORY,
            description=(
                "An edit plan from JSON you write or paste: {\"steps\": [{\"instruction\", \"action\" (add / "
                "remove / replace / attribute / global), \"region\", \"prompt\", optional \"box\" [x0, y0, x1, "
                "y1] in 0-1000}]}. Use it to fix a plan from Plan Edit and re-run without calling the MLLM "
                "again. Invalid JSON or a missing field stops with an error naming the step and the field."),
            inputs=[
                io.String.Input("plan_json", multiline=True, default=EXAMPLE, tooltip=(
                    "The plan as JSON (Plan Edit's plan_json output has this form); keys other than the four "
                    "fields and the optional box are ignored; {\"steps\": []} leaves the image unchanged.")),
            ],
            outputs=[output(PLAN_TYPE, "plan", tooltip=PLAN_TOOLTIP)],
        )

    @classmethod
    def execute(cls, plan_json) -> io.NodeOutput:
        try:
            return io.NodeOutput(plan_from_json(plan_json))
        except PlanError as error:
            raise PlanError(f"Edit Plan From JSON: {error}") from None


def _segment_localizer(segmenter, node_id):
    """segment(image, step, box) for the step loop (editing.localize): the segmenter's union mask for the
    region phrase, offered the step's instruction (LISA reads both, as TIE's LISA reads sub-instructions)
    and the box locate gives (SAM 3 takes it as a box prompt)."""

    def localize(image, step, box):
        pil = to_pil(image)[0]
        result = segmenter.segment(pil, step.region, node_id=node_id, instruction=step.instruction, box=box)
        return union(result.masks, pil.height, pil.width), result.explanation

    return localize


def _box_refiner(segmenter):
    """refine_box(image, pixel box) -> SAM mask, or None where the segmenter has no box-only SAM (the box
    becomes an ellipse)."""
    return lambda image, box: segmenter.segment_box(to_pil(image)[0], box)


class ApplyEditPlan(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GenAssist_ApplyEditPlan",
            display_name="Apply Edit Plan (GenAssist, TIE)",
            category=CATEGORY,
            description=(
                "Runs an edit plan step by step: localize the step on the current image (the previous step's "
                "output): a painted mask from 'masks' wins; with localize=auto an add step uses the plan's box "
                "(an ellipse inside it), other steps the segmenter with the region phrase (and the instruction), "
                "then the box if nothing is found. Grow the mask, crop a context window at the working "
                "resolution, inpaint it with the step's prompt (long-prompt encoding for CLIP models; inpainting "
                "checkpoints get the masked image as input), paste it back through a feathered mask and "
                "harmonize the seam. Pixels farther than grow + feather from every step's mask are unchanged, "
                "bit for bit. A step whose region is not found is skipped and logged; the log names the mask "
                "used and its area. A global step is an img2img of the whole image at the working resolution "
                "with 'global_denoise'."),
            inputs=[
                io.Image.Input("image", tooltip="The image(s) to edit; each batch item runs the whole plan."),
                PLAN_TYPE.Input("plan", tooltip="From Plan Edit or Edit Plan From JSON."),
                types.SEGMENTER.Input("segmenter", tooltip=(
                    "Finds each step's region: Load LISA, Grounded Segmenter (an MLLM + SAM), or Load SAM 3 "
                    "(also given the step's box, if any).")),
                io.Model.Input("model", tooltip="The diffusion model; an inpainting checkpoint works best."),
                io.Clip.Input("clip", tooltip="Its text encoder: each step's prompt is encoded with it."),
                io.Vae.Input("vae", tooltip="Its VAE."),
                *sampling_inputs("step"),
                io.Float.Input("denoise", default=1.0, min=0.01, max=1.0, step=0.01, tooltip=(
                    "How much of each local region is repainted (1 = completely). Global steps use "
                    "global_denoise.")),
                io.Int.Input("context_px", default=64, min=0, max=2048, tooltip=(
                    "Pixels of surrounding image included around each mask, so the model sees where the edit "
                    "sits.")),
                io.Int.Input("resolution", default=512, min=64, max=4096, step=8, tooltip=(
                    "Working resolution: the crop's longer side is scaled to this (SD1.5: 512, SDXL: 1024).")),
                io.Int.Input("grow_px", default=8, min=0, max=256, tooltip=(
                    "Grow each found mask by this many pixels before inpainting (segmenter masks are tight).")),
                io.Int.Input("feather_px", default=16, min=0, max=256, tooltip=(
                    "Blend the inpainted crop into the image over this many pixels outside the grown mask.")),
                io.Boolean.Input("harmonize", default=True, tooltip=(
                    "Match colour and brightness of the repainted region to its surroundings at the seam "
                    "(weight-free).")),
                io.String.Input("negative", multiline=True, default="", optional=True,
                                tooltip="Negative prompt for every step, e.g. 'blurry, distorted'."),
                io.Mask.Input("masks", optional=True, tooltip=(
                    "Optional painted masks, one per step in plan order (a batch; any size, resized to the "
                    "image). A non-empty mask is used for its step as is; an empty (black) mask lets that step "
                    "localize itself. Global steps repaint the whole image and ignore their mask.")),
                io.Combo.Input("localize", options=list(LOCALIZE_MODES), default="auto", optional=True, tooltip=(
                    "Where each step edits. auto: add steps use the plan's box (where the new thing goes), "
                    "other steps the segmenter, then the box. segmenter: the region phrase only. box: the box, "
                    "else the segmenter.")),
                io.Float.Input("global_denoise", default=0.5, min=0.01, max=1.0, step=0.01, optional=True, tooltip=(
                    "Strength of global steps (style, lighting): an img2img of the whole image; lower keeps "
                    "more of the image and of earlier steps.")),
            ],
            outputs=[
                output(io.Image, "image", tooltip="The edited image(s)."),
                output(io.Image, "step_images", tooltip=(
                    "The image after each step (a skipped step repeats the previous image); per input image, "
                    "in order.")),
                output(io.Mask, "step_masks", tooltip=(
                    "Where each step may have changed pixels (grown + feathered mask; zeros for a skipped "
                    "step).")),
                output(io.String, "log", tooltip=(
                    "Per step: sub-instruction, region phrase, mask area %, prompt used, seconds; or why it was "
                    "skipped.")),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, image, plan: EditPlan, segmenter, model, clip, vae, seed, steps, cfg, sampler_name,
                scheduler, denoise, context_px, resolution, grow_px, feather_px, harmonize, negative="",
                masks=None, localize="auto", global_denoise=0.5) -> io.NodeOutput:
        if not isinstance(plan, EditPlan):
            raise TypeError("Apply Edit Plan: the plan input must come from Plan Edit or Edit Plan From JSON")
        node_id = cls.hidden.unique_id
        rgb = as_rgb(image)
        count = len(plan.steps)
        masks = None if masks is None else as_mask(masks, "masks")  # apply_plan checks one mask per step
        apply_settings = ApplySettings(grow_px, feather_px, context_px, resolution, harmonize, localize)
        bar = progress_bar(max(1, rgb.shape[0] * count * steps), node_id)
        show = text_streamer(node_id)
        negative_cond = encode_text(clip, negative or "") if count else None
        encoded = {}  # prompt -> conditioning: a batch runs the same steps on every image
        finals, step_images, step_masks, logs = [], [], [], []
        sampling = SamplingSettings(seed, steps, cfg, sampler_name, scheduler, denoise)
        global_sampling = SamplingSettings(seed, steps, cfg, sampler_name, scheduler, global_denoise)
        localize = _segment_localizer(segmenter, node_id)
        refine_box = _box_refiner(segmenter)
        for item in range(rgb.shape[0]):
            base = item * count * steps

            def on_step(index, base=base):
                check_interrupt()
                bar.update_absolute(base + index * steps, bar.total)
                step = plan.steps[index]  # the node shows which step runs, as Expand Canvas shows its tiles
                show(f"step {index + 1}/{count} ({step.action}): {step.instruction}")

            def inpaint(window, mask, step, index, base=base):
                callback = preview_callback(model, steps, bar, base + index * steps, bar.total)
                if step.prompt not in encoded:
                    encoded[step.prompt] = encode_text(clip, step.prompt)
                chosen = global_sampling if step.action == "global" else sampling
                return inpaint_window_fitting(model, clip, vae, window, mask, encoded[step.prompt],
                                              negative_cond, chosen.for_step(index), callback,
                                              what=f"Apply Edit Plan step {index + 1}")

            result = apply_plan(rgb[item:item + 1], plan, localize, inpaint, apply_settings, on_step=on_step,
                                refine_box=refine_box, masks=masks)
            finals.append(result.image)
            step_images += result.step_images or [result.image]
            height, width = rgb.shape[1], rgb.shape[2]
            step_masks += [r.mask[None] for r in result.records] or [torch.zeros(1, height, width)]
            prefix = f"image {item + 1}:\n" if rgb.shape[0] > 1 else ""
            logs.append(prefix + result.log(plan.notes))
        bar.update_absolute(bar.total, bar.total)
        log_text = "\n".join(logs)
        log.info("GenAssist ApplyEditPlan:\n%s", log_text)
        return io.NodeOutput(torch.cat(finals), torch.cat(step_images), torch.cat(step_masks), log_text)


NODES = [PlanEdit, EditPlanFromJSON, ApplyEditPlan]
