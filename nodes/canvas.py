"""Infinite canvas (2407.12642) as nodes: plan the tiles and their captions, edit the plan as JSON,
expand the image tile by tile. The tile geometry, captions and paste are host-free in ``canvas/``; the
diffusion step is the shared inpaint-a-window routine (``_inpaint_region``)."""

import json
import logging

import torch

from ..canvas.captions import (
    canvas_view,
    caption_plan,
    conditioning_text,
    describe_source,
    read_caption,
    tile_request,
    write_global_caption,
)
from ..canvas.expand import ExpandSettings, expand_canvas, tile_seed
from ..canvas.layout import layout_tiles
from ..canvas.plan import CanvasPlan, PlanError, Tile, plan_from_json
from ..canvas.window import FILLS
from . import _types as types
from ._conditioning import extra_conditioning, per_item
from ._inpaint_region import (
    SamplingSettings,
    encode_text,
    inpaint_window_fitting,
    preview_callback,
    sampling_inputs,
)
from ._mllm_prompting import generation_settings
from ._progress import check_interrupt, progress_bar, text_streamer
from ._tensors import as_rgb, to_pil
from ._types import io, output

log = logging.getLogger("GenAssist")
CATEGORY = "GenAssist/canvas"
PLAN_TYPE = types.CANVAS_PLAN
LIVE_TOKENS, LIVE_TEMPERATURE = 256, 0.2  # live captions: short answers, near-greedy
# Every output names itself in display_name: ComfyUI 0.3.75 names an output by display_name alone (by
# its type without one) and refuses an output id that an input has (hence the ids ending in "_out").
MARGIN = {"default": 256, "min": 0, "max": 16384, "step": 8}
PLAN_TOOLTIPS = ("The canvas plan: canvas size, where the source sits, the tiles in generation order with "
                 "their captions. Connect to Expand Canvas.",
                 "The same plan as JSON (canvas pixel coordinates): edit captions or tiles and load it back with "
                 "Canvas Plan from JSON.")


def _margin(id: str, where: str) -> io.Int.Input:
    return io.Int.Input(id, **MARGIN, tooltip=f"Pixels to add {where} the image (0 = none).")


def _plan_outputs() -> list:
    return [output(PLAN_TYPE, "canvas_plan", tooltip=PLAN_TOOLTIPS[0]),
            output(io.String, "plan_json", tooltip=PLAN_TOOLTIPS[1])]


class GenAssist_PlanCanvas(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GenAssist_PlanCanvas",
            display_name="Plan Canvas (GenAssist, 2407.12642)",
            category=CATEGORY,
            description=(
                "Plan an infinite-canvas expansion (2407.12642): the canvas size, the tiles that will grow the "
                "image outward from the source (edges before corners, each tile bordering known pixels) and one "
                "short local caption per tile, which the MLLM writes from the global caption, the direction and "
                "the captions of the neighbouring tiles. An empty global caption is written by the MLLM from "
                "the image: describe it, imagine its surroundings, summarise."),
            inputs=[
                types.MLLM.Input("mllm", tooltip=(
                    "From Load MLLM or MLLM Server (a vision model, to describe the image when global_caption "
                    "is empty).")),
                io.Image.Input("image", tooltip="The source image (one image, not a batch)."),
                io.String.Input("global_caption", multiline=True, default="", tooltip=(
                    "One caption of the whole expanded scene. Empty: the MLLM writes it from the image.")),
                _margin("left", "left of"), _margin("top", "above"), _margin("right", "right of"),
                _margin("bottom", "below"),
                io.Int.Input("tile_size", default=512, min=16, max=4096, step=8, tooltip=(
                    "Side of the square window the model sees per tile, in canvas px: the model's working "
                    "resolution (512 for SD1.5, 1024 for SDXL).")),
                io.Int.Input("overlap", default=256, min=0, max=4088, step=8, tooltip=(
                    "Known context in each window, px; each tile generates at most tile_size - overlap px per "
                    "side. More overlap = better continuity, more tiles.")),
                types.seed_input("Seed: the same inputs and seed give the same result (tile i uses seed + i)."),
                io.Float.Input("temperature", default=0.7, min=0.0, max=2.0, step=0.05, tooltip=(
                    "MLLM sampling temperature: 0 = always the likeliest words; higher = more varied "
                    "captions.")),
                io.Int.Input("max_new_tokens", default=256, min=16, max=4096, tooltip=(
                    "Longest answer per caption, in tokens (thinking models need more).")),
            ],
            outputs=_plan_outputs(),
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, mllm, image, global_caption, left, top, right, bottom, tile_size, overlap, seed,
                temperature=0.7, max_new_tokens=256) -> io.NodeOutput:
        node_id = cls.hidden.unique_id
        rgb = as_rgb(image)
        if rgb.shape[0] != 1:
            raise ValueError(f"Plan Canvas plans one image; got a batch of {rgb.shape[0]}. Split the batch "
                             "(e.g. Image From Batch) and plan each image.")
        plan = layout_tiles(rgb.shape[2], rgb.shape[1], left, top, right, bottom, tile_size, overlap)
        bar = progress_bar(len(plan.tiles) + 1, node_id)

        def ask(messages, index=0):
            check_interrupt()
            gen = generation_settings(tile_seed(seed, index), max_new_tokens, temperature)
            return mllm.generate(messages, gen, node_id=node_id)

        pil = to_pil(rgb)[0]
        if global_caption.strip():
            plan.global_caption = " ".join(global_caption.split())
            plan.source_caption = describe_source(ask, pil)
        else:
            plan.global_caption, plan.source_caption = write_global_caption(ask, pil)
        bar.update(1)

        def ask_tile(messages, index):
            answer = ask(messages, index)
            bar.update(1)
            return answer

        caption_plan(plan, ask_tile)
        log.info("GenAssist PlanCanvas: %r", plan)
        return io.NodeOutput(plan, plan.to_json())


