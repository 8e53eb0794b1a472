"""Read a model folder's weights (safetensors or pickle-free torch .bin, sharded or not) into a dict."""

import json
import os

import torch

SAFETENSORS_INDEX = "model.safetensors.index.json"
TORCH_INDEX = "pytorch_model.bin.index.json"


def weight_files(folder: str) -> list[str]:
    """The weight files of a Hugging Face style folder, preferring safetensors; [] when there are none."""
    for index_name in (SAFETENSORS_INDEX, TORCH_INDEX):
        index = os.path.join(folder, index_name)
        if os.path.isfile(index):
            with open(index, encoding="utf-8") as f:
                shards = sorted(set(json.load(f)["weight_map"].values()))
            return [os.path.join(folder, s) for s in shards]
    names = sorted(os.listdir(folder))
    for ext in (".safetensors", ".bin"):
        found = [os.path.join(folder, n) for n in names if n.endswith(ext) and not n.startswith(".")]
        if found:
            return found
    return []


def load_state_dict(folder: str) -> dict[str, torch.Tensor]:
    files = weight_files(folder)
    if not files:
        raise FileNotFoundError(f"no *.safetensors or *.bin weights in {folder}")
    state: dict[str, torch.Tensor] = {}
    for path in files:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            state.update(load_file(path))
        else:  # weights_only: never unpickle arbitrary objects
            state.update(torch.load(path, map_location="cpu", weights_only=True, mmap=True))
    return state


def split_prefix(state: dict, prefix: str) -> dict:
    """Pop every key starting with prefix out of state; return them with the prefix removed."""
    keys = [k for k in state if k.startswith(prefix)]
    return {k[len(prefix):]: state.pop(k) for k in keys}


def dtype_kwarg(dtype) -> dict:
    """``from_pretrained``'s precision argument: ``dtype`` from transformers 4.56, ``torch_dtype`` before."""
    import transformers

    major, minor = (int(p) for p in transformers.__version__.split(".")[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}
