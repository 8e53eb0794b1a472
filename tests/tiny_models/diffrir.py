"""Tiny DiffRIR S2 checkpoints in the released layout: basicsr ``{"params_ema": ...}`` .pth or .safetensors.

The key list is written here from DiffRIR's module names (S2_arch.py + ldm/ddpm.py), independently of
the pack's network code, so loading these files strictly checks the pack against the real layout.
Sizes are tiny (dim 8, one block per stage); ``layout(...)`` with the defaults is the released size.
"""

import zlib
from pathlib import Path

import numpy as np
import torch

from . import atomic_path
from ._weights import fill_state_dict

SEED = 2024
IN_CHANNELS = {1: 96, 2: 60, 4: 51}
TINY = {"dim": 8, "num_blocks": (1, 1, 1, 1), "refinement": 1, "heads": (1, 2, 4, 8), "ffn": 2.2,
        "feats": 16, "n_encoder_res": 2, "n_denoise_res": 1}


def _block(prefix: str, c: int, heads: int, hidden: int, prior: int) -> dict:
    return {
        f"{prefix}.norm1.body.weight": (c,), f"{prefix}.attn.temperature": (heads, 1, 1),
        f"{prefix}.attn.kernel.0.weight": (2 * c, prior), f"{prefix}.attn.qkv.weight": (3 * c, c, 1, 1),
        f"{prefix}.attn.qkv_dwconv.weight": (3 * c, 1, 3, 3), f"{prefix}.attn.project_out.weight": (c, c, 1, 1),
        f"{prefix}.norm2.body.weight": (c,), f"{prefix}.ffn.project_in.weight": (2 * hidden, c, 1, 1),
        f"{prefix}.ffn.dwconv.weight": (2 * hidden, 1, 3, 3), f"{prefix}.ffn.project_out.weight": (c, hidden, 1, 1),
        f"{prefix}.ffn.kernel.0.weight": (2 * c, prior),
    }


