"""The one place that knows about torchrun and DistributedDataParallel.

Everything else asks `is_main_process()` or calls `average_across_ranks()`; nothing else branches on
rank. Run any training command under `torchrun --nproc_per_node=N` (or across nodes with
`--nnodes`/`--rdzv-endpoint`) and it trains data-parallel: NCCL on GPUs, gloo on CPUs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


_context = DistributedContext()


def init_distributed(device_type: str) -> DistributedContext:
    """Join the process group when started by torchrun (WORLD_SIZE > 1); a no-op otherwise."""
    global _context
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        _context = DistributedContext()
        return _context
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
    _context = DistributedContext(dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")), dist.get_world_size())
    return _context


def context() -> DistributedContext:
    return _context


def is_main_process() -> bool:
    return _context.is_main


def barrier() -> None:
    if _context.enabled:
        dist.barrier()


def average_across_ranks(values: torch.Tensor) -> torch.Tensor:
    """Mean of a tensor over all ranks (for logging losses); identity when not distributed."""
    if not _context.enabled:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / _context.world_size


def gather_objects(obj) -> list:
    """Every rank's `obj`, in rank order (used to save each rank's RNG state)."""
    if not _context.enabled:
        return [obj]
    out = [None] * _context.world_size
    dist.all_gather_object(out, obj)
    return out


def wrap_data_parallel(network: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    if not _context.enabled or not any(p.requires_grad for p in network.parameters()):
        return network
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(network, device_ids=device_ids)


def shutdown() -> None:
    global _context
    if dist.is_initialized():
        # every rank reaches here before any tears down: a rank that left early aborted the other about one
        # run in twenty on CPU (gloo): "terminate called without an active exception"
        dist.barrier()
        dist.destroy_process_group()
    _context = DistributedContext()
