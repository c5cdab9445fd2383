"""Paired images for pix2pix-style training, in the two layouts users have.

- aligned: one file per pair, A on the left half and B on the right (`train/ val/ test/` folders of
  the pix2pix data sets, e.g. brooklyn1887);
- two folders `A/` and `B/` whose files are matched by name (extension ignored).

A root with a `train/` (or the requested split) folder is entered automatically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from ..errors import UserError
from .images import image_to_tensor, list_images, read_image
from .sampling import SampleKey
from .transforms import apply_seeded, collate_same_size, paired_transform


@dataclass(frozen=True)
class PairSource:
    """Where one pair comes from: one aligned file (b_path None), or an A file and a B file."""

    a_path: Path
    b_path: Path | None = None

    @property
    def name(self) -> str:
        return self.a_path.stem


def find_pairs(root: str | Path, split: str = "train") -> list[PairSource]:
    """The pairs under `root` (or `root/split`), in name order; clear errors for empty or unmatched folders."""
    root = Path(root)
    if (root / split).is_dir():
        root = root / split
    if not root.is_dir():
        problem = "is a file" if root.exists() else "no such folder"
        raise UserError(f"{root}: {problem} (expected a folder of aligned A|B images, or A/ and B/ folders)")
    if (root / "A").is_dir() or (root / "B").is_dir():
        a_files = {p.stem: p for p in list_images(root / "A", what="A images")}
        b_files = {p.stem: p for p in list_images(root / "B", what="B images")}
        only_a, only_b = sorted(a_files.keys() - b_files), sorted(b_files.keys() - a_files)
        if only_a or only_b:
            listed = ", ".join([f"A/{n}" for n in only_a[:5]] + [f"B/{n}" for n in only_b[:5]])
            more = len(only_a) + len(only_b) - min(len(only_a), 5) - min(len(only_b), 5)
            count = len(only_a) + len(only_b)
            raise UserError(f"{root}: {count} file{' has' if count == 1 else 's have'} no partner of the same name "
                            f"({listed}{f' and {more} more' if more else ''}); rename or remove "
                            f"{'it' if count == 1 else 'them'}")
        return [PairSource(a_files[name], b_files[name]) for name in sorted(a_files)]
    return [PairSource(path) for path in list_images(root, what="aligned A|B images")]


def read_pair(source: PairSource, direction: str = "AtoB") -> tuple[np.ndarray, np.ndarray]:
    """(input, target) arrays of one pair; `BtoA` swaps them."""
    if source.b_path is None:
        both = read_image(source.a_path)
        width = both.shape[1]
        if width % 2:
            raise UserError(f"{source.a_path}: an aligned pair must have an even width (A|B halves), got {width}")
        a, b = both[:, : width // 2], both[:, width // 2 :]
    else:
        a, b = read_image(source.a_path), read_image(source.b_path)
    return (a, b) if direction == "AtoB" else (b, a)


def is_blank(image: np.ndarray, tolerance: int = 2) -> bool:
    """True when every pixel is (nearly) the same colour, e.g. an empty label map."""
    return int(image.max()) - int(image.min()) <= tolerance


class PairedImages(Dataset):
    """Pairs → {"A": input, "B": target} tensors in [-1, 1], augmented identically (per-sample seed)."""

    def __init__(self, root: str | Path, split: str = "train", direction: str = "AtoB",
                 preprocess: str = "resize_and_crop", load_size: int = 286, crop_size: int = 256,
                 flip: bool = True, skip_blank_inputs: bool = False, multiple: int = 1):
        if direction not in ("AtoB", "BtoA"):
            raise UserError(f"direction must be AtoB or BtoA, got {direction!r}")
        self.direction = direction
        self.sources = find_pairs(root, split)
        self.skipped: list[PairSource] = []
        if skip_blank_inputs:
            kept = [s for s in self.sources if not is_blank(read_pair(s, direction)[0])]
            self.skipped = [s for s in self.sources if s not in kept]
            if not kept:
                raise UserError(f"{root}: every input image is blank; nothing to learn from")
            self.sources = kept
        self.preprocess = preprocess
        self.transform = paired_transform(preprocess, load_size, crop_size, flip, multiple=multiple)

    def __len__(self) -> int:
        return len(self.sources)

    collate = staticmethod(collate_same_size)

    def __getitem__(self, key: SampleKey | int) -> dict:
        key = key if isinstance(key, SampleKey) else SampleKey(int(key), int(key))
        source = self.sources[key.index]
        a, b = read_pair(source, self.direction)
        if a.shape != b.shape:
            if self.preprocess != "resize_and_crop":
                raise UserError(f"{source.a_path}: its A and B differ in size ({a.shape[1]}×{a.shape[0]} vs "
                                f"{b.shape[1]}×{b.shape[0]}); use --preprocess resize_and_crop or make them match")
            import cv2

            b = cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_CUBIC)  # both get resized anyway
        out = apply_seeded(self.transform, key.seed, image=a, target=b)
        return {"A": image_to_tensor(out["image"]), "B": image_to_tensor(out["target"]), "name": source.name}
