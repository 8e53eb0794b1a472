"""Deterministic random weights for a state-dict skeleton (shapes taken from a meta-device module)."""

import zlib

import torch


def fill_state_dict(shapes: dict[str, torch.Size], seed: int, std: float = 0.02,
                    dtype=torch.float16) -> dict[str, torch.Tensor]:
    """Norm-like weights -> 1, biases -> 0, everything else N(0, std); each key seeded from its name,
    so adding a key never changes the others."""
    out = {}
    for key, shape in shapes.items():
        leaf = key.rsplit(".", 1)[-1]
        is_norm = any(t in key for t in ("norm", "ln_", "layer_norm")) and leaf == "weight"
        if leaf == "bias" or leaf in ("running_mean",):
            tensor = torch.zeros(shape)
        elif is_norm or leaf == "running_var":
            tensor = torch.ones(shape)
        else:
            gen = torch.Generator().manual_seed(seed ^ zlib.crc32(key.encode()))
            tensor = torch.randn(shape, generator=gen) * std
        out[key] = tensor.to(dtype).contiguous()
    return out


def meta_shapes(module: torch.nn.Module, prefix: str = "") -> dict[str, torch.Size]:
    return {prefix + k: v.shape for k, v in module.state_dict().items()}
