"""The pack's public socket types and the widgets several nodes share, each defined once."""

MLLM = "GENASSIST_MLLM"
SAM = "GENASSIST_SAM"
SEGMENTER = "GENASSIST_SEGMENTER"
EDIT_PLAN = "GENASSIST_EDIT_PLAN"
CANVAS_PLAN = "GENASSIST_CANVAS_PLAN"
RESTORER = "GENASSIST_RESTORER"

DTYPES = ("auto", "bf16", "fp16", "fp32")
MAX_SEED = 0xFFFFFFFFFFFFFFFF


def seed_input(tooltip: str) -> tuple:
    """A seed widget with the UI's control-after-generate (the frontend gives every INT named "seed" one
    anyway; saying so keeps the saved widget order explicit). The example workflows set it to "fixed"."""
    return ("INT", {"default": 0, "min": 0, "max": MAX_SEED, "control_after_generate": True, "tooltip": tooltip})


def dtype_input(tooltip: str) -> tuple:
    return (list(DTYPES), {"default": "auto", "tooltip": tooltip})
