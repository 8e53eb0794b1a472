"""The pack's V3 API, its public socket types and the widgets several nodes share, each defined once.

Every node is written against ``comfy_api.v0_0_2``: the newest numbered V3 API that every supported host
provides (ComfyUI 0.3.75 and 0.33.0 both ship it; ``latest`` moves under a pack without notice)."""

from comfy_api.v0_0_2 import ComfyExtension, io, ui  # noqa: F401  (re-exported for the node modules)

MLLM = io.Custom("GENASSIST_MLLM")
SAM = io.Custom("GENASSIST_SAM")
SEGMENTER = io.Custom("GENASSIST_SEGMENTER")
EDIT_PLAN = io.Custom("GENASSIST_EDIT_PLAN")
CANVAS_PLAN = io.Custom("GENASSIST_CANVAS_PLAN")
RESTORER = io.Custom("GENASSIST_RESTORER")

DTYPES = ("auto", "bf16", "fp16", "fp32")
MAX_SEED = 0xFFFFFFFFFFFFFFFF


def seed_input(tooltip: str, id: str = "seed") -> io.Int.Input:
    """A seed widget with the UI's control-after-generate (the frontend gives every INT named "seed" one
    anyway; saying so keeps the saved widget order explicit). The example workflows set it to "fixed"."""
    return io.Int.Input(id, default=0, min=0, max=MAX_SEED, control_after_generate=True, tooltip=tooltip)


def dtype_input(tooltip: str, id: str = "dtype") -> io.Combo.Input:
    return io.Combo.Input(id, options=list(DTYPES), default="auto", tooltip=tooltip)


def output(socket, name: str, **options):
    """An output shown as ``name``. Its id gets a suffix: ComfyUI 0.3.75 refuses an output id equal to an input
    id and names outputs by display name only, so the name the UI shows lives in display_name."""
    return socket.Output(f"{name}_out", display_name=name, **options)


def with_overrides(inputs: list, *overrides) -> list:
    """A shared input list with some inputs replaced by id, each keeping its place (the saved widget order)."""
    by_id = {item.id: item for item in overrides}
    unknown = set(by_id) - {item.id for item in inputs}
    if unknown:
        raise KeyError(f"no shared input named {sorted(unknown)}")
    return [by_id.get(item.id, item) for item in inputs]
