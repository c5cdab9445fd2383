"""Generators: U-Net and ResNet translators, SRResNet, and small MLP / DCGAN generators.

The U-Net and ResNet generators keep the parameter layout of the pix2pix/CycleGAN reference code
(`nn.Sequential` indices included), so its published checkpoints load strictly. Images are in
[-1, 1] for the translators (tanh output) and in [0, 1] for SRResNet (no output squashing).
"""

from __future__ import annotations


import torch
from torch import nn

from .layers import VirtualBatchNorm, conv_bias, log2_int, norm_layer, upsample_layer


class UNetBlock(nn.Module):
    """One level of the U-Net: downsample, the inner levels, upsample, then concatenate the skip."""

    def __init__(
        self,
        outer_channels: int,
        inner_channels: int,
        inner: nn.Module | None = None,
        in_channels: int | None = None,
        outermost: bool = False,
        norm: str = "batch",
        dropout: bool = False,
        upsample: str = "transpose",
    ):
        super().__init__()
        self.outermost = outermost
        bias = conv_bias(norm)
        in_channels = outer_channels if in_channels is None else in_channels
        down = nn.Conv2d(in_channels, inner_channels, 4, stride=2, padding=1, bias=bias)
        if outermost:
            up = upsample_layer(inner_channels * 2, outer_channels, upsample, bias=True)
            layers = [down, inner, nn.ReLU(True), up, nn.Tanh()]
        elif inner is None:  # innermost: nothing to concatenate from below
            up = upsample_layer(inner_channels, outer_channels, upsample, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, norm_layer(norm, outer_channels)]
        else:
            up = upsample_layer(inner_channels * 2, outer_channels, upsample, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, norm_layer(norm, inner_channels), inner,
                      nn.ReLU(True), up, norm_layer(norm, outer_channels)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UNetGenerator(nn.Module):
    """U-Net with skip connections (Ronneberger et al. 2015; pix2pix, Isola et al. 2017).

    `num_downs` = 7 gives unet_128, 8 gives unet_256; inputs must be multiples of 2**num_downs
    (pad before calling for other sizes). Dropout on the innermost 512-channel levels is pix2pix's
    only source of noise.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_downs: int = 8, ngf: int = 64,
                 norm: str = "batch", dropout: bool = True, upsample: str = "transpose"):
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"a U-Net needs at least 5 downsamplings, got num_downs={num_downs}")
        self.multiple = 2**num_downs
        block = UNetBlock(ngf * 8, ngf * 8, norm=norm, upsample=upsample)
        for _ in range(num_downs - 5):
            block = UNetBlock(ngf * 8, ngf * 8, block, norm=norm, dropout=dropout, upsample=upsample)
        for outer in (4, 2, 1):
            block = UNetBlock(ngf * outer, ngf * outer * 2, block, norm=norm, upsample=upsample)
        self.model = UNetBlock(out_channels, ngf, block, in_channels=in_channels, outermost=True,
                               norm=norm, upsample=upsample)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ResidualBlock(nn.Module):
    """Two 3×3 convolutions with reflection padding and an identity skip (Johnson et al. 2016)."""

    def __init__(self, channels: int, norm: str = "instance", dropout: bool = False):
        super().__init__()
        bias = conv_bias(norm)
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), norm_layer(norm, channels),
                  nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), norm_layer(norm, channels)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """Johnson et al. 2016's transformation network as used by CycleGAN: 2 downsamplings, n residual
    blocks, 2 upsamplings. Inputs must be multiples of 4."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, n_blocks: int = 9, ngf: int = 64,
                 norm: str = "instance", dropout: bool = False, upsample: str = "transpose"):
        super().__init__()
        self.multiple = 4
        bias = conv_bias(norm)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias), norm_layer(norm, ngf), nn.ReLU(True)]
        for i in range(2):
            c = ngf * 2**i
            layers += [nn.Conv2d(c, c * 2, 3, stride=2, padding=1, bias=bias), norm_layer(norm, c * 2), nn.ReLU(True)]
        layers += [ResidualBlock(ngf * 4, norm, dropout) for _ in range(n_blocks)]
        for i in range(2):
            c = ngf * 2 ** (2 - i)
            layers += [upsample_layer(c, c // 2, upsample, bias=bias, kernel_size=3), norm_layer(norm, c // 2),
                       nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class SRResidualBlock(nn.Module):
    def __init__(self, channels: int, batch_norm: bool):
        super().__init__()
        norm = (lambda: nn.BatchNorm2d(channels)) if batch_norm else nn.Identity
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=not batch_norm), norm(), nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, padding=1, bias=not batch_norm), norm(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """SRResNet (Ledig et al. 2017): residual blocks at low resolution, then PixelShuffle upsampling.

    Scales 2 and 4 use ×2 sub-pixel stages, scale 3 one ×3 stage. Batch norm is off by default
    (EDSR, Lim et al. 2017, found it hurts PSNR); inputs and outputs are RGB in [0, 1].
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, channels: int = 64, n_blocks: int = 16,
                 scale: int = 4, batch_norm: bool = False):
        super().__init__()
        if scale not in (2, 3, 4, 8):
            raise ValueError(f"SRResNet supports scales 2, 3, 4 and 8, got {scale}")
        self.scale = scale
        self.head = nn.Sequential(nn.Conv2d(in_channels, channels, 9, padding=4), nn.PReLU(channels))
        self.body = nn.Sequential(*[SRResidualBlock(channels, batch_norm) for _ in range(n_blocks)])
        self.body_tail = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=not batch_norm),
                                       nn.BatchNorm2d(channels) if batch_norm else nn.Identity())
        factors = [3] if scale == 3 else [2] * log2_int(scale, "scale")
        upsampling = []
        for factor in factors:
            upsampling += [nn.Conv2d(channels, channels * factor**2, 3, padding=1), nn.PixelShuffle(factor),
                           nn.PReLU(channels)]
        self.upsample = nn.Sequential(*upsampling)
        self.tail = nn.Conv2d(channels, out_channels, 9, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x)
        features = features + self.body_tail(self.body(features))
        return self.tail(self.upsample(features))


OUTPUT_ACTIVATIONS = {"linear": nn.Identity, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


class MLPGenerator(nn.Module):
    """A fully connected generator: latent vector → `out_features` (2-D points, flattened digits...).

    `norm` is none, batch, or virtual (virtual batch norm; wrap the generator in
    `WithReferenceBatch` with a fixed batch of `reference_size` latent vectors). The improved-GAN
    MNIST generator is `activation="softplus", norm="batch", batch_norm_scale=False,
    weight_norm_output=True, output="sigmoid"`.
    """

    def __init__(self, latent_dim: int = 2, out_features: int = 2, hidden: tuple[int, ...] = (128, 128, 128),
                 norm: str = "none", output: str = "linear", reference_size: int = 64, activation: str = "relu",
                 batch_norm_scale: bool = True, weight_norm_output: bool = False):
        super().__init__()
        self.latent_dim = latent_dim
        activations = {"relu": lambda: nn.ReLU(True), "softplus": nn.Softplus}
        if activation not in activations:
            raise ValueError(f"unknown activation {activation!r}: choose {' or '.join(activations)}")
        layers: list[nn.Module] = []
        width = latent_dim
        for h in hidden:
            layers += [nn.Linear(width, h, bias=norm == "none")]
            if norm == "batch":
                layers += [nn.BatchNorm1d(h)]
                if not batch_norm_scale:  # a learned shift only, as in the improved-GAN generator
                    layers[-1].weight.requires_grad_(False)
            elif norm == "virtual":
                layers += [VirtualBatchNorm(h, reference_size)]
            elif norm != "none":
                raise ValueError(f"unknown norm {norm!r} for an MLP: choose none, batch or virtual")
            layers += [activations[activation]()]
            width = h
        last = nn.Linear(width, out_features)
        layers += [nn.utils.parametrizations.weight_norm(last) if weight_norm_output else last,
                   OUTPUT_ACTIVATIONS[output]()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class DCGANGenerator(nn.Module):
    """Radford et al. 2016: transposed convolutions with batch norm from a latent vector to an image
    of `image_size` (a power of two ≥ 8) in [-1, 1]."""

    def __init__(self, latent_dim: int = 100, out_channels: int = 3, image_size: int = 64, ngf: int = 64):
        super().__init__()
        self.latent_dim = latent_dim
        n_up = log2_int(image_size, "image_size") - 2  # 4×4 start, then ×2 per stage
        if n_up < 1:
            raise ValueError(f"image_size must be at least 8, got {image_size}")
        width = ngf * 2 ** (n_up - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(latent_dim, width, 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(width), nn.ReLU(True)]
        for _ in range(n_up - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2),
                       nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, out_channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad H and W up to a multiple (so any image size fits a U-Net); returns the original size."""
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h or pad_w:
        mode = "reflect" if pad_h < h and pad_w < w else "replicate"
        x = nn.functional.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    return x, (h, w)
