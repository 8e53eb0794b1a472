"""Make the host's ComfyUI importable (for building tiny models with its own module definitions)."""

import sys

from harness import host


def ensure_comfy_importable() -> None:
    path = str(host.comfy_dir())
    if path not in sys.path:
        sys.path.insert(0, path)
    if "comfy.model_management" not in sys.modules:
        import comfy.options

        comfy.options.args_parsing = False
        from comfy.cli_args import args

        args.cpu = True  # model definitions only; never probe for a GPU here
