"""DiffRIR S2: reference-based restoration of generated regions (LLMGA's restorer).

Inputs are RGB in [0, 1] with no normalisation. ``mask`` = 1 marks the generated region; the network
sees the reference only where mask = 0. For scale S the generated image is the low-resolution input
(LQ) and the reference / mask / output are S times larger.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .diffrir_config import HR_PAD_MULTIPLE, DiffRIRConfig
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
        """[B,3,h,w] LQ, [B,3,S*h,S*w] reference, [B,1,S*h,S*w] binary mask -> network input."""
        masked_reference = reference * (1.0 - mask)
        if self.scale == 1:
            return F.pixel_unshuffle(torch.cat([lq, masked_reference], 1), 4)
        packed = torch.cat([lq, F.pixel_unshuffle(masked_reference, self.scale)], 1)
        return F.pixel_unshuffle(packed, 2) if self.scale == 2 else packed

    def forward(self, lq: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor,
                noise: torch.Tensor) -> torch.Tensor:
        """Raw network output [B,3,S*h,S*w]; h, w must be multiples of 32/S. ``noise`` seeds the prior."""
        packed = self.pack(lq, reference, mask)
        prior = self.diffusion.sample(packed, noise)
        residual = F.interpolate(lq, scale_factor=self.scale, mode="nearest") if self.scale > 1 else lq
        return self.G(packed, prior) + residual

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


def run_padded(model: DiffRIRS2, lq: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor,
               noise: torch.Tensor) -> torch.Tensor:
    """Pad bottom/right to the window (32 px in the HR frame), run, crop back to the reference size."""
    scale = model.scale
    height, width = reference.shape[-2:]
    pad_h, pad_w = -height % HR_PAD_MULTIPLE, -width % HR_PAD_MULTIPLE
    lq_h, lq_w = (height + pad_h) // scale, (width + pad_w) // scale
    lq = _pad(lq, lq_h - lq.shape[-2], lq_w - lq.shape[-1])
    out = model(lq, _pad(reference, pad_h, pad_w), _pad(mask, pad_h, pad_w), noise)
    return out[..., :height, :width]
