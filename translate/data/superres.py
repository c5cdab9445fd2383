"""Super-resolution data: MATLAB-style bicubic resizing, the Y-channel protocol, and HR → LR training pairs.

The SR literature makes LR images with MATLAB's `imresize(hr, 1/scale, 'bicubic')` (antialiased) and
scores PSNR/SSIM on the BT.601 luma channel with `scale` pixels cropped from each border. `imresize`
here reproduces MATLAB's kernel, antialiasing and mirrored borders, so published numbers compare.

Training data is a folder of HR images (LR made on the fly) or an `HR/` + `LR_bicubic/X{scale}/`
layout (the Set5/Set14 benchmark layout).
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import UserError
from .images import image_to_tensor, list_images, read_image


def _cubic(x: torch.Tensor) -> torch.Tensor:
    """Keys' cubic convolution kernel with a = −0.5 (MATLAB's 'bicubic')."""
    ax = x.abs()
    ax2, ax3 = ax**2, ax**3
    return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


@lru_cache(maxsize=64)
def _resize_matrix(in_length: int, out_length: int, scale: float, antialias: bool = True) -> torch.Tensor:
    """(out_length × in_length) weights of MATLAB's imresize along one axis (float64)."""
    kernel_width = 4.0
    widen = antialias and scale < 1
    if widen:  # a wider, lower kernel: the low-pass filter that antialiasing needs
        kernel_width /= scale
    x = torch.arange(1, out_length + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)  # output pixel centres in input coordinates (1-based)
    left = torch.floor(u - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    indices = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]
    distance = u[:, None] - indices
    weights = scale * _cubic(distance * scale) if widen else _cubic(distance)
    weights = weights / weights.sum(1, keepdim=True)
    # Taps beyond the border repeat the edge pixel. This is what reproduces the benchmarks' LR files
    # (Set5/Set14 LR_bicubic: ≤ 1 level off, 0.05 % of pixels); mirroring is 3–12 levels off at the edges.
    columns = (indices - 1).clamp(0, in_length - 1).long()
    matrix = torch.zeros(out_length, in_length, dtype=torch.float64)
    matrix.scatter_add_(1, columns, weights)
    return matrix


def imresize(image: torch.Tensor, scale: float | None = None, size: tuple[int, int] | None = None,
             antialias: bool = True, round_between: bool = False) -> torch.Tensor:
    """MATLAB `imresize(image, scale, 'bicubic')` for float tensors (…, H, W); no clamping or rounding.

    Give `scale` (the output size is ceil(scale · input), as in MATLAB) or an explicit `size` (H, W).
    Rows are resized first, then columns, as MATLAB does for equal scales. `round_between` rounds the
    intermediate result to 8-bit levels, as MATLAB does for uint8 images.
    """
    height, width = image.shape[-2:]
    if size is None:
        if scale is None:
            raise ValueError("give scale or size")
        size = (math.ceil(height * scale), math.ceil(width * scale))
        scales = (scale, scale)
    else:
        scales = (size[0] / height, size[1] / width)
    dtype = image.dtype if image.is_floating_point() else torch.float32
    rows = _resize_matrix(height, size[0], scales[0], antialias).to(image.device, torch.float64)
    cols = _resize_matrix(width, size[1], scales[1], antialias).to(image.device, torch.float64)
    out = torch.matmul(rows, image.to(torch.float64))
    if round_between:
        out = out.round().clamp(0, 255)
    out = torch.matmul(out, cols.T)
    return out.to(dtype)


