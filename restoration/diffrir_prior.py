"""DiffRIR's prior: CPEN condenses the input into a vector, a 4-step x0-DDPM samples the prior from it."""

import numpy as np
import torch
from torch import nn

from .diffrir_config import DiffRIRConfig


def _leaky() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.1, inplace=True)


class ResBlock(nn.Module):
    """conv-LeakyReLU(0.1)-conv with an identity skip (keys ``body.0`` and ``body.2``): DiffRIR's
    archs/common.py ResBlock with its default activation, which CPEN uses."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), _leaky(),
                                  nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class CPEN(nn.Module):
    """Compact prior extractor: convs and res-blocks, global average pool, 2-layer MLP -> [B, 4F]."""

    def __init__(self, in_channels: int, feats: int, n_res: int):
        super().__init__()
        layers = [nn.Conv2d(in_channels, feats, 3, padding=1), _leaky()]
        layers += [ResBlock(feats) for _ in range(n_res)]
        layers += [nn.Conv2d(feats, feats * 2, 3, padding=1), _leaky(),
                   nn.Conv2d(feats * 2, feats * 2, 3, padding=1), _leaky(),
                   nn.Conv2d(feats * 2, feats * 4, 3, padding=1), _leaky(),
                   nn.AdaptiveAvgPool2d(1)]
        self.E = nn.Sequential(*layers)
        self.mlp = nn.Sequential(nn.Linear(feats * 4, feats * 4), _leaky(), nn.Linear(feats * 4, feats * 4), _leaky())

        # every 3x3 conv of E widens the receptive field by one pixel on each side
        self.receptive_radius = sum(isinstance(m, nn.Conv2d) for m in self.E.modules())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.E(x).flatten(1))

    def pooled_in_tiles(self, x: torch.Tensor, tile: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """forward() over the whole of ``x`` (which may sit on the CPU) with memory bounded by ``tile``:
        each tile's features are computed with a margin of ``receptive_radius`` pixels, so they equal
        the whole-image features, and the global average pool becomes a sum over tile interiors."""
        height, width = x.shape[-2:]
        if tile <= 0 or (height <= tile and width <= tile):
            return self(x.to(device, dtype))
        margin = self.receptive_radius
        features = self.E[:-1]  # everything but the pool
        total = torch.zeros(x.shape[0], self.mlp[0].in_features, device=device, dtype=torch.float32)
        for top in range(0, height, tile):
            for left in range(0, width, tile):
                r0, c0 = max(top - margin, 0), max(left - margin, 0)
                crop = x[..., r0:min(top + tile + margin, height), c0:min(left + tile + margin, width)]
                inner = features(crop.to(device, dtype))[..., top - r0:top - r0 + tile, left - c0:left - c0 + tile]
                total += inner.float().sum(dim=(-2, -1))
        return self.mlp((total / (height * width)).to(dtype))


class _LinearLeaky(nn.Module):
    """Linear + LeakyReLU under the name ``resmlp`` (DiffRIR's "ResMLP", which has no skip)."""

    def __init__(self, features: int):
        super().__init__()
        self.resmlp = nn.Sequential(nn.Linear(features, features), nn.LeakyReLU(0.1, inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resmlp(x)


class PriorDenoiser(nn.Module):
    """Predicts the clean prior x0 from [condition, t / (10 * T), noisy prior]."""

    def __init__(self, prior_dim: int, n_res: int, timesteps: int):
        super().__init__()
        self.time_period = timesteps * 10
        layers = [nn.Linear(prior_dim * 2 + 1, prior_dim), nn.LeakyReLU(0.1, inplace=True)]
        layers += [_LinearLeaky(prior_dim) for _ in range(n_res)]
        self.resmlp = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, t: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        t = (t.to(x.dtype) / self.time_period).view(-1, 1)
        return self.resmlp(torch.cat([condition, t, x], dim=1))


_SCHEDULE_BUFFERS = (
    "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
    "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
    "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
)


def linear_schedule(timesteps: int, start: float, end: float) -> dict[str, np.ndarray]:
    """LDM's "linear" schedule (linear in sqrt(beta)), float64, with v_posterior = 0."""
    betas = np.linspace(start**0.5, end**0.5, timesteps, dtype=np.float64) ** 2
    alphas = 1.0 - betas
    cumprod = np.cumprod(alphas)
    prev = np.append(1.0, cumprod[:-1])
    variance = betas * (1.0 - prev) / (1.0 - cumprod)
    return {
        "betas": betas, "alphas_cumprod": cumprod, "alphas_cumprod_prev": prev,
        "sqrt_alphas_cumprod": np.sqrt(cumprod), "sqrt_one_minus_alphas_cumprod": np.sqrt(1.0 - cumprod),
        "log_one_minus_alphas_cumprod": np.log(1.0 - cumprod),
        "sqrt_recip_alphas_cumprod": np.sqrt(1.0 / cumprod),
        "sqrt_recipm1_alphas_cumprod": np.sqrt(1.0 / cumprod - 1.0),
        "posterior_variance": variance,
        "posterior_log_variance_clipped": np.log(np.maximum(variance, 1e-20)),
        "posterior_mean_coef1": betas * np.sqrt(prev) / (1.0 - cumprod),
        "posterior_mean_coef2": (1.0 - prev) * np.sqrt(alphas) / (1.0 - cumprod),
    }


class PriorDDPM(nn.Module):
    """x0-parameterised DDPM over the prior vector. ``model`` and ``condition`` are the same modules as
    the network's ``denoise`` and ``condition``, which is why checkpoints hold every weight twice."""

    def __init__(self, denoiser: PriorDenoiser, condition: CPEN, config: DiffRIRConfig):
        super().__init__()
        self.model = denoiser
        self.condition = condition
        self.prior_dim = config.prior_dim
        schedule = linear_schedule(config.timesteps, config.linear_start, config.linear_end)
        for name in _SCHEDULE_BUFFERS:
            self.register_buffer(name, torch.tensor(schedule[name], dtype=torch.float32))

    def sample(self, features: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The prior for network-resolution ``features`` (what CPEN sees), from ``noise`` [B, prior_dim]."""
        return self.sample_from_condition(self.condition(features), noise)

    def sample_from_condition(self, condition: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Reverse steps T-1..0 from ``noise``; each step returns the posterior mean with no noise added
        (as DiffRIR does), so the result is a deterministic function of ``noise``."""
        prior = noise.to(device=condition.device, dtype=condition.dtype)
        for step in reversed(range(self.betas.shape[0])):
            t = torch.full((prior.shape[0],), step, device=condition.device, dtype=torch.long)
            x0 = self.model(prior, t, condition)
            prior = self.posterior_mean_coef1[step] * x0 + self.posterior_mean_coef2[step] * prior
        return prior
