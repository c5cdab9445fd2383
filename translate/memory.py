"""Will a whole image fit? The memory a generator needs to translate an image at once, and the memory free.

pix2pix and CycleGAN generators run on the whole image (instance norm takes its statistics over the whole image,
so tiles would show seams), and their activations grow with its pixels: a 24-megapixel photo through a
64-filter ResNet generator needs about 20 GB. On the CPU, Linux's OOM killer ends such a process without a word;
`check_fits` says so first, in one line, with the `--max-side` that would fit.

The need is measured, not guessed: the generator runs once on a small probe under a dispatch mode that adds up the
bytes of the tensors alive at each moment, and the peak is scaled by area. Convolution scratch space is not a
tensor, so the tracked peak is scaled by `UNTRACKED_FACTOR`.
"""

from __future__ import annotations

import math
import weakref
from pathlib import Path

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from .errors import UserError

#: measured here (CPU, torch 2.14.1): the process's peak RSS grew by 1.14-1.19× the tracked peak for U-Nets and
#: 1.61-1.66× for ResNet generators (ngf 16-64, 1024² and 2048² images)
UNTRACKED_FACTOR = 1.75
PROBE_SIDE = 256
#: images below this need no check: even a wide generator fits them in a few hundred MB
CHECK_ABOVE_PIXELS = 1024 * 1024


class LiveTensorBytes(TorchDispatchMode):
    """Tracks the bytes of the storages that the ops run under it create, while any tensor holds them; `peak` is
    the most alive at once. Views and in-place results share their storage's bytes."""

    def __init__(self):
        super().__init__()
        self.holders: dict[int, list[int]] = {}  # storage address → [tensors holding it, its bytes]
        self.alive = self.peak = 0

    def _released(self, address: int) -> None:
        entry = self.holders[address]
        entry[0] -= 1
        if entry[0] == 0:
            self.alive -= entry[1]
            del self.holders[address]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        for tensor in result if isinstance(result, (tuple, list)) else (result,):
            if not isinstance(tensor, torch.Tensor):
                continue
            storage = tensor.untyped_storage()
            address = storage.data_ptr()
            if address not in self.holders:
                self.holders[address] = [0, storage.nbytes()]
                self.alive += storage.nbytes()
                self.peak = max(self.peak, self.alive)
            self.holders[address][0] += 1
            weakref.finalize(tensor, self._released, address)
        return result


_bytes_per_pixel: weakref.WeakKeyDictionary[nn.Module, float] = weakref.WeakKeyDictionary()


@torch.no_grad()
def bytes_per_pixel(generator: nn.Module) -> float:
    """The memory `generator` needs per input pixel to translate an image at once (measured once per network)."""
    if generator not in _bytes_per_pixel:
        parameter = next(generator.parameters())
        multiple = getattr(generator, "multiple", 1)
        side = -(-PROBE_SIDE // multiple) * multiple  # a size the network takes without padding
        probe = torch.zeros(1, 3, side, side, device=parameter.device, dtype=parameter.dtype)
        with LiveTensorBytes() as tracker:
            generator(probe)
        # the uint8 image and its float copy are made before the network runs
        _bytes_per_pixel[generator] = tracker.peak / side**2 * UNTRACKED_FACTOR + 3 + 3 * parameter.element_size()
    return _bytes_per_pixel[generator]


def free_bytes(device: torch.device) -> int | None:
    """Memory that can be had on `device` now (None where this cannot be told: then nothing is refused)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    if device.type != "cpu":
        return None
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
        free = next(int(line.split()[1]) * 1024 for line in lines if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return None  # not Linux
    try:  # a container's own limit (cgroup v2) is below what the host has free
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            free = min(free, int(limit) - int(Path("/sys/fs/cgroup/memory.current").read_text()))
    except (OSError, ValueError):
        pass
    return free


def _gigabytes(count: float) -> str:
    return f"{count / 1e9:.1f} GB"


def side_that_fits(height: int, width: int, need: float, free: int) -> int:
    """The longest side (a multiple of 128, at least 128) at which an image of this shape needs at most 80% of
    `free`, its aspect kept."""
    scale = math.sqrt(0.8 * free / need)
    return max(128, int(max(height, width) * scale) // 128 * 128)


#: what to do about an image too big to evaluate (evaluation scores the full size, so it cannot scale down)
FOR_EVALUATION = "evaluate on smaller images, or use a larger machine"


def too_big(path, height: int, width: int, need: float, free: int, advice: str = "") -> UserError:
    """The one-line error for an image that does not fit; `advice` (default: the --max-side that fits) says what
    to do."""
    side = side_that_fits(height, width, need, free)
    advice = advice or (f"add --max-side {side} to translate it at most {side} px on its longer side (or free "
                        "memory, or use a larger machine)")
    return UserError(f"{path}: translating {width}×{height} at once needs about {_gigabytes(need)}, and "
                     f"{_gigabytes(free)} is free; {advice}")


def check_fits(generator: nn.Module, height: int, width: int, path, advice: str = "") -> None:
    """A one-line UserError, before any work, when translating a `height`×`width` image at once would need more
    memory than is free on the generator's device."""
    if height * width <= CHECK_ABOVE_PIXELS:
        return
    device = next(generator.parameters()).device
    free = free_bytes(device)
    if free is None:
        return
    need = bytes_per_pixel(generator) * height * width
    if need > free:
        raise too_big(path, height, width, need, free, advice)


def is_out_of_memory(error: BaseException) -> bool:
    """torch's CUDA out-of-memory error, or the CPU allocator's refusal of one large allocation."""
    text = str(error).lower()
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in text or "can't allocate memory" in text
