"""DiffRIR S2: reference-based restoration of generated regions (LLMGA's restorer).

Inputs are RGB in [0, 1] with no normalisation. ``mask`` = 1 marks the generated region; the network
sees the reference only where mask = 0. For scale S the generated image is the low-resolution input
(LQ) and the reference / mask / output are S times larger.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .diffrir_config import SCALE_PAD_MULTIPLE, DiffRIRConfig
from .diffrir_prior import CPEN, PriorDDPM, PriorDenoiser
from .dirformer import DIRformer


class DiffRIRS2(nn.Module):
    def __init__(self, config: DiffRIRConfig):
        super().__init__()
        self.config = config
        self.G = DIRformer(config)
        self.condition = CPEN(config.in_channels, config.prior_feats, config.n_encoder_res)
        self.denoise = PriorDenoiser(config.prior_dim, config.n_denoise_res, config.timesteps)
        self.diffusion = PriorDDPM(self.denoise, self.condition, config)

    @property
    def scale(self) -> int:
        return self.config.scale

    def pack(self, lq: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[B,3,h,w] LQ, [B,3,S*h,S*w] reference, [B,1,S*h,S*w] binary mask -> DiffRIR's network input at
        LQ resolution: [LQ, masked reference] at x1 (6 ch), [LQ, unshuffle_S(masked reference)] at x2/x4
        (15 / 51 ch). Padding applies to this tensor, as in DiffRIR's test path."""
        masked_reference = reference * (1.0 - mask)
        if self.scale > 1:
            masked_reference = F.pixel_unshuffle(masked_reference, self.scale)
        return torch.cat([lq, masked_reference], 1)

    def features(self, packed: torch.Tensor) -> torch.Tensor:
        """What CPEN and the transformer see: the packed input unshuffled to 1/4 of the output side."""
        return F.pixel_unshuffle(packed, 4 // self.scale) if self.scale < 4 else packed

    def prior(self, packed: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.diffusion.sample(self.features(packed), noise)

    def forward(self, packed: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        """Raw output [B,3,S*h,S*w] for a packed input whose sides are multiples of 32/S."""
        residual = packed[:, :3]
        if self.scale > 1:
            residual = F.interpolate(residual, scale_factor=self.scale, mode="nearest")
        return self.G(self.features(packed), prior) + residual

    def prior_noise(self, batch: int, seed: int) -> torch.Tensor:
        """The prior's starting point, drawn on the CPU so a seed gives the same result on any device."""
        generator = torch.Generator().manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)
        return torch.randn(batch, self.config.prior_dim, generator=generator)


def _pad(x: torch.Tensor, bottom: int, right: int) -> torch.Tensor:
    if not bottom and not right:
        return x
    # reflect needs the pad smaller than the side; tiny inputs fall back to edge replication
    mode = "reflect" if bottom < x.shape[-2] and right < x.shape[-1] else "replicate"
    return F.pad(x, (0, right, 0, bottom), mode=mode)


def pack_padded(model: DiffRIRS2, lq: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Pack, then reflect-pad bottom/right to DiffRIR's window (32/16/8 LQ px at x1/x2/x4). A reference
    whose side is not a multiple of S is first padded to S x the LQ size."""
    scale = model.scale
    lq_h, lq_w = lq.shape[-2:]
    extra_h, extra_w = lq_h * scale - reference.shape[-2], lq_w * scale - reference.shape[-1]
    packed = model.pack(lq, _pad(reference, extra_h, extra_w), _pad(mask, extra_h, extra_w))
    window = SCALE_PAD_MULTIPLE[scale]
    return _pad(packed, -lq_h % window, -lq_w % window)


def run_padded(model: DiffRIRS2, lq: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor,
               noise: torch.Tensor | None = None, prior: torch.Tensor | None = None) -> torch.Tensor:
    """Pad, run, crop back to the reference size. The prior is sampled from ``noise`` on this input
    unless a ``prior`` is given (tiles share the whole image's)."""
    packed = pack_padded(model, lq, reference, mask)
    if prior is None:
        prior = model.prior(packed, noise)
    return model(packed, prior)[..., :reference.shape[-2], :reference.shape[-1]]
