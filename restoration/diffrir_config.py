"""Hyper-parameters of a DiffRIR S2 network, and how to read them back from a state dict."""

import re
from dataclasses import dataclass, field

import torch

# channels the network sees after packing: x1 packs [generated, masked reference] (6 ch) with a
# pixel-unshuffle by 4; x2 packs [LQ, unshuffle2(reference HR)] (15 ch) with an unshuffle by 2;
# x4 packs [LQ, unshuffle4(reference HR)] (51 ch) and runs at LQ resolution.
SCALE_INPUT_CHANNELS = {1: 6 * 16, 2: 15 * 4, 4: 51}
# DiffRIR reflect-pads its packed LQ-resolution input to these multiples (32 output pixels at every scale).
SCALE_PAD_MULTIPLE = {1: 32, 2: 16, 4: 8}


def _hidden_sizes(dim: int, factor: float) -> dict[int, int]:
    return {dim * 2**i: int(dim * 2**i * factor) for i in range(4)}


@dataclass(frozen=True)
class DiffRIRConfig:
    """Defaults are the released model (inference_diffrir.py)."""

    scale: int = 1
    dim: int = 64
    num_blocks: tuple[int, int, int, int] = (13, 1, 1, 1)
    num_refinement_blocks: int = 13
    heads: tuple[int, int, int, int] = (1, 2, 4, 8)
    ffn_expansion_factor: float = 2.2
    # FFN hidden width per stage width; derived from the factor unless read from a checkpoint.
    ffn_hidden: dict[int, int] = field(default_factory=dict)
    bias: bool = False
    norm_bias: bool = False  # LayerNorm_type "BiasFree"
    prior_feats: int = 64  # CPEN width; the prior vector has 4x this many features
    n_encoder_res: int = 9
    n_denoise_res: int = 1
    timesteps: int = 4
    linear_start: float = 0.1
    linear_end: float = 0.99

    def __post_init__(self):
        if self.scale not in SCALE_INPUT_CHANNELS:
            raise ValueError(f"DiffRIR scale must be 1, 2 or 4, got {self.scale}")
        if not self.ffn_hidden:
            object.__setattr__(self, "ffn_hidden", _hidden_sizes(self.dim, self.ffn_expansion_factor))

    @property
    def in_channels(self) -> int:
        return SCALE_INPUT_CHANNELS[self.scale]

    @property
    def prior_dim(self) -> int:
        return self.prior_feats * 4


def _count(state: dict, pattern: str) -> int:
    regex = re.compile(pattern)
    return len({m.group(1) for key in state if (m := regex.fullmatch(key))})


def config_from_state_dict(state: dict[str, torch.Tensor]) -> DiffRIRConfig:
    """Read every size from the tensors themselves, so any width/depth of the layout loads."""
    try:
        embed = state["G.patch_embed.proj.weight"]
        scales = {channels: scale for scale, channels in SCALE_INPUT_CHANNELS.items()}
        if embed.shape[1] not in scales:
            raise ValueError(f"G.patch_embed takes {embed.shape[1]} channels; DiffRIR x1/x2/x4 take "
                             f"{sorted(scales)}")
        dim = embed.shape[0]
        stages = ("encoder_level1", "encoder_level2", "encoder_level3", "latent")
        heads = tuple(state[f"G.{s}.0.attn.temperature"].shape[0] for s in stages)
        hidden = {dim * 2**i: state[f"G.{s}.0.ffn.project_out.weight"].shape[1] for i, s in enumerate(stages)}
        betas = state["diffusion.betas"].double()
        return DiffRIRConfig(
            scale=scales[embed.shape[1]],
            dim=dim,
            num_blocks=tuple(_count(state, rf"G\.{s}\.(\d+)\.norm1\.body\.weight") for s in stages),
            num_refinement_blocks=_count(state, r"G\.refinement\.(\d+)\.norm1\.body\.weight"),
            heads=heads,
            ffn_hidden=hidden,
            bias="G.encoder_level1.0.attn.qkv.bias" in state,
            norm_bias="G.encoder_level1.0.norm1.body.bias" in state,
            prior_feats=state["condition.E.0.weight"].shape[0],
            n_encoder_res=_count(state, r"condition\.E\.(\d+)\.body\.0\.weight"),
            n_denoise_res=_count(state, r"denoise\.resmlp\.(\d+)\.resmlp\.0\.weight"),
            timesteps=betas.shape[0],
            linear_start=float(betas[0]),
            linear_end=float(betas[-1]),
        )
    except KeyError as missing:
        raise ValueError(f"not a DiffRIR S2 state dict: key {missing} is missing") from None
