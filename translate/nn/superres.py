"""Super-resolution networks whose parameter names match BasicSR / Real-ESRGAN checkpoints.

Their published weights (`{'params': ..., 'params_ema': ...}` files) load strictly into these, so users
can run that model zoo here. All take RGB in [0, 1] and return RGB nominally in [0, 1], unclamped.

- `MSRResNet`: SRResNet without batch norm (Wang et al. 2018), bilinear global skip.
- `RRDBNet`: ESRGAN's Residual-in-Residual Dense Block network (Real-ESRGAN x4plus: 23 blocks).
- `SRVGGNetCompact`: Real-ESRGAN's small VGG-style net (realesr-general-x4v3), nearest global skip.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _ResidualBlockNoBN(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class MSRResNet(nn.Module):
    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 16,
                 upscale: int = 4):
        super().__init__()
        if upscale not in (2, 3, 4):
            raise ValueError(f"MSRResNet supports scales 2, 3 and 4, got {upscale}")
        self.scale = upscale
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, padding=1)
        self.body = nn.Sequential(*[_ResidualBlockNoBN(num_feat) for _ in range(num_block)])
        factor = 3 if upscale == 3 else 2
        self.upconv1 = nn.Conv2d(num_feat, num_feat * factor**2, 3, padding=1)
        if upscale == 4:
            self.upconv2 = nn.Conv2d(num_feat, num_feat * 4, 3, padding=1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = lambda t: F.leaky_relu(t, 0.1)  # noqa: E731
        out = self.body(act(self.conv_first(x)))
        out = act(F.pixel_shuffle(self.upconv1(out), 3 if self.scale == 3 else 2))
        if self.scale == 4:
            out = act(F.pixel_shuffle(self.upconv2(out), 2))
        out = self.conv_last(act(self.conv_hr(out)))
        return out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)


class _ResidualDenseBlock(nn.Module):
    def __init__(self, num_feat: int, num_grow_ch: int):
        super().__init__()
        for i in range(1, 6):
            out = num_feat if i == 5 else num_grow_ch
            setattr(self, f"conv{i}", nn.Conv2d(num_feat + (i - 1) * num_grow_ch, out, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for i in range(1, 5):
            features.append(F.leaky_relu(getattr(self, f"conv{i}")(torch.cat(features, 1)), 0.2))
        return x + 0.2 * self.conv5(torch.cat(features, 1))  # residual scaling 0.2, as in ESRGAN


class _RRDB(nn.Module):
    def __init__(self, num_feat: int, num_grow_ch: int):
        super().__init__()
        self.rdb1 = _ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = _ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = _ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(nn.Module):
    """ESRGAN's generator. Scales 1 and 2 pixel-unshuffle the input first (as Real-ESRGAN does)."""

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, scale: int = 4, num_feat: int = 64,
                 num_block: int = 23, num_grow_ch: int = 32):
        super().__init__()
        if scale not in (1, 2, 4):
            raise ValueError(f"RRDBNet supports scales 1, 2 and 4, got {scale}")
        self.scale = scale
        self.unshuffle = {1: 4, 2: 2, 4: 1}[scale]
        self.conv_first = nn.Conv2d(num_in_ch * self.unshuffle**2, num_feat, 3, padding=1)
        self.body = nn.Sequential(*[_RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, padding=1)

    @property
    def multiple(self) -> int:
        return self.unshuffle

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        features = self.conv_first(x)
        features = features + self.conv_body(self.body(features))
        features = act(self.conv_up1(F.interpolate(features, scale_factor=2, mode="nearest")))
        features = act(self.conv_up2(F.interpolate(features, scale_factor=2, mode="nearest")))
        return self.conv_last(act(self.conv_hr(features)))


class SRVGGNetCompact(nn.Module):
    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_conv: int = 32,
                 upscale: int = 4, act_type: str = "prelu"):
        super().__init__()
        activations = {"prelu": lambda: nn.PReLU(num_feat), "relu": lambda: nn.ReLU(),
                       "leakyrelu": lambda: nn.LeakyReLU(0.1)}
        if act_type not in activations:
            raise ValueError(f"unknown act_type {act_type!r}: choose one of {', '.join(activations)}")
        self.scale = upscale
        layers = [nn.Conv2d(num_in_ch, num_feat, 3, padding=1), activations[act_type]()]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, padding=1), activations[act_type]()]
        layers.append(nn.Conv2d(num_feat, num_out_ch * upscale**2, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.pixel_shuffle(self.body(x), self.scale)
        return out + F.interpolate(x, scale_factor=self.scale, mode="nearest")
