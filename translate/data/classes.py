"""Labelled image classes for the semi-supervised GAN: MNIST from its IDX files, or class folders.

MNIST is read from the original IDX files (`train-images-idx3-ubyte` …, gzipped or not) in a folder or
its `raw/` subfolder; nothing is downloaded at run time. Users who lack the files get them from
`MNIST_URLS`. Class folders (`ROOT/CLASS_NAME/*.png`, ImageFolder style) give the same interface for a
user's own images, resized to a fixed square size.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import UserError
from .images import list_images, read_image

MNIST_URLS = {name: f"https://ossci-datasets.s3.amazonaws.com/mnist/{name}.gz" for name in (
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(path: Path) -> np.ndarray:
    """An IDX array (the MNIST file format), from a plain or gzipped file."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
        zero, dtype_code, dims = struct.unpack(">HBB", data[:4])
        if zero != 0 or dtype_code != 0x08:
            raise ValueError("not an unsigned-byte IDX file")
        shape = struct.unpack(f">{dims}I", data[4:4 + 4 * dims])
        array = np.frombuffer(data, np.uint8, offset=4 + 4 * dims)
        return array.reshape(shape)
    except (OSError, ValueError, struct.error, EOFError) as error:
        raise UserError(f"{path}: not a readable IDX file ({error}); re-download it from MNIST_URLS") from None


def _find_idx(root: Path, name: str) -> Path:
    for folder in (root, root / "raw", root / "MNIST" / "raw"):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise UserError(f"{root}: {name}(.gz) not found (also looked in raw/); get it from {MNIST_URLS[name]}")


