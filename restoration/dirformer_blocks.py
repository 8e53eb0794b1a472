"""Building blocks of DiffRIR's DIRformer: Restormer blocks whose inputs are modulated by a prior vector.

Module and attribute names follow DiffRIR's state-dict layout (``norm1.body.weight``,
``attn.kernel.0.weight``, ``ffn.project_in.weight`` ...) so its checkpoints load strictly.
"""

import torch
import torch.nn.functional as F
from torch import nn


class _ChannelNormBody(nn.Module):
    """Layer norm over channels at each pixel. BiasFree scales without centring (no ``bias`` key)."""

    def __init__(self, channels: int, with_bias: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels)) if with_bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, C, H, W]; statistics over C, population variance, eps 1e-5 as trained.
        variance = x.var(dim=1, keepdim=True, unbiased=False)
        weight = self.weight.view(1, -1, 1, 1)
        if self.bias is None:
            return x * torch.rsqrt(variance + 1e-5) * weight
        centred = x - x.mean(dim=1, keepdim=True)
        return centred * torch.rsqrt(variance + 1e-5) * weight + self.bias.view(1, -1, 1, 1)


class ChannelLayerNorm(nn.Module):
    def __init__(self, channels: int, with_bias: bool):
        super().__init__()
        self.body = _ChannelNormBody(channels, with_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class PriorModulation(nn.Module):
    """x * scale + shift, both predicted from the prior vector (``kernel.0`` in the checkpoint)."""

    def __init__(self, channels: int, prior_dim: int):
        super().__init__()
        self.kernel = nn.Sequential(nn.Linear(prior_dim, channels * 2, bias=False))

    def modulate(self, x: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        scale, shift = self.kernel(prior).view(x.shape[0], -1, 1, 1).chunk(2, dim=1)
        return x * scale + shift


class ModulatedChannelAttention(PriorModulation):
    """MDTA: attention across channels (a C/h x C/h map per head), linear in the pixel count."""

    def __init__(self, channels: int, heads: int, prior_dim: int, bias: bool):
        super().__init__(channels, prior_dim)
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(channels, channels * 3, 1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(channels * 3, channels * 3, 3, padding=1, groups=channels * 3, bias=bias)
        self.project_out = nn.Conv2d(channels, channels, 1, bias=bias)

    def forward(self, x: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        x = self.modulate(x, prior)
        q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
        per_head = (batch, self.heads, channels // self.heads, height * width)
        q = F.normalize(q.reshape(per_head), dim=-1)
        k = F.normalize(k.reshape(per_head), dim=-1)
        attn = ((q @ k.transpose(-2, -1)) * self.temperature).softmax(dim=-1)
        out = (attn @ v.reshape(per_head)).reshape(batch, channels, height, width)
        return self.project_out(out)


class ModulatedGatedFeedForward(PriorModulation):
    """GDFN: 1x1 expand to 2*hidden, depthwise 3x3, GELU gate, 1x1 project back."""

    def __init__(self, channels: int, hidden: int, prior_dim: int, bias: bool):
        super().__init__(channels, prior_dim)
        self.project_in = nn.Conv2d(channels, hidden * 2, 1, bias=bias)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, 3, padding=1, groups=hidden * 2, bias=bias)
        self.project_out = nn.Conv2d(hidden, channels, 1, bias=bias)

    def forward(self, x: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        x = self.modulate(x, prior)
        gate, value = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(gate) * value)


class TransformerBlock(nn.Module):
    def __init__(self, channels: int, heads: int, hidden: int, prior_dim: int, bias: bool, norm_bias: bool):
        super().__init__()
        self.norm1 = ChannelLayerNorm(channels, norm_bias)
        self.attn = ModulatedChannelAttention(channels, heads, prior_dim, bias)
        self.norm2 = ChannelLayerNorm(channels, norm_bias)
        self.ffn = ModulatedGatedFeedForward(channels, hidden, prior_dim, bias)

    def forward(self, x: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), prior)
        return x + self.ffn(self.norm2(x), prior)


class TransformerStage(nn.ModuleList):
    """A run of blocks sharing one prior; indexed ``<stage>.<i>.*`` like DiffRIR's nn.Sequential."""

    def forward(self, x: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        for block in self:
            x = block(x, prior)
        return x


class PatchEmbed(nn.Module):
    def __init__(self, in_channels: int, channels: int, bias: bool):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, channels, 3, padding=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Downsample(nn.Module):
    """Halve the resolution, double the channels: conv to C/2 then pixel-unshuffle by 2."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels // 2, 3, padding=1, bias=False),
                                  nn.PixelUnshuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Upsample(nn.Module):
    """Double the resolution, halve the channels: conv to 2C then pixel-shuffle by 2."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels * 2, 3, padding=1, bias=False),
                                  nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def x4_upsampler(channels: int) -> nn.Sequential:
    """Two (conv 3x3 to 4C, pixel-shuffle 2) steps: keys ``0`` and ``2`` carry weights and biases."""
    return nn.Sequential(
        nn.Conv2d(channels, channels * 4, 3, padding=1), nn.PixelShuffle(2),
        nn.Conv2d(channels, channels * 4, 3, padding=1), nn.PixelShuffle(2),
    )
