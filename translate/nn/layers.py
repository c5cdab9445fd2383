"""Layers shared by the generators and discriminators: norms, noise, minibatch statistics, init."""

from __future__ import annotations

import math

import torch
from torch import nn

NORMS = ("batch", "instance", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """A 2-D normalisation layer by name.

    Instance norm keeps no running statistics and has no affine parameters, as in the pix2pix/CycleGAN
    reference code, so checkpoints from that code load into our networks without renaming.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}: choose one of {', '.join(NORMS)}")


def conv_bias(norm: str) -> bool:
    """Whether a convolution that feeds `norm` needs its own bias.

    Batch norm's shift makes a bias redundant. The reference code also drops it for `none`, and we
    follow it there so that its checkpoints load strictly.
    """
    return norm == "instance"


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectrally normalise every convolution and linear layer in `module` (Miyato et al. 2018)."""
    for name, child in module.named_children():
        if isinstance(child, (nn.Conv2d, nn.Linear, nn.ConvTranspose2d)):
            setattr(module, name, nn.utils.parametrizations.spectral_norm(child))
        else:
            apply_spectral_norm(child)
    return module


INITIALISERS = ("normal", "xavier", "kaiming", "orthogonal")


@torch.no_grad()
def init_weights(module: nn.Module, kind: str = "normal", gain: float = 0.02) -> nn.Module:
    """Initialise convolution and linear weights in place; biases start at zero.

    `normal` draws N(0, gain) as in DCGAN and pix2pix; batch-norm scales are drawn around 1.
    """
    if kind not in INITIALISERS:
        raise ValueError(f"unknown initialiser {kind!r}: choose one of {', '.join(INITIALISERS)}")
    for layer in module.modules():
        weight = getattr(layer, "weight", None)
        if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and weight is not None:
            if kind == "normal":
                nn.init.normal_(weight, 0.0, gain)
            elif kind == "xavier":
                nn.init.xavier_normal_(weight, gain=gain)
            elif kind == "kaiming":
                nn.init.kaiming_normal_(weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(weight, gain=gain)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)) and layer.affine:
            nn.init.normal_(layer.weight, 1.0, gain)
            nn.init.zeros_(layer.bias)
    return module