def bicubic_downscale(hr: np.ndarray, scale: int) -> np.ndarray:
    """uint8 HWC HR → uint8 LR exactly as the benchmarks' LR_bicubic folders are made."""
    tensor = torch.from_numpy(np.array(hr)).permute(2, 0, 1).double()
    lr = imresize(tensor, 1 / scale, round_between=True)
    return lr.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def hr_to_lr(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """A batch of HR images (N, 3, H, W) in [0, 1] → their LR, as `bicubic_downscale` makes it (8-bit levels)."""
    lr = imresize((hr.double() * 255).round(), 1 / scale, round_between=True)
    return (lr.round().clamp(0, 255) / 255).to(hr.dtype)


def bicubic_upscale(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """The bicubic baseline: (N, C, h, w) in [0, 1] → (N, C, h·s, w·s), clamped."""
    return imresize(lr, scale).clamp(0, 1)


def rgb_to_y(rgb: torch.Tensor) -> torch.Tensor:
    """BT.601 luma in [16, 235] (MATLAB's rgb2ycbcr) from RGB in [0, 1]; (N, 3, H, W) → (N, 1, H, W)."""
    weights = torch.tensor([65.481, 128.553, 24.966], dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return 16.0 + (rgb * weights).sum(1, keepdim=True)


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop H and W down to multiples of `scale` (top-left kept), as the benchmark protocol does."""
    h, w = image.shape[:2]
    return image[: h - h % scale, : w - w % scale]


def sr_scores(sr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict[str, float]:
    """PSNR/SSIM on Y (border of `scale` px cropped) and RGB PSNR, for (1, 3, H, W) images in [0, 1].

    The SR image is first quantised to 8 bits, as a saved result would be. SSIM is Wang et al.'s
    (11×11 Gaussian window, σ 1.5, K1 0.01, K2 0.03) on Y in [0, 255], over 'valid' windows only.
    """
    from kornia.metrics import ssim

    sr = (sr.clamp(0, 1) * 255).round() / 255
    sr, hr = sr.double(), hr.double()
    c = scale
    sr_y, hr_y = rgb_to_y(sr)[..., c:-c, c:-c], rgb_to_y(hr)[..., c:-c, c:-c]
    psnr_y = 10 * torch.log10(255.0**2 / ((sr_y - hr_y) ** 2).mean()).item()
    ssim_y = ssim(sr_y, hr_y, 11, max_val=255.0, padding="valid").mean().item()
    rgb_error = ((sr - hr)[..., c:-c, c:-c] * 255) ** 2
    psnr_rgb = 10 * torch.log10(255.0**2 / rgb_error.mean()).item()
    return {"psnr_y": psnr_y, "ssim_y": ssim_y, "psnr_rgb": psnr_rgb}


def find_sr_images(root: str | Path, scale: int) -> list[tuple[Path, Path | None]]:
    """(HR, LR or None) file pairs: `root/HR` + `root/LR_bicubic/X{scale}` matched by name, or any folder
    of HR images (LR then made by bicubic downscaling)."""
    root = Path(root)
    if not root.exists():
        raise UserError(f"{root}: no such folder")
    if (root / "HR").is_dir():
        hr_files = list_images(root / "HR", what="HR images")
        lr_dir = root / "LR_bicubic" / f"X{scale}"
        if lr_dir.is_dir():
            lr_files = {p.stem: p for p in list_images(lr_dir, what="LR images")}
            missing = [p.name for p in hr_files if p.stem not in lr_files]
            if missing:
                raise UserError(f"{lr_dir}: no LR image for {', '.join(missing[:10])}; add them or remove "
                                f"{lr_dir} to make LR images by bicubic downscaling")
            return [(p, lr_files[p.stem]) for p in hr_files]
        return [(p, None) for p in hr_files]
    folder = root / "images" if (root / "images").is_dir() else root
    return [(p, None) for p in list_images(folder, what="HR images")]


def load_sr_pair(hr_path: Path, lr_path: Path | None, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB (HR cropped to a multiple of scale, LR) as the evaluation protocol wants them."""
    hr = modcrop(read_image(hr_path), scale)
    if hr.shape[0] < scale or hr.shape[1] < scale:
        raise UserError(f"{hr_path}: {hr.shape[1]}×{hr.shape[0]} is too small for ×{scale}")
    if lr_path is None:
        return hr, bicubic_downscale(hr, scale)
    lr = read_image(lr_path)
    if (lr.shape[0] * scale, lr.shape[1] * scale) != hr.shape[:2]:
        raise UserError(f"{lr_path}: {lr.shape[1]}×{lr.shape[0]} is not 1/{scale} of its HR image "
                        f"{hr_path.name} ({hr.shape[1]}×{hr.shape[0]} after cropping to a multiple of {scale})")
    return hr, lr


class SRImages(Dataset):
    """Random HR crops with flips and 90° rotations, and their LR made on the fly (or cropped from the
    given LR images). Samples are {"hr": (3, h·s, w·s)} in [0, 1], plus "lr": (3, h, w) when LR files are
    given or degradations are on; otherwise `hr_to_lr` makes the LR batch on the training device.

    HR images are decoded once and kept in memory (T91 is 16 MB). Images smaller than the crop are
    left out with a warning; an error if none is left. `degrade` adds camera-like degradations to the
    LR side (blur, noise, JPEG) for fine-tuning on real photos; `rescale_min` < 1 first shrinks each
    HR crop's source by a random factor in [rescale_min, 1] (scale augmentation, as VDSR trained).
    """

    def __init__(self, root: str | Path, scale: int = 4, hr_crop: int = 96, augment: bool = True,
                 degrade: bool = False, rescale_min: float = 1.0):
        if hr_crop % scale:
            raise UserError(f"--hr-crop {hr_crop} is not a multiple of --scale {scale}")
        if not 0 < rescale_min <= 1:
            raise UserError(f"--rescale-min {rescale_min} must be in (0, 1]")
        self.scale, self.hr_crop, self.augment, self.rescale_min = scale, hr_crop, augment, rescale_min
        pairs = find_sr_images(root, scale)
        self.images, small = [], []
        for hr_path, lr_path in pairs:
            hr = modcrop(read_image(hr_path), scale)
            if min(hr.shape[:2]) < hr_crop:
                small.append(hr_path.name)
                continue
            lr = None if lr_path is None else load_sr_pair(hr_path, lr_path, scale)[1]
            self.images.append((hr, lr))
        if small:
            print(f"warning: {len(small)} image(s) smaller than the {hr_crop}px HR crop left out: "
                  f"{', '.join(small[:8])}{' ...' if len(small) > 8 else ''}")
        if not self.images:
            raise UserError(f"{root}: no image is at least {hr_crop}×{hr_crop}; lower --hr-crop")
        self.degradation = _camera_degradations() if degrade else None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key) -> dict[str, torch.Tensor]:
        index, seed = key if isinstance(key, tuple) else (key, key)
        rng = np.random.default_rng(seed)
        hr, lr = self.images[index]
        s, crop = self.scale, self.hr_crop
        if lr is None and self.rescale_min < 1:
            # scale augmentation (VDSR): a random downscale of the HR image gives new detail sizes
            import cv2

            factor = float(rng.uniform(self.rescale_min, 1.0))
            source = min(hr.shape[0], hr.shape[1], int(crop / factor))
            y, x = (int(rng.integers(0, hr.shape[i] - source + 1)) for i in (0, 1))
            hr = cv2.resize(hr[y:y + source, x:x + source], (crop, crop), interpolation=cv2.INTER_AREA)
        # crop on the LR grid so that a given LR image stays aligned with its HR crop
        y = int(rng.integers(0, (hr.shape[0] - crop) // s + 1)) * s
        x = int(rng.integers(0, (hr.shape[1] - crop) // s + 1)) * s
        hr_patch = hr[y:y + crop, x:x + crop]
        lr_patch = None if lr is None else lr[y // s:(y + crop) // s, x // s:(x + crop) // s]
        if self.augment:
            flip, turns = bool(rng.integers(2)), int(rng.integers(4))
            hr_patch = _orient(hr_patch, flip, turns)
            lr_patch = None if lr_patch is None else _orient(lr_patch, flip, turns)
        to_tensor = lambda a: image_to_tensor(np.ascontiguousarray(a), (0.0, 1.0))  # noqa: E731
        if lr_patch is None and self.degradation is None:
            return {"hr": to_tensor(hr_patch)}  # the LR is made on the training device (`hr_to_lr`): faster
        if lr_patch is None:
            lr_patch = bicubic_downscale(hr_patch, s)
        if self.degradation is not None:
            self.degradation.set_random_seed(int(seed) % 2**32)
            lr_patch = self.degradation(image=lr_patch)["image"]
        return {"lr": to_tensor(lr_patch), "hr": to_tensor(hr_patch)}


def _orient(image: np.ndarray, flip: bool, turns: int) -> np.ndarray:
    image = image[:, ::-1] if flip else image
    return np.rot90(image, turns)


def _camera_degradations():
    """Blur, sensor noise and JPEG artefacts on the LR side (Real-ESRGAN's idea, one pass)."""
    import os

    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import albumentations as A

    return A.Compose([
        A.GaussianBlur(blur_limit=(3, 7), sigma_limit=(0.2, 1.5), p=0.5),
        A.GaussNoise(std_range=(0.01, 0.05), p=0.5),
        A.ImageCompression(quality_range=(40, 95), p=0.5),
    ], seed=0)
