"""Augmentations built on albumentations, applying identical random parameters to every image of a
sample (the A and B of a pix2pix pair get the same crop and flip).

Randomness is re-seeded per sample from the seed the sampler hands out, so a resumed run or a
DistributedDataParallel rank sees exactly the augmentations the uninterrupted run would have.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations otherwise checks PyPI at import

PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")


def paired_transform(preprocess: str = "resize_and_crop", load_size: int = 286, crop_size: int = 256,
                     flip: bool = True, targets: Sequence[str] = ("target",), multiple: int = 1):
    """An albumentations pipeline; call it as `transform(image=a, target=b)` with the names in `targets`.

    Modes follow pix2pix: `resize_and_crop` resizes to load_size² then takes a random crop_size² crop
    (the paper's random jitter, 286 → 256); `crop` only crops; `scale_width` resizes the width to
    load_size keeping the aspect ratio; `scale_width_and_crop` then crops; `none` leaves the size.
    The modes without a crop reflect-pad the bottom and right edges up to `multiple` (the generator's), as
    inference does: a U-Net fits only multiples of 2^depth.
    """
    import albumentations as A
    import cv2

    if preprocess not in PREPROCESS_MODES:
        raise ValueError(f"unknown preprocess mode {preprocess!r}: choose one of {', '.join(PREPROCESS_MODES)}")
    steps = []
    if preprocess == "resize_and_crop":
        steps.append(A.Resize(load_size, load_size, interpolation=cv2.INTER_CUBIC))
    if preprocess.startswith("scale_width"):
        steps.append(A.SmallestMaxSize(max_size_hw=(None, load_size), interpolation=cv2.INTER_CUBIC))
    if preprocess in ("resize_and_crop", "crop", "scale_width_and_crop"):
        steps.append(A.RandomCrop(crop_size, crop_size, pad_if_needed=True, border_mode=cv2.BORDER_REFLECT_101))
    if preprocess in ("none", "scale_width") and multiple > 1:
        steps.append(A.PadIfNeeded(min_height=None, min_width=None, pad_height_divisor=multiple,
                                   pad_width_divisor=multiple, position="top_left", border_mode=cv2.BORDER_REFLECT_101))
    if flip:
        steps.append(A.HorizontalFlip(p=0.5))
    return A.Compose(steps, additional_targets={name: "image" for name in targets}, seed=0)


def apply_seeded(transform, seed: int, **images: np.ndarray) -> dict[str, np.ndarray]:
    """Run `transform` with its randomness fixed by `seed` (one seed per sample)."""
    transform.set_random_seed(int(seed) % 2**32)
    return transform(**images)


def collate_same_size(samples: list[dict]) -> dict:
    """torch's default_collate, with a one-line error when a batch mixes image sizes (the modes without a
    crop keep each image's size)."""
    from torch.utils.data import default_collate

    from ..errors import UserError

    for name in ("A", "B"):
        sizes = sorted({tuple(sample[name].shape[-2:]) for sample in samples})
        if len(sizes) > 1:
            shown = " and ".join(f"{w}×{h}" for h, w in sizes[:2])
            raise UserError(f"a batch mixes image sizes ({shown}): with a --preprocess that keeps each image's size, "
                            "use --batch-size 1, or a cropping --preprocess (resize_and_crop, crop, "
                            "scale_width_and_crop)")
    return default_collate(samples)