def load_mnist(root: str | Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """(images N×28×28 uint8, labels N int64) of MNIST's train or test split."""
    prefix = "train" if split == "train" else "t10k"
    root = Path(root)
    images = read_idx(_find_idx(root, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find_idx(root, f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
    if len(images) != len(labels):
        raise UserError(f"{root}: {len(images)} {split} images but {len(labels)} labels")
    return images, labels


MNIST_CENTRE = 14.0


def as_mnist_digit(image: np.ndarray) -> np.ndarray | None:
    """A digit image of any size and place, dark ink on light paper or light on dark, gray or RGB → a 28×28 uint8
    light-on-dark digit made as MNIST's digits were (LeCun et al. 1998): the ink's bounding box scaled to fit 20×20
    with its aspect kept, then moved by whole pixels so that its centre of mass is at pixel (14, 14). None where there
    is no ink. A classifier of MNIST has seen digits only that way: the shipped one read 27 % of digits drawn half the
    demo's canvas wide anywhere on it, and 99 % once they were normalised (`translate bench drawn-digits`)."""
    import cv2

    ink = np.asarray(image, dtype=np.float32)
    if ink.ndim == 3:
        ink = ink[..., :3].mean(2)
    # the paper is what the image's edge mostly shows: the image's mean misread 6.7 % of MNIST's test digits cropped
    # tight to their ink (a bold digit fills most of its box) as dark ink on paper, its edge 0.3 %
    edge = np.concatenate([ink[0], ink[-1], ink[1:-1, 0], ink[1:-1, -1]])
    if np.median(edge) > 127:  # light paper: dark ink
        ink = 255 - ink
    inked = ink > max(ink.max() / 8, 1.0)  # faint antialiasing and compression noise are not ink
    if not inked.any():
        return None
    crop = crop_to_ink(ink, inked)
    scale = 20 / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    box = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    # numpy, not cv2.moments: that reads an N×2 array (a thin stroke's box) as N points, not as pixels
    mass = box.sum()
    centre_y, centre_x = (box.sum(1) @ np.arange(box.shape[0])) / mass, (box.sum(0) @ np.arange(box.shape[1])) / mass
    # MNIST's digits have their centre of mass at pixel (14, 14), moved by whole pixels (its training set: mean
    # 14.00, std 0.29); centred on 13.5, its own test digits fell from 99.1 % to 98.2 % right
    left, top = round(MNIST_CENTRE - centre_x), round(MNIST_CENTRE - centre_y)
    digit = np.zeros((28, 28), np.float32)
    rows, columns = slice(max(top, 0), min(top + box.shape[0], 28)), slice(max(left, 0), min(left + box.shape[1], 28))
    digit[rows, columns] = box[rows.start - top:rows.stop - top, columns.start - left:columns.stop - left]
    return digit.clip(0, 255).round().astype(np.uint8)


def crop_to_ink(image: np.ndarray, inked: np.ndarray) -> np.ndarray:
    """The smallest box of `image` that holds every True pixel of `inked` (a mask of the same shape, not all False)."""
    rows, columns = np.flatnonzero(inked.any(1)), np.flatnonzero(inked.any(0))
    return image[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1]


def is_mnist(root: str | Path) -> bool:
    root = Path(root)
    return any((folder / "train-images-idx3-ubyte.gz").is_file() or (folder / "train-images-idx3-ubyte").is_file()
               for folder in (root, root / "raw", root / "MNIST" / "raw"))


def load_class_names(root: str | Path, fewest: int = 2) -> list[str]:
    """The class folders of ROOT, sorted: class k is the k-th name."""
    root = Path(root)
    if not root.is_dir():
        problem = "is a file, not a folder" if root.exists() else "no such folder"
        raise UserError(f"{root}: {problem} (expected one folder per class, e.g. {root}/cat/*.png {root}/dog/*.png, "
                        f"or MNIST's IDX files)")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if len(classes) < fewest:
        raise UserError(f"{root}: expected one folder per class (at least {fewest}), e.g. {root}/cat/*.png "
                        f"{root}/dog/*.png")
    return classes


def load_class_folders(root: str | Path, size: int, gray: bool,
                       fewest_classes: int = 2) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(images N×H×W[×3] uint8 at size², labels, class names) from ROOT/CLASS/*; sorted class names."""
    import cv2

    root = Path(root)
    classes = load_class_names(root, fewest_classes)
    images, labels = [], []
    for index, name in enumerate(classes):
        for path in list_images(root / name, what=f"images of class {name}"):
            image = cv2.resize(read_image(path), (size, size), interpolation=cv2.INTER_AREA)
            images.append(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if gray else image)
            labels.append(index)
    return np.stack(images), np.array(labels, np.int64), classes


def is_colour(image: np.ndarray) -> bool:
    """Whether an RGB image from `read_image` has colour (gray files are read as three equal channels)."""
    return bool((image[..., 0] != image[..., 1]).any() or (image[..., 1] != image[..., 2]).any())


def image_losing_detail(root: str | Path, gray: bool, shortest_side: int | None,
                        per_class: int = 5) -> tuple[Path, np.ndarray] | None:
    """Among the first `per_class` images of each class folder, the first that is in colour while `gray`, or whose
    shorter side is at least `shortest_side` (None: any size is fine): (path, image), or None."""
    root = Path(root)
    for name in load_class_names(root, fewest=1):
        for path in list_images(root / name, what=f"images of class {name}")[:per_class]:
            image = read_image(path)
            if gray and is_colour(image) or shortest_side is not None and min(image.shape[:2]) >= shortest_side:
                return path, image
    return None


def balanced_subset(labels: np.ndarray, count: int, num_classes: int, seed: int,
                    class_names: Sequence[str] | None = None, source: object = "the data") -> np.ndarray:
    """`count` indices, count/K of each class, chosen by `seed` (sorted). `class_names` and `source` only word
    the errors."""
    if count <= 0 or count % num_classes:
        raise UserError(f"--labels {count}: {source} has {num_classes} classes, so --labels must be a positive "
                        f"multiple of {num_classes} (the same number of labels in each class)")
    per_class = count // num_classes
    rng = np.random.default_rng(seed)
    chosen = []
    for k in range(num_classes):
        members = np.flatnonzero(labels == k)
        if len(members) < per_class:
            name = f"'{class_names[k]}'" if class_names else str(k)
            most_allowed = min(np.bincount(labels, minlength=num_classes)) * num_classes
            lower = f"use --labels {most_allowed} or fewer, or " if most_allowed else ""
            raise UserError(f"--labels {count} asks for {per_class} labelled images per class, but class {name} of "
                            f"{source} has {len(members)}: {lower}add images to that class")
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))