def layout(scale: int = 1, dim: int = 64, num_blocks=(13, 1, 1, 1), refinement: int = 13, heads=(1, 2, 4, 8),
           ffn: float = 2.2, feats: int = 64, n_encoder_res: int = 9, n_denoise_res: int = 1) -> dict:
    """key -> shape of DiffRIRS2 (BiasFree norms, bias=False convs), timesteps 4."""
    prior = 4 * feats
    shapes = {"G.patch_embed.proj.weight": (dim, IN_CHANNELS[scale], 3, 3)}
    stages = [("encoder_level1", dim, heads[0], num_blocks[0]), ("encoder_level2", 2 * dim, heads[1], num_blocks[1]),
              ("encoder_level3", 4 * dim, heads[2], num_blocks[2]), ("latent", 8 * dim, heads[3], num_blocks[3]),
              ("decoder_level3", 4 * dim, heads[2], num_blocks[2]), ("decoder_level2", 2 * dim, heads[1], num_blocks[1]),
              ("decoder_level1", 2 * dim, heads[0], num_blocks[0]), ("refinement", 2 * dim, heads[0], refinement)]
    for name, c, h, depth in stages:
        for i in range(depth):
            shapes.update(_block(f"G.{name}.{i}", c, h, int(c * ffn), prior))
    for name, c in (("down1_2", dim), ("down2_3", 2 * dim), ("down3_4", 4 * dim)):
        shapes[f"G.{name}.body.0.weight"] = (c // 2, c, 3, 3)
    for name, c in (("up4_3", 8 * dim), ("up3_2", 4 * dim), ("up2_1", 2 * dim)):
        shapes[f"G.{name}.body.0.weight"] = (2 * c, c, 3, 3)
    shapes["G.reduce_chan_level3.weight"] = (4 * dim, 8 * dim, 1, 1)
    shapes["G.reduce_chan_level2.weight"] = (2 * dim, 4 * dim, 1, 1)
    for i in (0, 2):
        shapes[f"G.tail.0.{i}.weight"], shapes[f"G.tail.0.{i}.bias"] = (8 * dim, 2 * dim, 3, 3), (8 * dim,)
    shapes["G.tail.1.weight"], shapes["G.tail.1.bias"] = (3, 2 * dim, 3, 3), (3,)

    condition = {"E.0.weight": (feats, IN_CHANNELS[scale], 3, 3), "E.0.bias": (feats,)}
    for r in range(n_encoder_res):
        for j in (0, 2):
            condition[f"E.{2 + r}.body.{j}.weight"] = (feats, feats, 3, 3)
            condition[f"E.{2 + r}.body.{j}.bias"] = (feats,)
    first = 2 + n_encoder_res
    for offset, (cin, cout) in zip((0, 2, 4), ((feats, 2 * feats), (2 * feats, 2 * feats), (2 * feats, 4 * feats))):
        condition[f"E.{first + offset}.weight"] = (cout, cin, 3, 3)
        condition[f"E.{first + offset}.bias"] = (cout,)
    for j in (0, 2):
        condition[f"mlp.{j}.weight"], condition[f"mlp.{j}.bias"] = (prior, prior), (prior,)
    denoise = {"resmlp.0.weight": (prior, 2 * prior + 1), "resmlp.0.bias": (prior,)}
    for r in range(n_denoise_res):
        denoise[f"resmlp.{2 + r}.resmlp.0.weight"] = (prior, prior)
        denoise[f"resmlp.{2 + r}.resmlp.0.bias"] = (prior,)
    for prefix, part in (("condition.", condition), ("diffusion.condition.", condition),
                         ("denoise.", denoise), ("diffusion.model.", denoise)):
        shapes.update({prefix + k: v for k, v in part.items()})
    shapes.update({key: (4,) for key in ddpm_buffers()})
    return {k: torch.Size(v) for k, v in shapes.items()}


def ddpm_buffers(timesteps: int = 4, start: float = 0.1, end: float = 0.99) -> dict[str, torch.Tensor]:
    betas = np.linspace(start**0.5, end**0.5, timesteps, dtype=np.float64) ** 2
    alphas = 1 - betas
    acp = np.cumprod(alphas)
    prev = np.append(1.0, acp[:-1])
    var = betas * (1 - prev) / (1 - acp)
    values = {"betas": betas, "alphas_cumprod": acp, "alphas_cumprod_prev": prev,
              "sqrt_alphas_cumprod": np.sqrt(acp), "sqrt_one_minus_alphas_cumprod": np.sqrt(1 - acp),
              "log_one_minus_alphas_cumprod": np.log(1 - acp), "sqrt_recip_alphas_cumprod": np.sqrt(1 / acp),
              "sqrt_recipm1_alphas_cumprod": np.sqrt(1 / acp - 1), "posterior_variance": var,
              "posterior_log_variance_clipped": np.log(np.maximum(var, 1e-20)),
              "posterior_mean_coef1": betas * np.sqrt(prev) / (1 - acp),
              "posterior_mean_coef2": (1 - prev) * np.sqrt(alphas) / (1 - acp)}
    return {f"diffusion.{k}": torch.tensor(v, dtype=torch.float32) for k, v in values.items()}


def tiny_state_dict(scale: int = 1, seed: int = SEED, **sizes) -> dict[str, torch.Tensor]:
    """Random weights (duplicated keys get identical values, as in a real file) plus DDPM buffers."""
    shapes = layout(scale, **{**TINY, **sizes})
    canonical = {k: v for k, v in shapes.items() if not k.startswith("diffusion.")}
    # fill_state_dict seeds each key from its name, so sizes never shift other keys' values
    state = fill_state_dict(canonical, seed, std=0.05, dtype=torch.float32)
    for key in shapes:
        if key.startswith("diffusion.model."):
            state[key] = state["denoise." + key[len("diffusion.model."):]].clone()
        elif key.startswith("diffusion.condition."):
            state[key] = state["condition." + key[len("diffusion.condition."):]].clone()
    state.update(ddpm_buffers())
    return state


# The golden fixture's network (tests/unit/test_diffrir_golden.py): DiffRIR hard-codes the prior width
# (CPEN n_feats 64 -> a 256-d prior), so only the transformer is small.
GOLDEN = {"dim": 8, "num_blocks": (1, 1, 1, 1), "refinement": 1, "heads": (1, 2, 4, 8), "ffn": 2.2,
          "feats": 64, "n_encoder_res": 2, "n_denoise_res": 1}


def _golden_tensor(key: str, shape: torch.Size, seed: int) -> torch.Tensor:
    """Lively values so every layer matters: norms near 1, temperatures in [1, 1.5], small non-zero biases,
    other weights N(0, 1/fan_in) (activations keep about unit scale through the layers)."""
    gen = torch.Generator().manual_seed(seed ^ zlib.crc32(key.encode()))
    noise = torch.randn(shape, generator=gen, dtype=torch.float64)
    if key.endswith("body.weight") and ".norm" in key:
        return 1.0 + 0.1 * noise
    if key.endswith("temperature"):
        return 1.0 + 0.5 * torch.rand(shape, generator=gen, dtype=torch.float64)
    if key.endswith("bias"):
        return 0.05 * noise
    fan_in = max(1, int(np.prod(shape[1:])))
    # the prior's MLPs get a gain of 2 (LeakyReLU layers would shrink it to nothing), the modulation
    # projections 0.5 (x * scale + shift in every block would otherwise blow the output up), the last conv
    # 0.1 (outputs of order 1, so float32 rounding stays well below the golden test's 1e-5)
    gain = {"G.tail.1.weight": 0.1}.get(key, 0.5 if ".kernel." in key else
                                         2.0 if key.startswith(("condition.mlp", "denoise.")) else 1.0)
    return gain * noise / fan_in**0.5


def golden_state_dict(scale: int, seed: int = SEED) -> dict[str, torch.Tensor]:
    """The golden fixture's weights, float32, in the released layout (duplicates and buffers included)."""
    shapes = layout(scale, **GOLDEN)
    state = {k: _golden_tensor(k, v, seed).float() for k, v in shapes.items()
             if not k.startswith(("diffusion.model.", "diffusion.condition.")) and k not in ddpm_buffers()}
    for key in shapes:
        for alias, canonical in (("diffusion.model.", "denoise."), ("diffusion.condition.", "condition.")):
            if key.startswith(alias):
                state[key] = state[canonical + key[len(alias):]].clone()
    state.update(ddpm_buffers())
    return state


def default_name(scale: int, fmt: str) -> str:
    return f"diffrir_s2_x{scale}.{'pth' if fmt == 'pth' else 'safetensors'}"


def build(models_dir: Path, scale: int = 1, fmt: str = "pth", name: str | None = None, **sizes) -> str:
    """Write models/diffrir/<name> once; fmt "pth" (basicsr dict) or "safetensors"."""
    name = name or default_name(scale, fmt)
    path = Path(models_dir) / "diffrir" / name
    if not path.is_file():
        state = tiny_state_dict(scale, **sizes)
        with atomic_path(path) as tmp:
            if fmt == "pth":
                torch.save({"params_ema": state}, str(tmp))
            else:
                from safetensors.torch import save_file

                save_file(state, str(tmp))
    return name
