"""GenAssist_LongPromptEncode: CLIP text encoding for 150-300-token MLLM prompts (the node; the encoding
is ``conditioning.long_prompt``)."""

from ..conditioning.long_prompt import POOLED_CHOICES, STRATEGIES, encode_long_prompt
from ._types import io, output


def _size_input(id: str, tooltip: str) -> io.Int.Input:
    return io.Int.Input(id, default=0, min=0, max=16384, step=8, optional=True, tooltip=tooltip)


class LongPromptEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GenAssist_LongPromptEncode",
            display_name="Long Prompt Encode (GenAssist, LLMGA)",
            category="GenAssist/conditioning",
            description=(
                "Encodes a long prompt (150-300 tokens, as an MLLM writes them) with a CLIP text encoder "
                "(SD1.x, SD2, SDXL) without losing tokens at the 77-token window limit. 'sentence' ends each "
                "window at a sentence or clause boundary; 'llmga' reproduces LLMGA's training layout (75-token "
                "windows, inner BOS/EOS trimmed, 75k+2 positions); 'native' is core CLIPTextEncode. Prompts of "
                "75 tokens or fewer encode exactly as core does (SD1.x). Other text encoders (T5, LLM) are "
                "passed through to core encoding. The report says how the prompt was windowed and what, if "
                "anything, was dropped."),
            inputs=[
                io.Clip.Input("clip", tooltip="The CLIP text encoder (from a checkpoint or CLIP loader)."),
                io.String.Input("text", multiline=True, dynamic_prompts=True,
                                tooltip="The prompt to encode; any length."),
                io.Combo.Input("strategy", options=list(STRATEGIES), default="sentence", tooltip=(
                    "sentence: windows end at sentence/clause boundaries, no phrase split. llmga: LLMGA's "
                    "75-token windows with inner BOS/EOS trimmed (for LLMGA fine-tuned models). native: exactly "
                    "core CLIPTextEncode.")),
                io.Int.Input("max_chunks", default=4, min=1, max=32, tooltip=(
                    "Most 77-token windows to encode (LLMGA trained with 4 = 300 tokens). Text beyond it is "
                    "dropped and named in the report. Not used by native.")),
                io.Combo.Input("pooled_output", options=list(POOLED_CHOICES), default="auto", tooltip=(
                    "Which window gives the pooled vector (SDXL's global conditioning). auto: last window for "
                    "llmga (as LLMGA), first window otherwise (as core).")),
                io.Boolean.Input("weighting", default=False, tooltip=(
                    "Parse (word:1.2) emphasis as ComfyUI does. Off: parentheses are literal text, which is "
                    "what LLM-written prompts mean. native always parses.")),
                _size_input("width", "SDXL size conditioning: image width (0 = not set)."),
                _size_input("height", "SDXL size conditioning: image height (0 = not set)."),
                _size_input("crop_w", "SDXL crop conditioning, left (usually 0)."),
                _size_input("crop_h", "SDXL crop conditioning, top (usually 0)."),
                _size_input("target_width", "SDXL target width (0 = same as width)."),
                _size_input("target_height", "SDXL target height (0 = same as height)."),
            ],
            outputs=[
                output(io.Conditioning, "conditioning", tooltip="The conditioning for KSampler (positive or negative)."),
                output(io.String, "report", tooltip=(
                    "How the prompt was encoded: tokens used, window boundaries, anything dropped and why.")),
            ],
        )

    @classmethod
    def execute(cls, clip, text, strategy, max_chunks, pooled_output, weighting=False,
                width=0, height=0, crop_w=0, crop_h=0, target_width=0, target_height=0) -> io.NodeOutput:
        if clip is None:
            raise RuntimeError("GenAssist_LongPromptEncode: the clip input is None. If it comes from a "
                               "checkpoint loader, that checkpoint has no text encoder: load one with a "
                               "CLIP loader node.")
        if strategy not in STRATEGIES:
            raise ValueError(f"GenAssist_LongPromptEncode: unknown strategy {strategy!r}; use one of {STRATEGIES}.")
        sizes = (width, height, crop_w, crop_h, target_width, target_height)
        return io.NodeOutput(*encode_long_prompt(clip, text or "", strategy, max_chunks, pooled_output, weighting,
                                                 sizes))


NODES = [LongPromptEncode]
