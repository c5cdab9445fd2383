"""Fréchet and kernel Inception distances from a local Inception-v3 weights file.

FID (Heusel et al. 2017) is the Fréchet distance between Gaussians fitted to the 2048-d pool features
of real and generated images; KID (Bińkowski et al. 2018) is the unbiased squared MMD between the
same features under the cubic polynomial kernel, averaged over random subsets. KID is unbiased, so
it stays meaningful for the few dozen held-out images a paired data set has; FID from fewer than
2048 images is dominated by its bias and only compares runs scored on the same images.

Nothing is downloaded. Two files work:
- torchvision's ImageNet weights (`inception_v3_google-*.pth`, 1000 classes);
- the TensorFlow FID network as converted by pytorch-fid (`pt_inception-2015-12-05-*.pth`, 1008
  classes), the one published FID numbers use. That network differs from torchvision's in its pooling
  branches (per pytorch-fid's documentation of its FIDInception blocks): average pools ignore the
  zero padding, and the last block max-pools.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .errors import UserError, unreadable_torch_file

FEATURES = 2048


class _ExcludePaddingFromAverage(nn.Module):
    """Wraps a pool branch's conv: turns the zero-padded 3×3 average it receives into the average over
    the in-image pixels only (divides by the in-image fraction of each window)."""

    def __init__(self, conv: nn.Module):
        super().__init__()
        self.conv = conv

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        ones = torch.ones(1, 1, *pooled.shape[-2:], device=pooled.device, dtype=pooled.dtype)
        return self.conv(pooled / F.avg_pool2d(ones, 3, stride=1, padding=1))


class _MaxPoolBranch(nn.Module):
    """Wraps the last block's pool-branch conv so that it sees a 3×3 max pool of the block's input
    (kept by a pre-hook on the block) instead of the average pool it is handed."""

    def __init__(self, conv: nn.Module, block: nn.Module):
        super().__init__()
        self.conv, self.block_input = conv, None
        block.register_forward_pre_hook(self._keep_input)

    def _keep_input(self, module, args) -> None:
        self.block_input = args[0]

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.conv(F.max_pool2d(self.block_input, 3, stride=1, padding=1))


def load_inception(path: str | Path) -> nn.Module:
    """An Inception-v3 feature extractor ((N, 3, H, W) in [0, 1] → (N, 2048)) from a local file."""
    from torchvision.models import inception_v3

    path = Path(path)
    if not path.is_file():
        raise UserError(f"--inception {path}: no such file (give a local Inception-v3 .pth, e.g. torchvision's "
                        "inception_v3_google-*.pth or pytorch-fid's pt_inception-2015-12-05-*.pth)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise UserError(f"--inception {path}: not a readable PyTorch weights file "
                        f"({unreadable_torch_file(error)})") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict) or "fc.weight" not in state or "Mixed_7c.branch_pool.conv.weight" not in state:
        raise UserError(f"--inception {path}: not an Inception-v3 state_dict (no fc.weight / Mixed_7c keys)")
    classes = state["fc.weight"].shape[0]
    network = inception_v3(weights=None, aux_logits=any(k.startswith("AuxLogits.") for k in state),
                           num_classes=classes, transform_input=False, init_weights=False)
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        raise UserError(f"--inception {path}: the keys or shapes do not match Inception-v3 "
                        f"({str(error).splitlines()[0]})") from None
    if classes == 1008:  # the TensorFlow FID graph
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7b"):
            block = getattr(network, name)
            block.branch_pool = _ExcludePaddingFromAverage(block.branch_pool)
        network.Mixed_7c.branch_pool = _MaxPoolBranch(network.Mixed_7c.branch_pool, network.Mixed_7c)
    network.fc = nn.Identity()  # the 2048-d pool features are what both distances use
    network.AuxLogits = None
    return network.eval()


@torch.no_grad()
def inception_features(network: nn.Module, images: list[torch.Tensor], batch_size: int = 16) -> torch.Tensor:
    """(N, 2048) float64 features of (3, H, W) images in [0, 1], each resized to 299×299 (bilinear)."""
    device = next(network.parameters()).device
    features = []
    for start in range(0, len(images), batch_size):
        batch = torch.stack([F.interpolate(image[None].float(), size=(299, 299), mode="bilinear",
                                           align_corners=False)[0] for image in images[start:start + batch_size]])
        features.append(network(batch.to(device) * 2 - 1).double().cpu())
    return torch.cat(features)


def frechet_distance_from_statistics(mean_a: torch.Tensor, cov_a: torch.Tensor, mean_b: torch.Tensor,
                                     cov_b: torch.Tensor) -> float:
    """‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^½), with Tr (Σa Σb)^½ from the eigenvalues of the symmetric
    Σa^½ Σb Σa^½ (same spectrum, and stable where Σ is singular, as it is for N < 2048 images)."""
    values, vectors = torch.linalg.eigh(cov_a.double())
    root_a = vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T
    middle = root_a @ cov_b.double() @ root_a
    trace_root = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    distance = (mean_a - mean_b).double().pow(2).sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * trace_root
    return float(distance)


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    if min(len(features_a), len(features_b)) < 2:
        raise ValueError("FID needs at least 2 images on each side")
    return frechet_distance_from_statistics(features_a.mean(0), torch.cov(features_a.T),
                                            features_b.mean(0), torch.cov(features_b.T))


def kernel_inception_distance(features_a: torch.Tensor, features_b: torch.Tensor, subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Mean and standard deviation over random subsets of the unbiased MMD² with k(x, y) = (x·y/d + 1)³."""
    size = min(len(features_a), len(features_b), subset_size)
    if size < 2:
        raise ValueError("KID needs at least 2 images on each side")
    generator = torch.Generator().manual_seed(seed)
    dimension = features_a.shape[1]
    estimates = []
    for _ in range(subsets):
        a = features_a[torch.randperm(len(features_a), generator=generator)[:size]].double()
        b = features_b[torch.randperm(len(features_b), generator=generator)[:size]].double()
        k_aa, k_bb, k_ab = ((x @ y.T / dimension + 1) ** 3 for x, y in ((a, a), (b, b), (a, b)))
        off_diagonal = size * (size - 1)
        estimates.append((k_aa.sum() - k_aa.diagonal().sum()) / off_diagonal
                         + (k_bb.sum() - k_bb.diagonal().sum()) / off_diagonal - 2 * k_ab.mean())
    values = torch.stack(estimates)
    return float(values.mean()), float(values.std(correction=0))


def fid_kid(network: nn.Module, real: list[torch.Tensor], fake: list[torch.Tensor]) -> dict[str, float]:
    """FID, KID and KID's spread over subsets between two lists of (3, H, W) images in [0, 1]."""
    features_real, features_fake = inception_features(network, real), inception_features(network, fake)
    kid, kid_std = kernel_inception_distance(features_real, features_fake)
    return {"fid": round(frechet_distance(features_real, features_fake), 4), "kid": round(kid, 6),
            "kid_std": round(kid_std, 6)}