class GenAssist_CanvasPlanFromJSON(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GenAssist_CanvasPlanFromJSON",
            display_name="Canvas Plan from JSON (GenAssist)",
            category=CATEGORY,
            description=(
                "Load a canvas plan from JSON (e.g. Plan Canvas's plan_json after editing captions or tiles). "
                "The plan is checked: every canvas pixel outside the source covered by exactly one tile, each "
                "tile bordering the source or an earlier tile; errors name the tile and the field."),
            inputs=[
                io.String.Input("plan_json", multiline=True, default="", tooltip=(
                    "The plan as JSON: global_caption, width, height, source {x, y, width, height}, tiles "
                    "[{x, y, width, height, direction, caption}] in generation order; optional tile_size.")),
            ],
            outputs=_plan_outputs(),
        )

    @classmethod
    def execute(cls, plan_json) -> io.NodeOutput:
        try:
            plan = plan_from_json(plan_json)
        except PlanError as error:
            raise ValueError(f"Canvas Plan from JSON: {error}") from None
        return io.NodeOutput(plan, plan.to_json())


class GenAssist_ExpandCanvas(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GenAssist_ExpandCanvas",
            display_name="Expand Canvas (GenAssist, 2407.12642)",
            category=CATEGORY,
            description=(
                "Grow the image to the planned canvas, tile by tile in plan order: each tile's window holds "
                "known context and the new strip (initialised by mirroring the edge and blurring it), is "
                "inpainted conditioned on the tile's local caption, the global caption and the way the picture "
                "grows, pasted with a feathered overlap and its seam harmonised. Source pixels stay "
                "bit-identical. The canvas stays in CPU memory; only one window is on the GPU. With an MLLM "
                "connected, each local caption is written just before its tile (live_captions), seeing the "
                "canvas so far. An optional extra conditioning (e.g. unCLIP, a style model, Redux or IP-Adapter "
                "conditioning made from the source) is combined with every tile's text, so the whole canvas "
                "keeps the source's look."),
            inputs=[
                io.Image.Input("image", tooltip=(
                    "The source image, the size the plan was made for (a batch is expanded item by item with "
                    "the same plan).")),
                PLAN_TYPE.Input("canvas_plan", tooltip="From Plan Canvas or Canvas Plan from JSON."),
                io.Model.Input("model", tooltip="The diffusion model; an inpainting checkpoint works best."),
                io.Clip.Input("clip", tooltip="Its text encoder (CLIP prompts use the long-prompt encoder)."),
                io.Vae.Input("vae", tooltip="Its VAE."),
                *sampling_inputs("tile"),
                io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01, tooltip=(
                    "1 = the new strip is generated from scratch; lower keeps more of its mirrored "
                    "initialisation.")),
                io.Int.Input("feather_px", default=16, min=0, max=256, tooltip=(
                    "Width of the blend over earlier tiles around each new tile (never over the source).")),
                io.Boolean.Input("harmonize", default=True, tooltip=(
                    "Match colour, brightness and detail of each tile to the known pixels at its seam "
                    "(Harmonize Seams).")),
                types.MLLM.Input("mllm", optional=True, tooltip=(
                    "Optional: write each local caption live, just before its tile, seeing the canvas so far "
                    "(the plan's caption is offered as a proposal). Unconnected: the plan's captions are used "
                    "verbatim.")),
                io.String.Input("negative", multiline=True, optional=True,
                                default="blurry, low quality, seam, border, frame, text, watermark",
                                tooltip="Negative prompt for every tile."),
                io.Combo.Input("fill", options=list(FILLS), default="mirror_blur", optional=True, tooltip=(
                    "How the unknown strip starts: mirror_blur (mirrored edge, blurred; measured closer to real "
                    "photos) or noise.")),
                io.Conditioning.Input("conditioning", optional=True, tooltip=(
                    "Optional: extra conditioning for every tile, combined with its text as Conditioning "
                    "(Combine) does, e.g. unCLIP Conditioning, Apply Style Model (Redux) or IP-Adapter "
                    "conditioning made from the source image: a visual feature of the whole picture that holds "
                    "the canvas together. Made with the same model family (its width must match the text "
                    "conditioning's, e.g. SD1.5 768, SDXL 2048); any token count; batch 1 (shared) or one per "
                    "image of the batch.")),
                io.Boolean.Input("live_captions", default=True, optional=True, tooltip=(
                    "With an MLLM connected: write each tile's caption just before it, sending the canvas "
                    "painted so far as an image. Off: the plan's captions are used verbatim.")),
            ],
            outputs=[
                output(io.Image, "image",
                                tooltip="The expanded image, exactly the planned size."),
                output(io.Mask, "mask", tooltip="1 = generated pixels, 0 = the source."),
                output(io.String, "captions", tooltip=(
                    "The captions actually used, as plan JSON (a list of plans for a batch whose live captions "
                    "differ).")),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, image, canvas_plan, model, clip, vae, seed, steps, cfg, sampler_name, scheduler, denoise,
                feather_px, harmonize, mllm=None, negative="", fill="mirror_blur", conditioning=None,
                live_captions=True) -> io.NodeOutput:
        node_id = cls.hidden.unique_id
        plan: CanvasPlan = canvas_plan
        rgb = as_rgb(image)
        batch, count = rgb.shape[0], len(plan.tiles)
        out = torch.empty(batch, plan.height, plan.width, 3, dtype=torch.float32)
        bar = progress_bar(max(1, batch * count * steps), node_id)
        sampling = SamplingSettings(seed, steps, cfg, sampler_name, scheduler, denoise)
        negative_cond = encode_text(clip, negative)
        if conditioning is not None:
            conditioning = extra_conditioning(conditioning, negative_cond[0][0].shape[-1], batch)
        masks, used_plans = [], []
        for item in range(batch):
            extra = per_item(conditioning, item) if conditioning is not None else None
            run = _TileRun(plan, model, clip, vae, sampling, negative_cond, mllm if live_captions else None, bar,
                           item * count * steps, node_id, extra)
            _, generated, used = expand_canvas(
                plan, rgb[item], ExpandSettings(plan.window_size, feather_px, harmonize, fill, seed),
                run.caption_for, run.inpaint, out=out[item])
            masks.append(generated)
            used_plans.append(_with_captions(plan, used))
        texts = {p.to_json() for p in used_plans}
        captions = used_plans[0].to_json() if len(texts) == 1 else json.dumps(
            [json.loads(p.to_json()) for p in used_plans], indent=1, ensure_ascii=False)
        return io.NodeOutput(out, masks[0][None] if batch == 1 else torch.stack(masks), captions)


