"""DIRformer: the prior-modulated Restormer U-Net of DiffRIR (the ``G.*`` keys)."""

import torch
from torch import nn

from .diffrir_config import DiffRIRConfig
from .dirformer_blocks import Downsample, PatchEmbed, TransformerStage, Upsample, x4_upsampler
from .dirformer_blocks import TransformerBlock as Block


class DIRformer(nn.Module):
    """Four levels (C, 2C, 4C, 8C); decoder level 1 and refinement run at 2C; the tail upsamples x4."""

    def __init__(self, config: DiffRIRConfig):
        super().__init__()
        dim, prior = config.dim, config.prior_dim

        def stage(width: int, heads: int, depth: int) -> TransformerStage:
            return TransformerStage(Block(width, heads, config.ffn_hidden[width], prior, config.bias,
                                          config.norm_bias) for _ in range(depth))

        blocks, heads = config.num_blocks, config.heads
        self.patch_embed = PatchEmbed(config.in_channels, dim, config.bias)
        self.encoder_level1 = stage(dim, heads[0], blocks[0])
        self.down1_2 = Downsample(dim)
        self.encoder_level2 = stage(dim * 2, heads[1], blocks[1])
        self.down2_3 = Downsample(dim * 2)
        self.encoder_level3 = stage(dim * 4, heads[2], blocks[2])
        self.down3_4 = Downsample(dim * 4)
        self.latent = stage(dim * 8, heads[3], blocks[3])
        self.up4_3 = Upsample(dim * 8)
        self.reduce_chan_level3 = nn.Conv2d(dim * 8, dim * 4, 1, bias=config.bias)
        self.decoder_level3 = stage(dim * 4, heads[2], blocks[2])
        self.up3_2 = Upsample(dim * 4)
        self.reduce_chan_level2 = nn.Conv2d(dim * 4, dim * 2, 1, bias=config.bias)
        self.decoder_level2 = stage(dim * 2, heads[1], blocks[1])
        self.up2_1 = Upsample(dim * 2)
        self.decoder_level1 = stage(dim * 2, heads[0], blocks[0])
        self.refinement = stage(dim * 2, heads[0], config.num_refinement_blocks)
        self.tail = nn.Sequential(x4_upsampler(dim * 2), nn.Conv2d(dim * 2, 3, 3, padding=1))

    def forward(self, x: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        """x: packed input at network resolution (side a multiple of 8); returns 4x that size."""
        enc1 = self.encoder_level1(self.patch_embed(x), prior)
        enc2 = self.encoder_level2(self.down1_2(enc1), prior)
        enc3 = self.encoder_level3(self.down2_3(enc2), prior)
        dec = self.latent(self.down3_4(enc3), prior)
        dec = self.reduce_chan_level3(torch.cat([self.up4_3(dec), enc3], 1))
        dec = self.decoder_level3(dec, prior)
        dec = self.reduce_chan_level2(torch.cat([self.up3_2(dec), enc2], 1))
        dec = self.decoder_level2(dec, prior)
        dec = self.decoder_level1(torch.cat([self.up2_1(dec), enc1], 1), prior)
        return self.tail(self.refinement(dec, prior))
