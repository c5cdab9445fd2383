"""Discriminators. Each returns raw logits (no sigmoid); the losses add what they need.

Every discriminator takes `return_features=True` to also return its hidden activations, which the
feature-matching and discriminator-feature losses use. That goes through `forward` so that it also
works when the network is wrapped by DistributedDataParallel or torch.compile.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from .layers import GaussianNoise, MinibatchDiscrimination, apply_spectral_norm, conv_bias, norm_layer
from .tricks import initialise_from_data


def _run_collecting(layers: nn.Sequential, x: torch.Tensor, return_features: bool, taps: tuple[type, ...]):
    features = []
    for layer in layers:
        x = layer(x)
        if return_features and isinstance(layer, taps):
            features.append(x)
    return (x, features) if return_features else x


class PatchGAN(nn.Module):
    """The PatchGAN of pix2pix (Isola et al. 2017): a fully convolutional net whose every output logit
    judges one receptive-field patch. n_layers=3 gives the 70×70 patch; on 256×256 it outputs 30×30."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "batch",
                 spectral_norm: bool = False):
        super().__init__()
        bias = conv_bias(norm)
        layers = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for n in range(1, n_layers + 1):
            out = ndf * min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(width, out, 4, stride=stride, padding=1, bias=bias), norm_layer(norm, out),
                       nn.LeakyReLU(0.2, True)]
            width = out
        layers += [nn.Conv2d(width, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        return _run_collecting(self.model, x, return_features, (nn.LeakyReLU,))


class PixelGAN(nn.Module):
    """The 1×1 PatchGAN ("PixelGAN"): judges each pixel's colour alone."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, norm: str = "batch", spectral_norm: bool = False):
        super().__init__()
        bias = conv_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, ndf, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias), norm_layer(norm, ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias),
        )
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        return _run_collecting(self.net, x, return_features, (nn.LeakyReLU,))


class MultiScaleDiscriminator(nn.Module):
    """The same discriminator design at several image scales (pix2pixHD, Wang et al. 2018).

    Returns a list of logit maps, finest first; the adversarial losses average over such lists.
    """

    def __init__(self, make_discriminator, num_scales: int = 3):
        super().__init__()
        self.scales = nn.ModuleList([make_discriminator() for _ in range(num_scales)])

    def forward(self, x: torch.Tensor, return_features: bool = False):
        logits, features = [], []
        for i, discriminator in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            out = discriminator(x, return_features=return_features)
            if return_features:
                logits.append(out[0])
                features += out[1]
            else:
                logits.append(out)
        return (logits, features) if return_features else logits


class SRDiscriminator(nn.Module):
    """The VGG-style discriminator of SRGAN (Ledig et al. 2017): eight 3×3 conv layers doubling the
    channels every other layer while halving the resolution, then two dense layers. Global average
    pooling before the dense layers lets it take any input size (SRGAN fixed 96×96)."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, spectral_norm: bool = False):
        super().__init__()
        layers = [nn.Conv2d(in_channels, ndf, 3, padding=1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for i in range(7):
            out = ndf * 2 ** ((i + 1) // 2)
            stride = 2 if i % 2 == 0 else 1
            layers += [nn.Conv2d(width, out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(out),
                       nn.LeakyReLU(0.2, True)]
            width = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 1024),
                                  nn.LeakyReLU(0.2, True), nn.Linear(1024, 1))
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        out = _run_collecting(self.features, x, return_features, (nn.LeakyReLU,))
        if return_features:
            return self.head(out[0]), out[1]
        return self.head(out)


class MLPDiscriminator(nn.Module):
    """A fully connected discriminator or K-class classifier.

    With `num_outputs=1` it is a plain GAN discriminator; with K outputs it is the semi-supervised
    GAN's classifier whose fake class is implicit (Salimans et al. 2016). Optional Gaussian noise on
    the input and after each hidden layer, weight normalisation, and minibatch discrimination
    before the output layer.
    """

    def __init__(self, in_features: int = 2, num_outputs: int = 1, hidden: tuple[int, ...] = (128, 128, 128),
                 input_noise: float = 0.0, hidden_noise: float = 0.0, weight_norm: bool = False,
                 minibatch_discrimination: bool = False, minibatch_kernels: int = 50, spectral_norm: bool = False,
                 activation: str = "leaky_relu", train_hidden_scale: bool = True, direction_std: float = 0.0,
                 relative_hidden_noise: float = 0.0):
        super().__init__()
        wrap = nn.utils.parametrizations.weight_norm if weight_norm else (lambda layer: layer)
        activations = {"leaky_relu": lambda: nn.LeakyReLU(0.2), "relu": nn.ReLU}
        if activation not in activations:
            raise ValueError(f"unknown activation {activation!r}: choose {' or '.join(activations)}")
        layers: list[nn.Module] = [GaussianNoise(input_noise)] if input_noise else []
        width = in_features
        for n, h in enumerate(hidden):
            linear = wrap(nn.Linear(width, h))
            if weight_norm and not train_hidden_scale:
                # the improved-GAN MNIST code keeps each hidden unit's norm where the data init put it
                linear.parametrizations.weight.original0.requires_grad_(False)
            layers += [linear, activations[activation]()]
            # the last hidden layer's noise stays out of `body`: its clean output is what feature matching reads
            if (hidden_noise or relative_hidden_noise) and n < len(hidden) - 1:
                layers += [GaussianNoise(hidden_noise, relative_hidden_noise)]
            width = h
        self.body = nn.Sequential(*layers)
        self.feature_noise = GaussianNoise(hidden_noise, relative_hidden_noise)
        self.minibatch = MinibatchDiscrimination(width, minibatch_kernels) if minibatch_discrimination else None
        self.head = wrap(nn.Linear(self.minibatch.out_features if self.minibatch else width, num_outputs))
        if spectral_norm:
            apply_spectral_norm(self)
        if weight_norm and direction_std > 0:
            self._lengthen_directions(direction_std)

    @torch.no_grad()
    def _lengthen_directions(self, std: float) -> None:
        """Give each weight-normalised layer's direction v the length it has when drawn from N(0, std²)
        (std·√fan_in), keeping its direction and scale: the weights are unchanged, but Adam's steps, about
        the lr per element whatever v's length, turn a longer v more slowly. The improved-GAN code draws v
        from N(0, 0.1²), 3–5× longer than torch's default init for these widths."""
        for layer in [*self.body, self.head]:
            if isinstance(layer, nn.Linear) and parametrize.is_parametrized(layer, "weight"):
                direction = layer.parametrizations.weight.original1
                direction.mul_(std * direction.shape[1] ** 0.5 / direction.norm(dim=1, keepdim=True))

    def forward(self, x: torch.Tensor, return_features: bool = False):
        features = self.body(x.flatten(1))
        hidden = self.feature_noise(features)
        logits = self.head(self.minibatch(hidden) if self.minibatch else hidden)
        return (logits, [features]) if return_features else logits

    def initialise_from_data(self, x: torch.Tensor) -> None:
        """Data-dependent initialisation of the weight-normalised layers (see `initialise_from_data`)."""
        layers = [*self.body, self.feature_noise, *([self.minibatch] if self.minibatch else []), self.head]
        initialise_from_data(layers, x.flatten(1))


class ConvClassifier(nn.Module):
    """A small conv discriminator / K-class classifier for images of any size (global pooling head)."""

    def __init__(self, in_channels: int = 3, num_outputs: int = 1, ndf: int = 64, n_layers: int = 3,
                 input_noise: float = 0.0, dropout: float = 0.0, spectral_norm: bool = False):
        super().__init__()
        layers: list[nn.Module] = [GaussianNoise(input_noise)] if input_noise else []
        width = in_channels
        for n in range(n_layers):
            out = ndf * 2**n
            layers += [nn.Conv2d(width, out, 3, stride=2, padding=1), nn.BatchNorm2d(out) if n else nn.Identity(),
                       nn.LeakyReLU(0.2, True)]
            layers += [nn.Dropout(dropout)] if dropout else []
            width = out
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_outputs)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        pooled = self.body(x).mean((2, 3))
        logits = self.head(pooled)
        return (logits, [pooled]) if return_features else logits
