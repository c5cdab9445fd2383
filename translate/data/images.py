"""Reading and writing images: the one place that knows every format quirk.

`read_image` turns any JPEG/PNG/BMP/TIFF/WebP/GIF file — grayscale, RGBA, palette, 16-bit, EXIF-rotated —
into an H×W×3 uint8 RGB array (or H×W×1 with `keep_gray=True` for 1-channel data), or raises
`ImageReadError` with one line naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageReadError, UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm")


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):  # float images are taken to be in [0, 1]
        return np.clip(np.rint(array * 255), 0, 255).astype(np.uint8)
    # 16-bit (and 32-bit integer) data: scale the full range of the type down to 8 bits
    top = 65535 if array.max(initial=0) <= 65535 else np.iinfo(array.dtype).max
    return np.clip(np.rint(array.astype(np.float64) * 255 / top), 0, 255).astype(np.uint8)


def _decode_with_pil(path: Path, alpha_background: tuple[int, int, int]) -> np.ndarray:
    with Image.open(path) as image:
        image.seek(0)  # first frame of a GIF or multi-page TIFF
        image = ImageOps.exif_transpose(image)
        if image.mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
            background = Image.new("RGB", image.size, alpha_background)
            rgba = image.convert("RGBA")
            background.paste(rgba, mask=rgba.getchannel("A"))
            if image.mode.startswith("L"):
                return np.asarray(background.convert("L"))[..., None]
            return np.asarray(background)
        if image.mode in ("1", "L", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
            return _to_uint8(np.asarray(image))[..., None]
        if image.mode != "RGB":
            image = image.convert("RGB")
        return np.asarray(image)


def _decode_with_opencv(path: Path) -> np.ndarray | None:
    # PIL does not decode 16-bit colour PNG/TIFF; OpenCV does (as BGR).
    import cv2

    array = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        return None
    array = _to_uint8(array)
    if array.ndim == 2:
        return array[..., None]
    if array.shape[2] == 4:
        array = array[..., :3]
    return np.ascontiguousarray(array[..., ::-1])


def read_image(path: str | Path, keep_gray: bool = False,
               alpha_background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """Read an image file as an H×W×3 uint8 RGB array (H×W×1 for gray files if `keep_gray`).

    Transparent pixels are composited onto `alpha_background`; 16-bit data is scaled to 8 bits;
    EXIF orientation is applied.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: the file is empty (0 bytes); re-export it or remove it")
    try:
        array = _decode_with_pil(path, alpha_background)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        array = _decode_with_opencv(path)
        if array is None:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ImageReadError(f"{path}: not a readable image ({reason}); re-save it as PNG or JPEG, or remove it") from None
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageReadError(f"{path}: the image has no pixels ({array.shape[1]}×{array.shape[0]})")
    if array.shape[2] == 1 and not keep_gray:
        array = np.repeat(array, 3, axis=2)
    return np.ascontiguousarray(array)


def list_images(folder: str | Path, recursive: bool = False, what: str = "images") -> list[Path]:
    """The image files in `folder`, sorted by name; a clear error when the folder is missing or empty."""
    folder = Path(folder)
    if not folder.exists():
        raise UserError(f"{folder}: no such folder (expected a folder of {what})")
    if not folder.is_dir():
        raise UserError(f"{folder}: is a file, expected a folder of {what}")
    pattern = "**/*" if recursive else "*"
    files = sorted(p for p in folder.glob(pattern) if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not files:
        raise UserError(f"{folder}: no {what} found (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return files


def image_to_tensor(array: np.ndarray, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """H×W×C uint8 → C×H×W float tensor in `value_range`."""
    low, high = value_range
    tensor = torch.from_numpy(np.require(array, requirements=["C", "W"])).permute(2, 0, 1).float() / 255.0
    return tensor * (high - low) + low


def tensor_to_image(tensor: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """C×H×W (or 1×C×H×W) float tensor in `value_range` → H×W×C uint8, rounded."""
    low, high = value_range
    if tensor.dim() == 4:
        tensor = tensor[0]
    unit = ((tensor.detach().float().cpu() - low) / (high - low)).clamp(0, 1)
    return (unit * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def save_image(array: np.ndarray, path: str | Path) -> Path:
    """Write an H×W×C uint8 array (C = 1 or 3); the format follows the file extension."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array[..., 0] if array.shape[2] == 1 else array).save(path)
    return path


def fit_longer_side(image: np.ndarray, max_side: int) -> np.ndarray:
    """`image` scaled down (area-averaged, aspect kept) so its longer side is at most `max_side` (0: as it is)."""
    import cv2

    height, width = image.shape[:2]
    if max_side <= 0 or max(height, width) <= max_side:
        return image
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return resized[..., None] if resized.ndim == 2 else resized


def check_distinct_stems(paths: list[Path]) -> None:
    """Outputs named after their input's stem must not overwrite each other: a.png and a.jpg, or two folders'
    1.png, would."""
    seen: dict[str, Path] = {}
    for path in paths:
        if path.stem in seen and seen[path.stem] != path:
            raise UserError(f"{seen[path.stem]} and {path} would both be written as {path.stem}*.png; rename one, "
                            "or run them separately")
        seen.setdefault(path.stem, path)
