"""Load DiffRIR S2 weights: basicsr ``.pth`` ({"params_ema": ...}) or ``.safetensors``, strictly."""

import logging
from pathlib import Path

import torch

from .diffrir import DiffRIRS2
from .diffrir_config import config_from_state_dict

log = logging.getLogger(__name__)

# basicsr saves the EMA weights under params_ema and the raw ones under params; EMA is what was evaluated.
_WRAPPER_KEYS = ("params_ema", "params", "state_dict")
# DDPM keeps the same modules as the network, so real checkpoints hold them twice.
_ALIASES = {"diffusion.model.": "denoise.", "diffusion.condition.": "condition."}


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path), device="cpu")
    else:
        # weights_only: a pickle from the internet must not be able to run code
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise ValueError(f"{path.name}: expected a dict of tensors, got {type(state).__name__}")
        for key in _WRAPPER_KEYS:
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def _complete_aliases(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Fill missing alias keys from their canonical twin (safetensors' save_model drops shared tensors)."""
    state = dict(state)
    for alias, canonical in _ALIASES.items():
        for key in [k for k in state if k.startswith(canonical)]:
            twin = alias + key[len(canonical):]
            if twin not in state:
                state[twin] = state[key]
            elif not torch.equal(state[twin], state[key]):
                log.warning("DiffRIR checkpoint: %s differs from %s; using %s", twin, key, key)
                state[twin] = state[key]
    return state


def load_diffrir(path: str | Path) -> DiffRIRS2:
    """A DiffRIRS2 in eval mode (float32, CPU) with every key of the file matched exactly."""
    state = _complete_aliases(read_state_dict(path))
    config = config_from_state_dict(state)
    model = DiffRIRS2(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        raise ValueError(
            f"{Path(path).name} is not a DiffRIR S2 checkpoint this loader understands: "
            f"{len(missing)} missing keys {missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}, "
            f"{len(wrong)} with other shapes {wrong[:3]}. Use DiffRIR's S2 / S2-GAN net_g files.")
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    log.info("DiffRIR x%d loaded from %s (dim %d, blocks %s)", config.scale, Path(path).name, config.dim,
             config.num_blocks)
    return model.eval().requires_grad_(False)
