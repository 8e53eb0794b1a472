"""The pack's public socket types and the widgets several nodes share, each defined once."""

MLLM = "GENASSIST_MLLM"
SAM = "GENASSIST_SAM"
SEGMENTER = "GENASSIST_SEGMENTER"
EDIT_PLAN = "GENASSIST_EDIT_PLAN"
CANVAS_PLAN = "GENASSIST_CANVAS_PLAN"
RESTORER = "GENASSIST_RESTORER"

DTYPES = ("auto", "bf16", "fp16", "fp32")
MAX_SEED = 0xFFFFFFFFFFFFFFFF


def seed_input(tooltip: str, control_after_generate: bool = True) -> tuple:
    """A seed widget. Samplers get the UI's control-after-generate; MLLM seeds stay put by default, so a
    re-queued graph reuses the cached answer instead of asking the model again."""
    options = {"default": 0, "min": 0, "max": MAX_SEED, "tooltip": tooltip}
    if control_after_generate:
        options["control_after_generate"] = True
    return ("INT", options)


def dtype_input(tooltip: str) -> tuple:
    return (list(DTYPES), {"default": "auto", "tooltip": tooltip})
