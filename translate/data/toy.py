"""Toy distributions for the GAN lab: a 1-D Gaussian, the ring of 8 Gaussians, a 5×5 grid.

The ring follows Metz et al. 2017 (unrolled GANs) and VEEGAN (Srivastava et al. 2017): 8 modes on a
circle of radius 2, σ = 0.02. A sample is "high quality" within 3σ of a mode; a mode counts as
covered when at least 1 % of the samples are high-quality samples of that mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import UserError
from .sampling import SampleKey


@dataclass(frozen=True)
class ToyDistribution:
    name: str
    modes: tuple[tuple[float, ...], ...]
    sigma: float

    @property
    def dim(self) -> int:
        return len(self.modes[0])

    def mode_tensor(self) -> torch.Tensor:
        return torch.tensor(self.modes, dtype=torch.float32)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        modes = self.mode_tensor()
        which = torch.randint(len(modes), (n,), generator=generator)
        return modes[which] + self.sigma * torch.randn(n, self.dim, generator=generator)

    def density(self, points: torch.Tensor) -> torch.Tensor:
        """The mixture's probability density at `points` (N×dim)."""
        squared = torch.cdist(points.double(), self.mode_tensor().double()) ** 2
        norm = (2 * math.pi * self.sigma**2) ** (self.dim / 2)
        return (torch.exp(-squared / (2 * self.sigma**2)) / norm).mean(1)

    def extent(self) -> tuple[float, float]:
        values = np.array(self.modes)
        return float(values.min() - 1.0 - 4 * self.sigma), float(values.max() + 1.0 + 4 * self.sigma)


def _ring(n: int, radius: float, sigma: float) -> ToyDistribution:
    modes = tuple((radius * math.cos(2 * math.pi * i / n), radius * math.sin(2 * math.pi * i / n)) for i in range(n))
    return ToyDistribution(f"ring{n}", modes, sigma)


TOY_DISTRIBUTIONS: dict[str, ToyDistribution] = {
    "ring8": _ring(8, 2.0, 0.02),
    "grid25": ToyDistribution("grid25", tuple((float(x), float(y)) for x in range(-4, 5, 2) for y in range(-4, 5, 2)), 0.05),
    "gaussian1d": ToyDistribution("gaussian1d", ((4.0,),), 0.5),
}


def toy_distribution(name: str) -> ToyDistribution:
    if name not in TOY_DISTRIBUTIONS:
        raise UserError(f"unknown toy data {name!r}: the GAN lab's --data is one of {', '.join(TOY_DISTRIBUTIONS)}")
    return TOY_DISTRIBUTIONS[name]


class ToyDataset(Dataset):
    """Endless samples of a toy distribution; each batch is drawn whole from its first key's seed."""

    def __init__(self, distribution: ToyDistribution, length: int = 65536):
        self.distribution, self.length = distribution, length

    def __len__(self) -> int:
        return self.length

    def __getitems__(self, keys: list[SampleKey]) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(keys[0].seed)
        return {"x": self.distribution.sample(len(keys), generator)}

    def __getitem__(self, key: SampleKey) -> dict[str, torch.Tensor]:
        return {"x": self.__getitems__([key])["x"][0]}

    @staticmethod
    def collate(batch: dict) -> dict:
        return batch


def mode_statistics(samples: torch.Tensor, distribution: ToyDistribution, min_share: float = 0.01) -> dict:
    """Modes covered and the share of high-quality samples (within 3σ of the nearest mode)."""
    distances = torch.cdist(samples.float(), distribution.mode_tensor())
    nearest_distance, nearest_mode = distances.min(1)
    good = nearest_distance < 3 * distribution.sigma
    per_mode = torch.bincount(nearest_mode[good], minlength=len(distribution.modes))
    covered = int((per_mode >= max(1, min_share * len(samples))).sum())
    return {"modes_covered": covered, "modes": len(distribution.modes),
            "high_quality": round(float(good.float().mean()), 4), "samples": len(samples)}


def render_samples(samples: torch.Tensor, distribution: ToyDistribution, size: int = 320) -> np.ndarray:
    """An H×W×3 uint8 picture: the data density in blue with each mode's 3σ disc outlined, generated
    samples as orange dots (2-D), or the density curve over a histogram of the samples (1-D)."""
    import cv2

    low, high = distribution.extent()
    canvas = np.full((size, size, 3), 255, np.uint8)
    to_pixel = lambda v: (v - low) / (high - low) * (size - 1)  # noqa: E731
    samples = samples.detach().float().cpu()
    if distribution.dim == 2:
        axis = torch.linspace(low, high, size)
        grid = torch.stack(torch.meshgrid(axis, axis.flip(0), indexing="xy"), -1).view(-1, 2)
        density = distribution.density(grid).view(size, size).float()
        shade = (density / density.max()).clamp(0, 1).pow(0.35).numpy()
        canvas = (255 - shade[..., None] * np.array([200, 140, 30])).astype(np.uint8)
        for x, y in samples.numpy():
            if low <= x <= high and low <= y <= high:
                cv2.circle(canvas, (int(to_pixel(x)), int(size - 1 - to_pixel(y))), 2, (230, 120, 20), -1, cv2.LINE_AA)
        # The 3σ disc of every mode on top, so covered and missed modes both stay visible.
        radius = max(5, int(round(3 * distribution.sigma / (high - low) * size)))
        for x, y in distribution.modes:
            cv2.circle(canvas, (int(to_pixel(x)), int(size - 1 - to_pixel(y))), radius, (40, 90, 200), 1, cv2.LINE_AA)
    else:
        values = samples[:, 0].numpy()
        counts, edges = np.histogram(values, bins=60, range=(low, high))
        counts = counts / (max(len(values), 1) * (edges[1] - edges[0]))  # a density, also when all fall outside
        axis = torch.linspace(low, high, size).view(-1, 1)
        density = distribution.density(axis).numpy()
        top = max(density.max(), counts.max() if len(counts) else 0) * 1.1
        for count, left, right in zip(counts, edges[:-1], edges[1:]):
            y = int(size - 1 - count / top * (size - 1))
            cv2.rectangle(canvas, (int(to_pixel(left)), y), (int(to_pixel(right)), size - 1), (230, 150, 60), -1)
        points = np.stack([np.arange(size), size - 1 - density / top * (size - 1)], 1).astype(np.int32)
        cv2.polylines(canvas, [points], False, (40, 90, 200), 2, cv2.LINE_AA)
    return canvas
