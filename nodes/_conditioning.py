"""Checks of a CONDITIONING input before it reaches the sampler, whose own failures are bare shape
RuntimeErrors deep inside the model."""

import torch

from ._tensors import describe_shape


def _entry_tensor(entry, name: str, index: int) -> torch.Tensor:
    if not (isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[1], dict)):
        raise ValueError(f"{name}[{index}] must be a [tensor [batch, tokens, width], dict] pair as a CONDITIONING "
                         f"holds, got {describe_shape(entry)}")
    tensor = entry[0]
    if not isinstance(tensor, torch.Tensor) or tensor.dim() != 3 or min(tensor.shape) < 1:
        raise ValueError(f"{name}[{index}] must hold a tensor [batch, tokens, width] with at least one of each, "
                         f"got {describe_shape(tensor)}")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name}[{index}] ({describe_shape(tensor)}) holds NaN or infinite values")
    return tensor


def extra_conditioning(conditioning, width: int, batch: int, name: str = "conditioning") -> list:
    """A CONDITIONING meant to be combined (as Conditioning (Combine) does) with text conditioning of
    `width` channels for images of `batch` items: checked and returned as a list. Token counts may differ
    (combined entries are sampled side by side, not concatenated). Each entry's batch is 1 (shared) or
    `batch` (one per image: `per_item` picks it); any other batch, another width, another rank, a
    non-finite tensor, an empty list or another type is a ValueError naming the input and the shapes."""
    if not isinstance(conditioning, (list, tuple)) or not conditioning:
        what = "an empty list" if isinstance(conditioning, (list, tuple)) else describe_shape(conditioning)
        raise ValueError(f"{name} must be a CONDITIONING, a list of [tensor [batch, tokens, width], dict] pairs, "
                         f"got {what}")
    for index, entry in enumerate(conditioning):
        tensor = _entry_tensor(entry, name, index)
        if tensor.shape[-1] != width:
            raise ValueError(f"{name}[{index}] is {describe_shape(tensor)}, {tensor.shape[-1]} wide, but this model's "
                             f"text conditioning is {width} wide: make it with the same model family "
                             "(e.g. SD1.5 768, SDXL 2048)")
        if tensor.shape[0] not in (1, batch):
            raise ValueError(f"{name}[{index}] holds a batch of {tensor.shape[0]} ({describe_shape(tensor)}) but the image "
                             f"batch is {batch}: give one conditioning, or one per image")
    return list(conditioning)


def per_item(conditioning: list, item: int) -> list:
    """The entries for image `item`: a batch-1 entry as is, a per-image entry cut to its item (with any
    tensor of its dict that has the same batch, e.g. pooled_output)."""
    picked = []
    for tensor, extras in conditioning:
        count = tensor.shape[0]
        if count == 1:
            picked.append([tensor, extras])
            continue
        extras = {key: value[item:item + 1] if isinstance(value, torch.Tensor) and value.dim() > 0
                  and value.shape[0] == count else value for key, value in extras.items()}
        picked.append([tensor[item:item + 1], extras])
    return picked
