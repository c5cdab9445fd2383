"""Tiled inference for images of any size: the whole image is never on the device at once.

Each tile is run with `overlap` pixels of surrounding context on every side and only its centre is
kept, so seams see the same neighbourhood as the untiled network would (up to its receptive field).
The input and output stay uint8 arrays in host memory; one tile at a time crosses to the device.
Out of device memory on a tile halves the tile size and carries on.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from torch import nn

from .memory import is_out_of_memory

MIN_TILE = 16


@torch.no_grad()
def tile_infer(network: nn.Module, image: np.ndarray, scale: int, tile: int = 256, overlap: int = 24,
               progress: bool = False, multiple: int = 1) -> np.ndarray:
    """Run an image-to-image `network` (RGB [0, 1] in, ×`scale` out) on a uint8 H×W×3 `image`.

    `tile` is the LR tile edge (0: the whole image in one pass). Returns uint8 (H·s)×(W·s)×3.
    """
    height, width = image.shape[:2]
    if tile <= 0:
        tile = max(height, width)
    while True:
        try:
            return _run_tiles(network, image, scale, min(tile, max(height, width)), overlap, progress, multiple)
        except (torch.OutOfMemoryError, RuntimeError) as error:
            if not is_out_of_memory(error) or tile // 2 < MIN_TILE:
                raise
            tile //= 2
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            # stderr: stdout may carry a result (`translate eval --json`)
            print(f"out of memory: retrying with {tile}px tiles", file=sys.stderr)


def _run_tiles(network, image, scale, tile, overlap, progress, multiple) -> np.ndarray:
    from tqdm.auto import tqdm

    parameter = next(network.parameters())
    device, dtype = parameter.device, parameter.dtype
    height, width = image.shape[:2]
    output = np.empty((height * scale, width * scale, 3), np.uint8)
    boxes = [(y, x) for y in range(0, height, tile) for x in range(0, width, tile)]
    for y, x in tqdm(boxes, desc="tiles", unit="tile", disable=not progress or len(boxes) == 1, leave=False):
        y1, x1 = min(y + tile, height), min(x + tile, width)
        # context around the tile, clipped to the image
        cy, cx = max(y - overlap, 0), max(x - overlap, 0)
        cy1, cx1 = min(y1 + overlap, height), min(x1 + overlap, width)
        patch = torch.from_numpy(np.array(image[cy:cy1, cx:cx1])).to(device)
        patch = patch.permute(2, 0, 1).unsqueeze(0).to(dtype) / 255
        ph, pw = patch.shape[-2:]
        pad_h, pad_w = (-ph) % multiple, (-pw) % multiple
        if pad_h or pad_w:
            patch = torch.nn.functional.pad(patch, (0, pad_w, 0, pad_h), mode="replicate")
        result = network(patch)[..., : ph * scale, : pw * scale]
        top, left = (y - cy) * scale, (x - cx) * scale
        result = result[..., top: top + (y1 - y) * scale, left: left + (x1 - x) * scale]
        result = (result.float().clamp(0, 1) * 255).round().to(torch.uint8)
        output[y * scale: y1 * scale, x * scale: x1 * scale] = result[0].permute(1, 2, 0).cpu().numpy()
    return output