class _TileRun:
    """The host side of one image's tile loop: its captions (plan or live MLLM) and its sampling."""

    def __init__(self, plan, model, clip, vae, sampling, negative, mllm, bar, step_offset, node_id, extra=None):
        self.plan, self.model, self.clip, self.vae = plan, model, clip, vae
        self.sampling, self.negative, self.mllm = sampling, negative, mllm
        self.bar, self.step_offset, self.node_id = bar, step_offset, node_id
        self.show = text_streamer(node_id)
        self.captions: dict[int, str] = {}
        self.extra = list(extra or [])  # CONDITIONING added to every tile's text (ConditioningCombine)

    def caption_for(self, index, canvas, generated) -> str:
        check_interrupt()
        plan, planned = self.plan, self.plan.tiles[index].caption
        caption = planned
        if self.mllm is not None:
            request = tile_request(plan, index, self.captions, canvas_view(plan, canvas, generated), planned)
            gen = generation_settings(tile_seed(self.sampling.seed, index), LIVE_TOKENS, LIVE_TEMPERATURE)
            answer = self.mllm.generate(request, gen, node_id=self.node_id)
            caption, _ = read_caption(answer, plan.global_caption, f"tiles[{index}]")
        self.captions[index] = caption
        self.show(f"tile {index + 1}/{len(plan.tiles)}: {caption}")
        return caption

    def inpaint(self, index, window, mask, caption):
        steps = self.sampling.steps
        tile = self.plan.tiles[index]
        positive = encode_text(self.clip, conditioning_text(self.plan.global_caption, caption, tile.direction))
        positive = positive + self.extra
        callback = preview_callback(self.model, steps, self.bar, self.step_offset + index * steps, self.bar.total)
        return inpaint_window_fitting(self.model, self.clip, self.vae, window, mask, positive, self.negative,
                                      self.sampling.for_step(index), callback, f"Expand Canvas tile {index + 1}")


def _with_captions(plan: CanvasPlan, captions: list[str]) -> CanvasPlan:
    tiles = [Tile(t.rect, t.direction, c) for t, c in zip(plan.tiles, captions)]
    return CanvasPlan(plan.global_caption, plan.width, plan.height, plan.source, tiles, plan.source_caption,
                      plan.tile_size)


NODES = [GenAssist_PlanCanvas, GenAssist_CanvasPlanFromJSON, GenAssist_ExpandCanvas]