class GaussianNoise(nn.Module):
    """Adds N(0, sigma²) noise in training mode only (the semi-supervised GAN's discriminator).

    With `relative_sigma` the noise's std per feature becomes sqrt(sigma² + (relative_sigma·s)²), where s is that
    feature's std over the batch (no gradient flows through s): a layer that grows its outputs cannot outgrow it.
    """

    def __init__(self, sigma: float, relative_sigma: float = 0.0):
        super().__init__()
        self.sigma = sigma
        self.relative_sigma = relative_sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or (self.sigma <= 0 and self.relative_sigma <= 0):
            return x
        # drawn in float32 even under bf16 autocast: the CPU's bf16 normal sampler is ~2× slower
        noise = torch.randn(x.shape, device=x.device, dtype=torch.float32 if x.dtype == torch.bfloat16 else x.dtype)
        if self.relative_sigma > 0 and x.shape[0] > 1:
            # the variance from the first two moments: torch's std over dim 0 is 8-15x slower on CPU (BENCHMARKS.md)
            values = x.detach().float()
            mean = values.mean(0, keepdim=True)
            variance = ((values * values).mean(0, keepdim=True) - mean * mean).clamp_min(0)
            scale = (self.sigma**2 + self.relative_sigma**2 * variance).sqrt()
            return x + (scale * noise).to(x.dtype)
        return torch.add(x, noise.to(x.dtype), alpha=self.sigma)  # the scaling fused into the add

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}" + (f", relative_sigma={self.relative_sigma}" if self.relative_sigma else "")


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016, §3.2: lets the discriminator see how close a sample is to the rest of the batch.

    Each sample's features are projected to `num_kernels` rows of length `kernel_dim`; for each kernel
    the output is Σ_j exp(-‖M_i − M_j‖₁) over the other samples j, appended to the input features.
    A collapsed generator makes these sums large, which the discriminator can then penalise.
    """

    def __init__(self, in_features: int, num_kernels: int = 50, kernel_dim: int = 5):
        super().__init__()
        self.num_kernels, self.kernel_dim = num_kernels, kernel_dim
        self.projection = nn.Parameter(torch.randn(in_features, num_kernels * kernel_dim) * 0.1)
        self.out_features = in_features + num_kernels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = (x.flatten(1) @ self.projection).view(-1, self.num_kernels, self.kernel_dim).transpose(0, 1)
        distances = torch.cdist(rows, rows, p=1)  # (kernels, B, B) L1 distances, without a B×B×K×D temporary
        closeness = (torch.exp(-distances).sum(2) - 1.0).transpose(0, 1)  # drop each sample's match with itself
        return torch.cat([x.flatten(1), closeness], dim=1)


class VirtualBatchNorm(nn.Module):
    """Virtual batch normalisation (Salimans et al. 2016, §3.4).

    The first `reference_size` rows of every input are a reference batch fixed at the start of
    training; every other example is normalised with the statistics of the reference batch plus
    itself, so one example's output never depends on the rest of its minibatch.
    Works for (N, C) and (N, C, H, W) inputs. Use `WithReferenceBatch` to prepend the reference.
    """

    def __init__(self, num_features: int, reference_size: int, eps: float = 1e-5):
        super().__init__()
        self.reference_size, self.eps = reference_size, eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.reference_size
        if x.shape[0] <= n:
            raise ValueError(f"VirtualBatchNorm expects the {n} reference rows first, then the batch")
        dims = [0] + list(range(2, x.dim()))
        reference, batch = x[:n], x[n:]
        ref_mean = reference.mean(dims, keepdim=True)
        ref_sq = (reference * reference).mean(dims, keepdim=True)
        spatial = list(range(2, x.dim()))
        own_mean = batch.mean(spatial, keepdim=True) if spatial else batch
        own_sq = (batch * batch).mean(spatial, keepdim=True) if spatial else batch * batch
        mix = 1.0 / (n + 1)
        mean = (1 - mix) * ref_mean + mix * own_mean
        var = (1 - mix) * ref_sq + mix * own_sq - mean * mean
        shape = [1, -1] + [1] * (x.dim() - 2)
        scale, shift = self.weight.view(shape), self.bias.view(shape)
        ref_out = (reference - ref_mean) / torch.sqrt(ref_sq - ref_mean**2 + self.eps)
        out = (batch - mean) / torch.sqrt(var.clamp_min(0) + self.eps)
        return torch.cat([ref_out, out]) * scale + shift


class WithReferenceBatch(nn.Module):
    """Runs `network` on [reference batch; x] and returns only the rows of x (for VirtualBatchNorm)."""

    def __init__(self, network: nn.Module, reference: torch.Tensor):
        super().__init__()
        self.network = network
        self.register_buffer("reference", reference.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.network(torch.cat([self.reference.to(x.dtype), x]))
        return out[self.reference.shape[0] :]


UPSAMPLING = ("transpose", "resize")


def upsample_layer(in_channels: int, out_channels: int, mode: str, bias: bool, kernel_size: int = 4) -> nn.Module:
    """A ×2 upsampling convolution.

    `transpose` is the classic strided transposed convolution. `resize` is nearest-neighbour
    upsampling followed by a 3×3 convolution, which avoids the checkerboard artifacts of uneven
    kernel overlap (Odena, Dumoulin & Olah 2016, "Deconvolution and Checkerboard Artifacts").
    """
    if mode == "transpose":
        if kernel_size == 4:
            return nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=bias)
        return nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1, bias=bias)
    if mode == "resize":
        return nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.ReflectionPad2d(1),
            nn.Conv2d(in_channels, out_channels, 3, bias=bias),
        )
    raise ValueError(f"unknown upsampling {mode!r}: choose one of {', '.join(UPSAMPLING)}")


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def log2_int(value: int, what: str) -> int:
    exponent = int(round(math.log2(value)))
    if 2**exponent != value:
        raise ValueError(f"{what} must be a power of two, got {value}")
    return exponent
