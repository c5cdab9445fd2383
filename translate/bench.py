"""`translate bench NAME`: figures for BENCHMARKS.md, printed as Markdown tables.

    translate bench ganlab    modes covered on the ring of 8 Gaussians for each loss and trick
    translate bench trainer   it/s of a 256×256 U-Net training step in each precision/layout mode
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

import torch
from torch import nn

from .errors import UserError
from .train import Pipeline, Trainer, TrainerOptions


def _machine() -> str:
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    return f"{device}, torch {torch.__version__}, {platform.machine()}"


# --- GAN lab: losses × tricks -----------------------------------------------------------------

GANLAB_VARIANTS = {
    "plain": {},
    "+ WGAN-GP": {"gp": "wgan-gp"},
    "+ instance noise": {"instance_noise": 0.1},
    "+ minibatch discr.": {"minibatch_discrimination": True},
}


def _ganlab_run(loss: str, variant: str, seed: int, steps: int) -> dict:
    from .pipelines.ganlab import GanLab, GanLabOptions

    torch.set_num_threads(1)
    options = GanLabOptions(loss=loss, **GANLAB_VARIANTS[variant])
    trainer_options = TrainerOptions(**{**GanLab.trainer_defaults, "steps": steps, "seed": seed, "progress": False})
    trainer = Trainer(GanLab, options, trainer_options, "ring8")
    started = time.perf_counter()
    trainer.fit()
    return {**trainer.pipeline.validate(), "seconds": time.perf_counter() - started}


def bench_ganlab(argv: list[str]) -> int:
    from .nn.losses import ADVERSARIAL_LOSSES

    parser = argparse.ArgumentParser(prog="translate bench ganlab")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--losses", nargs="+", default=list(ADVERSARIAL_LOSSES))
    parser.add_argument("--variants", nargs="+", default=list(GANLAB_VARIANTS), choices=list(GANLAB_VARIANTS))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="runs in parallel (1 thread each)")
    args = parser.parse_args(argv)
    jobs = [(loss, variant, seed) for loss in args.losses for variant in args.variants for seed in range(args.seeds)]
    print(f"GAN lab on ring8, {args.steps} steps, seeds 0..{args.seeds - 1}; {_machine()}")
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(_ganlab_run, *job, args.steps) for job in jobs]
        results = []
        for i, (job, future) in enumerate(zip(jobs, futures)):
            results.append(future.result())
            print(f"  [{i + 1}/{len(jobs)}] {job[0]} {job[1]} seed {job[2]}: "
                  f"{results[-1]['modes_covered']} modes, {results[-1]['seconds']:.0f} s", flush=True)
    table = {}
    for (loss, variant, _), result in zip(jobs, results):
        table.setdefault(loss, {}).setdefault(variant, []).append(result)
    print("\nmodes covered of 8, mean ± std over seeds (high-quality share in brackets)\n")
    print("| loss | " + " | ".join(args.variants) + " |")
    print("|---|" + "---|" * len(args.variants))
    for loss, row in table.items():
        cells = []
        for variant in args.variants:
            runs = row[variant]
            covered = [r["modes_covered"] for r in runs]
            quality = statistics.mean(r["high_quality"] for r in runs)
            spread = statistics.pstdev(covered) if len(covered) > 1 else 0.0
            cells.append(f"{statistics.mean(covered):.1f} ± {spread:.1f} ({quality:.2f})")
        print(f"| {loss} | " + " | ".join(cells) + " |")
    seconds = statistics.mean(r["seconds"] for r in results)
    print(f"\n{len(results)} runs, {seconds:.1f} s per run on one thread")
    return 0


# --- trainer: a U-Net-256 step in each mode -------------------------------------------------

class _RandomImages(torch.utils.data.Dataset):
    def __init__(self, size: int):
        self.size = size

    def __len__(self) -> int:
        return 64

    def __getitem__(self, key):
        generator = torch.Generator().manual_seed(key.seed)
        return {"A": torch.rand(3, self.size, self.size, generator=generator) * 2 - 1,
                "B": torch.rand(3, self.size, self.size, generator=generator) * 2 - 1}


@dataclass
class _UNetStepOptions:
    size: int = 256
    num_downs: int = 8


class UNetStep(Pipeline):
    """One U-Net-256 generator update on an L1 loss: the unit the trainer's speed-ups act on."""

    name = "unet-step"
    Options = _UNetStepOptions
    networks = ("G",)
    export_networks = ("G",)

    def build(self) -> None:
        from .nn import UNetGenerator

        self.G = UNetGenerator(num_downs=self.options.num_downs)

    def dataset(self):
        return _RandomImages(self.options.size)

    def optimizers(self):
        return {"G": torch.optim.Adam(self.G.parameters(), 2e-4, betas=(0.5, 0.999))}

    def example_input(self, network):
        return torch.rand(1, 3, self.options.size, self.options.size)

    def train_step(self, batch, step):
        with self.autocast():
            loss = nn.functional.l1_loss(self.G(batch["A"]).float(), batch["B"])
        self.optimize("G", loss)
        return {"l1": loss.detach()}


TRAINER_MODES = {
    "fp32 eager": {},
    "bf16 autocast": {"precision": "bf16"},
    "channels_last": {"channels_last": True},
    "bf16 + channels_last": {"precision": "bf16", "channels_last": True},
    "compiled fp32": {"compile": True},
    "compiled bf16": {"compile": True, "precision": "bf16"},
}


def bench_trainer(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="translate bench trainer")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per mode")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation happens here)")
    parser.add_argument("--modes", nargs="+", default=list(TRAINER_MODES), choices=list(TRAINER_MODES))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    print(f"U-Net-256 generator step (forward, L1, backward, Adam), {args.size}×{args.size}, batch 1; {_machine()}\n")
    print("| mode | it/s | ms/step | data ms/step | first steps (s) |")
    print("|---|---|---|---|---|")
    base = TrainerOptions(steps=args.warmup + args.steps, batch_size=1, workers=1, log_every=1, sample_every=0,
                          save_every=10**9, progress=False, device=args.device)
    for mode in args.modes:
        options = replace(base, **TRAINER_MODES[mode])
        trainer = Trainer(UNetStep, _UNetStepOptions(size=args.size), options, "random")
        step_times, data_times, started = [], [], time.perf_counter()
        warm = 0.0
        for step, _ in trainer.iterate():
            if step == args.warmup:
                warm = time.perf_counter() - started
                started = time.perf_counter()
            elif step > args.warmup:
                data_times.append(trainer._last_timing["time/data_s"])
        elapsed = time.perf_counter() - started
        per_step = elapsed / args.steps
        print(f"| {mode} | {1 / per_step:.2f} | {per_step * 1000:.0f} | {statistics.mean(data_times) * 1000:.1f} | "
              f"{warm:.1f} |", flush=True)
    return 0


BENCHES = {"ganlab": bench_ganlab, "trainer": bench_trainer}


def run_bench(name: str, argv: list[str]) -> int:
    from .pipelines import PIPELINES

    if name in ("--help", "-h"):
        print(__doc__)
        return 0
    if name not in BENCHES:
        known = ", ".join(BENCHES)
        hint = f" ({name} has no benchmark yet)" if name in PIPELINES else ""
        raise UserError(f"unknown benchmark {name!r}{hint}: choose one of {known}")
    return BENCHES[name](argv)
