"""A batch sampler that makes data order resumable and shardable.

Each epoch is a permutation seeded by (seed, epoch); rank r of W takes batches b·W + r, as
DistributedSampler would. Every sample is handed to the dataset as a `SampleKey` (index, seed), and
the dataset seeds its augmentation with that seed. So where a run resumes, or how many workers
prefetch, changes nothing about what each step sees.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

import torch
from torch.utils.data import Sampler


class SampleKey(NamedTuple):
    index: int
    seed: int


def _mix(*numbers: int) -> int:
    # splitmix64-style hash: independent-looking seeds from (seed, epoch, position)
    value = 0x9E3779B97F4A7C15
    for n in numbers:
        value = (value ^ (n + 0x9E3779B97F4A7C15 + (value << 6) + (value >> 2))) & 0xFFFFFFFFFFFFFFFF
        value = (value * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        value ^= value >> 31
    return value & 0x7FFFFFFF


class ShardedBatchSampler(Sampler[list[SampleKey]]):
    """Endless batches of `SampleKey`s, starting at batch `start` (counted on this rank)."""

    def __init__(self, length: int, batch_size: int, seed: int = 0, shuffle: bool = True,
                 rank: int = 0, world_size: int = 1, start: int = 0):
        if length <= 0:
            raise ValueError("the dataset is empty")
        self.length, self.batch_size, self.seed, self.shuffle = length, batch_size, seed, shuffle
        self.rank, self.world_size, self.start = rank, world_size, start
        # Small datasets are repeated within an epoch so that every rank gets at least one full batch.
        self.per_epoch_samples = max(length, batch_size * world_size)
        self.batches_per_epoch = self.per_epoch_samples // (batch_size * world_size)

    def __len__(self) -> int:
        return self.batches_per_epoch

    def _order(self, epoch: int) -> torch.Tensor:
        repeats = -(-self.per_epoch_samples // self.length)
        if self.shuffle:
            generator = torch.Generator().manual_seed(_mix(self.seed, epoch))
            order = torch.cat([torch.randperm(self.length, generator=generator) for _ in range(repeats)])
        else:
            order = torch.arange(self.length).repeat(repeats)
        return order[: self.per_epoch_samples]

    def __iter__(self) -> Iterator[list[SampleKey]]:
        batch_number = self.start
        while True:
            epoch, in_epoch = divmod(batch_number, self.batches_per_epoch)
            order = self._order(epoch)
            for b in range(in_epoch, self.batches_per_epoch):
                first = (b * self.world_size + self.rank) * self.batch_size
                yield [SampleKey(int(order[p]), _mix(self.seed, epoch, p)) for p in range(first, first + self.batch_size)]
            batch_number = (epoch + 1) * self.batches_per_epoch
