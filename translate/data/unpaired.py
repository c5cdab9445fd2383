"""Unpaired data for CycleGAN: two image collections, no correspondence between them.

Layouts: a root with `trainA/ trainB/` (also `testA/ testB/`, the classic CycleGAN layout), or two
folders given separately (`--data DIR_A --data-b DIR_B`). Each side is augmented with its own random
parameters; side B is drawn serially (image i with image i) or at random per sample.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from ..errors import UserError
from .images import image_to_tensor, list_images, read_image
from .sampling import SampleKey, _mix
from .transforms import apply_seeded, collate_same_size, paired_transform


def find_domains(root: str | Path, root_b: str | Path = "", split: str = "train") -> tuple[list[Path], list[Path]]:
    """The image files of domains A and B, each non-empty (else a clear error)."""
    root = Path(root)
    if root_b:
        folders = (root, Path(root_b))
    elif (root / f"{split}A").is_dir() or (root / f"{split}B").is_dir():
        folders = (root / f"{split}A", root / f"{split}B")
    else:
        raise UserError(f"{root}: expected {split}A/ and {split}B/ folders here, or give the second domain's "
                        "folder with --data-b (then --data is domain A's folder)")
    sides = []
    for name, folder in zip("AB", folders):
        if not folder.is_dir():
            raise UserError(f"{folder}: domain {name}'s folder does not exist")
        sides.append(list_images(folder, what=f"domain {name} images"))  # an empty side is an error there
    return sides[0], sides[1]


class UnpairedImages(Dataset):
    """{"A": image of domain A, "B": image of domain B} in [-1, 1]; one epoch covers the larger side."""

    def __init__(self, root: str | Path, root_b: str | Path = "", split: str = "train", serial: bool = False,
                 preprocess: str = "resize_and_crop", load_size: int = 286, crop_size: int = 256, flip: bool = True,
                 multiple: int = 1):
        self.files_a, self.files_b = find_domains(root, root_b, split)
        self.serial = serial
        self.transform = paired_transform(preprocess, load_size, crop_size, flip, targets=(), multiple=multiple)

    collate = staticmethod(collate_same_size)

    def __len__(self) -> int:
        return max(len(self.files_a), len(self.files_b))

    def __getitem__(self, key: SampleKey | int) -> dict:
        key = key if isinstance(key, SampleKey) else SampleKey(int(key), int(key))
        path_a = self.files_a[key.index % len(self.files_a)]
        if self.serial:
            path_b = self.files_b[key.index % len(self.files_b)]
        else:
            path_b = self.files_b[int(np.random.default_rng(key.seed).integers(len(self.files_b)))]
        # each side gets its own random crop and flip
        a = apply_seeded(self.transform, key.seed, image=read_image(path_a))["image"]
        b = apply_seeded(self.transform, _mix(key.seed, 1), image=read_image(path_b))["image"]
        return {"A": image_to_tensor(a), "B": image_to_tensor(b)}
