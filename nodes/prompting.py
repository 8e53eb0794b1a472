"""LLMGA prompt refiner and MGIE expressive instructions as nodes."""

import dataclasses
import logging

from ..mllm.backend import Message
from ..mllm.parsing import AnswerError, mgie_clean, parse_generation_answer
from ..mllm.task_prompts import MGIE_NO_REPEAT_NGRAM, STYLES, TASKS, build_request, mgie_request
from . import _types as types
from ._mllm_prompting import generation_inputs, generation_settings, pil_batch
from ._types import io, output

log = logging.getLogger("GenAssist")
CATEGORY = "GenAssist/Prompting"

_BATCH_NOTE = (" An IMAGE batch of B gives B answers (list outputs: downstream nodes run once per item); "
               "no image gives one.")


class RefinePrompt(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GenAssist_RefinePrompt",
            display_name="Refine Prompt (GenAssist, LLMGA)",
            category=CATEGORY,
            description=(
                "LLMGA prompt refiner: an MLLM writes the detailed generation prompt for a task — generate from "
                "keywords, a similar image from a photo, the full-image caption for inpainting or outpainting (the "
                "masked region is shown to the model in black), or the source and target captions of an edit. "
                "LLMGA checkpoints get their trained phrasings; other models are asked for the same <gen_image> "
                "format." + _BATCH_NOTE),
            inputs=[
                types.MLLM.Input("mllm", tooltip="From Load MLLM or MLLM Server."),
                io.Combo.Input("task", options=list(TASKS), default="generate", tooltip=(
                    "generate: expand keywords; similar_image: describe the image for regeneration; "
                    "inpaint/outpaint: caption the whole image with the masked part imagined; edit: caption "
                    "the image, then the edited image.")),
                io.String.Input("text", multiline=True, default="", tooltip=(
                    "generate: keywords; edit: the instruction; other tasks: optional extra wishes.")),
                *generation_inputs(),
                io.Combo.Input("style", options=list(STYLES), default="paragraph", tooltip=(
                    "Non-LLMGA models: 'paragraph' for long-prompt encoders (T5, Flux, our long CLIP encoder), "
                    "'clip_tags' for a 77-token CLIP. LLMGA checkpoints always write their trained paragraph.")),
                io.Image.Input("image", optional=True,
                               tooltip="Needed by similar_image, inpaint, outpaint and edit."),
                io.Mask.Input("mask", optional=True, tooltip=(
                    "Region to fill (1 = fill). The model sees it painted black, as LLMGA was trained. "
                    "Resized to the image; one mask or one per image.")),
            ],
            outputs=[
                output(io.String, "prompt", is_output_list=True, tooltip=(
                    "The generation prompt: the cleaned text inside <gen_image>…</gen_image> (one per image).")),
                output(io.String, "response", is_output_list=True, tooltip="The model's whole answer, for inspection."),
                output(io.String, "source_prompt", is_output_list=True, tooltip=(
                    "Task 'edit': the caption of the input image (LLMGA's first turn, 'Generate a similar "
                    "image'), to pair with 'prompt' as the target caption. Empty for other tasks.")),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, mllm, task, text, seed, max_new_tokens, temperature, style="paragraph", image=None,
                mask=None) -> io.NodeOutput:
        gen = generation_settings(seed, max_new_tokens, temperature)
        is_llmga = mllm.family == "llmga"
        node_id = cls.hidden.unique_id
        prompts, responses, sources = [], [], []
        for index, pil in enumerate(pil_batch(image, mask)):
            request = build_request(task, text, pil, llmga=is_llmga, style=style)
            for note in request.notes:
                log.info("GenAssist RefinePrompt: %s", note)
            answer = mllm.generate(request.first, gen, node_id=node_id)
            source = ""
            if request.second is not None:
                source = _parse(answer, mllm, index).prompt
                follow_up = [*request.first, Message("assistant", answer), request.second]
                answer = mllm.generate(follow_up, gen, node_id=node_id)
            prompts.append(_parse(answer, mllm, index).prompt)
            responses.append(answer)
            sources.append(source)
        return io.NodeOutput(prompts, responses, sources)


def _parse(answer, mllm, index):
    try:
        parsed = parse_generation_answer(answer)
    except AnswerError as error:
        raise AnswerError(f"{mllm.name}, image {index}: {error}") from None
    if not parsed.requested_image:  # LLMGA's rule: without the start tag the whole answer is the prompt
        log.warning("GenAssist RefinePrompt: %s, image %d: the answer has no <gen_image> tag; using the whole "
                    "answer as the prompt: %r", mllm.name, index, parsed.prompt[:120])
    return parsed


class ExpressiveInstruction(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GenAssist_ExpressiveInstruction",
            display_name="Expressive Instruction (GenAssist, MGIE)",
            category=CATEGORY,
            description=(
                "MGIE expressive instruction: the MLLM imagines the edited image ('what will this image be like "
                "if …') and returns two explicit sentences, ready for the text input of InstructPix2Pix, Flux "
                "Kontext or Qwen-Image-Edit. (MGIE itself feeds hidden states to a fine-tuned InstructPix2Pix; "
                "this node gives the text, which any edit model can read.)" + _BATCH_NOTE),
            inputs=[
                types.MLLM.Input("mllm", tooltip="From Load MLLM or MLLM Server (a vision model)."),
                io.Image.Input("image", tooltip="The image to edit."),
                io.String.Input("instruction", multiline=True, default="",
                                tooltip="The brief edit, e.g. 'make it look like winter'."),
                *generation_inputs(
                    io.Int.Input("max_new_tokens", default=96, min=8, max=2048,
                                 tooltip="Longest answer in tokens (MGIE: 96)."),
                    io.Float.Input("temperature", default=0.0, min=0.0, max=2.0, step=0.05,
                                   tooltip="0 = greedy, as MGIE decodes.")),
                io.Boolean.Input("short_paragraph", default=True, optional=True, tooltip=(
                    "Append '  (in a short paragraph)' to the question, as MGIE's training data was generated; "
                    "helps general VLMs. MGIE's own checkpoint is asked without it: turn off for it.")),
            ],
            outputs=[output(io.String, "instruction", is_output_list=True, tooltip=(
                "The expressive instruction: first two sentences, ending with a period (one per image)."))],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, mllm, image, instruction, seed, max_new_tokens, temperature,
                short_paragraph=True) -> io.NodeOutput:
        # MGIE decodes with no_repeat_ngram_size=3; server backends cannot apply it (no such API field)
        gen = dataclasses.replace(generation_settings(seed, max_new_tokens, temperature),
                                  no_repeat_ngram_size=MGIE_NO_REPEAT_NGRAM)
        if mllm.family == "openai":
            log.info("GenAssist ExpressiveInstruction: %s is a server; the chat-completions API has no "
                     "no_repeat_ngram_size, so MGIE's n-gram rule is not applied", mllm.name)
        results = []
        for index, pil in enumerate(pil_batch(image)):
            answer = mllm.generate(mgie_request(instruction, pil, short_paragraph), gen,
                                   node_id=cls.hidden.unique_id)
            try:
                results.append(mgie_clean(answer))
            except AnswerError as error:
                raise AnswerError(f"{mllm.name}, image {index}: {error}") from None
        return io.NodeOutput(results)


NODES = [RefinePrompt, ExpressiveInstruction]
