"""`translate bench NAME`: figures for BENCHMARKS.md, printed as Markdown tables.

    translate bench ganlab    modes covered on the ring of 8 Gaussians for each loss and trick
    translate bench trainer   it/s of a 256×256 U-Net training step in each precision/layout mode
    translate bench pix2pix   it/s of the pix2pix step (the paper's networks) per mode; generator ms/image
    translate bench srgan     it/s of the SRGAN step (batch 16, HR 96) per mode; tiled inference MP/s
    translate bench cyclegan  it/s of the CycleGAN step (the paper's networks, 256², batch 1) per mode
    translate bench semisup   MNIST test errors (mean ± std over seeds) per number of labels
    translate bench drawn-digits  the demo's reading of MNIST digits drawn anywhere on its canvas
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import multiprocessing
import os
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

import torch
from torch import nn

from .errors import UserError
from .train import Pipeline, Trainer, TrainerOptions, adam, cpu_has_native_bf16


def _process_pool(jobs: int) -> ProcessPoolExecutor:
    """Workers started fresh ("spawn"): `_machine()` has initialised CUDA here, and a forked child cannot use it."""
    return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"))


def _machine() -> str:
    # bf16 speed hinges on AMX/AVX512-BF16 (BENCHMARKS.md), so a CPU's figures say which kind it was
    bf16 = "native bf16" if cpu_has_native_bf16() else "no native bf16"
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores, {bf16})"
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
    with _process_pool(args.jobs) as pool:
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
        return {"G": adam(self.G.parameters(), 2e-4, (0.5, 0.999))}

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


def _time_training(pipeline_cls, options, modes: dict[str, dict], base: TrainerOptions, warmup: int,
                   steps: int, profile_ops: int = 0) -> list[dict]:
    """Print one Markdown row per mode: it/s of `pipeline_cls`'s real train step after `warmup` steps.
    With profile_ops, the timed steps run under torch.profiler and its most expensive ops follow each row."""
    from torch.profiler import profile

    rows = []
    for mode, changes in modes.items():
        trainer_options = replace(base, steps=warmup + steps, **changes)
        trainer = Trainer(pipeline_cls, options, trainer_options, "random")
        data_times, started, warm = [], time.perf_counter(), 0.0
        profiler = profile() if profile_ops else None
        with contextlib.ExitStack() as profiling:
            if profiler and warmup == 0:
                profiling.enter_context(profiler)
            for step, _ in trainer.iterate():
                if step == warmup:
                    warm, started = time.perf_counter() - started, time.perf_counter()
                    if profiler:
                        profiling.enter_context(profiler)
                elif step > warmup:
                    data_times.append(trainer.last_timing["time/data_s"])
        per_step = (time.perf_counter() - started) / steps
        rows.append({"mode": mode, "it_s": 1 / per_step})
        print(f"| {mode} | {1 / per_step:.2f} | {per_step * 1000:.1f} | {statistics.mean(data_times) * 1000:.1f} | "
              f"{warm:.1f} |", flush=True)
        if profile_ops:
            _print_profile(profiler, profile_ops)
    return rows


def _print_profile(profiler, top: int) -> None:
    """The `top` ops by self CPU time, as shares of the profiled steps' total."""
    events = profiler.key_averages()
    total = sum(event.self_cpu_time_total for event in events) or 1
    ranked = sorted(events, key=lambda event: event.self_cpu_time_total, reverse=True)[:top]
    print("  most expensive ops (self CPU time, profiled steps): " + ", ".join(
        f"{event.key} {event.self_cpu_time_total / total:.0%}" for event in ranked), flush=True)


def _print_speedup(rows: list[dict]) -> None:
    base = rows[0]["it_s"]
    best = max(rows, key=lambda r: r["it_s"])
    print(f"\nfastest: {best['mode']}, {best['it_s'] / base:.2f}× {rows[0]['mode']}")


TABLE_HEAD = "| mode | it/s | ms/step | data ms/step | warm-up (s) |\n|---|---|---|---|---|"


def _timing_parser(prog: str, steps: int, modes: dict) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--steps", type=int, default=steps, help="timed steps per mode")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation happens here)")
    parser.add_argument("--modes", nargs="+", default=list(modes), choices=list(modes))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="run the timed steps under torch.profiler and print its N most expensive ops per mode")
    return parser


def bench_trainer(argv: list[str]) -> int:
    parser = _timing_parser("translate bench trainer", 20, TRAINER_MODES)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)
    print(f"U-Net-256 generator step (forward, L1, backward, Adam), {args.size}×{args.size}, batch 1; {_machine()}\n")
    print(TABLE_HEAD)
    base = TrainerOptions(batch_size=1, workers=1, log_every=1, sample_every=0, save_every=10**9, progress=False,
                          device=args.device)
    _time_training(UNetStep, _UNetStepOptions(size=args.size), {m: TRAINER_MODES[m] for m in args.modes}, base,
                   args.warmup, args.steps, args.profile)
    return 0


def _with_random_data(pipeline_cls, make_sample):
    """`pipeline_cls` with its real networks and train step, fed random tensors (no files needed)."""
    class RandomData(torch.utils.data.Dataset):
        def __len__(self):
            return 64

        def __getitem__(self, key):
            return make_sample(torch.Generator().manual_seed(key.seed))

    return type(pipeline_cls.__name__, (pipeline_cls,), {"dataset": lambda self: RandomData()})


@torch.no_grad()
def _inference_ms(network: nn.Module, example: torch.Tensor, repeats: int = 10) -> float:
    device = next(network.parameters()).device
    example = example.to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(2):
        network(example)
    sync()
    started = time.perf_counter()
    for _ in range(repeats):
        network(example)
    sync()
    return (time.perf_counter() - started) / repeats * 1000


def bench_pix2pix(argv: list[str]) -> int:
    from .pipelines.pix2pix import Pix2Pix, Pix2PixOptions, build_generator
    from .train.trainer import choose_device

    parser = _timing_parser("translate bench pix2pix", 10, TRAINER_MODES)
    args = parser.parse_args(argv)
    print(f"pix2pix training step (U-Net-256 + 70×70 PatchGAN, G and D updates), 256×256, batch 1; {_machine()}\n")
    print(TABLE_HEAD)
    pipeline = _with_random_data(Pix2Pix, lambda g: {"A": torch.rand(3, 256, 256, generator=g) * 2 - 1,
                                                     "B": torch.rand(3, 256, 256, generator=g) * 2 - 1})
    base = TrainerOptions(batch_size=1, workers=1, log_every=1, sample_every=0, save_every=10**9, progress=False,
                          device=args.device)
    rows = _time_training(pipeline, Pix2PixOptions(), {m: TRAINER_MODES[m] for m in args.modes}, base,
                          args.warmup, args.steps, args.profile)
    _print_speedup(rows)
    generator = build_generator(Pix2PixOptions()).to(choose_device(args.device)).eval()
    print(f"generator inference (eval mode, fp32): {_inference_ms(generator, torch.rand(1, 3, 256, 256)):.1f} ms/image")
    return 0


def bench_srgan(argv: list[str]) -> int:
    from .pipelines.srgan import SRGAN, SRGANOptions, build_generator, super_resolve
    from .train.trainer import choose_device

    parser = _timing_parser("translate bench srgan", 10, TRAINER_MODES)
    parser.add_argument("--phase", default="psnr", choices=("psnr", "gan"))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--image", type=int, default=512, help="LR edge of the image super-resolved for MP/s")
    args = parser.parse_args(argv)
    options = SRGANOptions(phase=args.phase)
    print(f"SRGAN phase {args.phase} step (SRResNet ×4, 16 blocks{', + VGG-style D' if args.phase == 'gan' else ''}),"
          f" HR 96×96, batch {args.batch_size}; {_machine()}\n")
    print(TABLE_HEAD)
    pipeline = _with_random_data(SRGAN, lambda g: {"lr": torch.rand(3, 24, 24, generator=g),
                                                   "hr": torch.rand(3, 96, 96, generator=g)})
    base = TrainerOptions(batch_size=args.batch_size, workers=1, log_every=1, sample_every=0, save_every=10**9,
                          progress=False, device=args.device)
    rows = _time_training(pipeline, options, {m: TRAINER_MODES[m] for m in args.modes}, base, args.warmup, args.steps,
                          args.profile)
    _print_speedup(rows)
    generator = build_generator(options).to(choose_device(args.device)).eval()
    image = (torch.rand(args.image, args.image, 3) * 255).to(torch.uint8).numpy()
    device_type = next(generator.parameters()).device.type
    for tile, precision in itertools.product((128, 256), ("fp32", "bf16")):
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            super_resolve(generator, image[:64, :64], 4, tile)  # warm-up
            started = time.perf_counter()
            super_resolve(generator, image, 4, tile)
            seconds = time.perf_counter() - started
        print(f"tiled inference ×4, {args.image}² LR → {args.image * 4}², tile {tile}, {precision}: "
              f"{(args.image * 4) ** 2 / 1e6 / seconds:.2f} output MP/s ({seconds:.2f} s)")
    return 0


def bench_cyclegan(argv: list[str]) -> int:
    from .pipelines.cyclegan import CycleGAN, CycleGANOptions

    parser = _timing_parser("translate bench cyclegan", 5, TRAINER_MODES)
    parser.add_argument("--ngf", type=int, default=64, help="generator width (the paper: 64)")
    args = parser.parse_args(argv)
    print(f"CycleGAN training step (2 ResNet-9 G at ngf {args.ngf} + 2 70×70 PatchGANs, instance norm), 256×256, "
          f"batch 1; {_machine()}\n")
    print(TABLE_HEAD)
    pipeline = _with_random_data(CycleGAN, lambda g: {"A": torch.rand(3, 256, 256, generator=g) * 2 - 1,
                                                      "B": torch.rand(3, 256, 256, generator=g) * 2 - 1})
    base = TrainerOptions(batch_size=1, workers=1, log_every=1, sample_every=0, save_every=10**9, progress=False,
                          device=args.device)
    rows = _time_training(pipeline, CycleGANOptions(ngf=args.ngf), {m: TRAINER_MODES[m] for m in args.modes}, base,
                          args.warmup, args.steps, args.profile)
    _print_speedup(rows)
    return 0


#: Salimans et al. 2016, Table 1: permutation-invariant MNIST test errors (of 10,000) by number of labels
SALIMANS_MNIST_ERRORS = {20: "1677 ± 452", 50: "221 ± 136", 100: "93 ± 6.5", 200: "90 ± 4.2"}


def _semisup_run(labels: int, seed: int, steps: int, data: str, device: str, precision: str,
                 ema_decays: list[float], variant, one_thread: bool, score_every: int = 0) -> tuple[list[int], float]:
    """Train one semi-supervised run in memory (`variant`: its SemiSupervisedOptions but for the labelled
    subset); (test errors of its EMA classifier for each of `ema_decays`, minutes). The averages never feed back
    into training, so one trajectory scores them all: their differences are the averaging's alone. With
    `score_every`, each average's test errors and largest confusion are printed every that many steps."""
    from .nn.tricks import exponential_moving_average
    from .pipelines.semisup import SemiSupervised, _predict, _top_confusions, class_names, load_split

    if one_thread:
        torch.set_num_threads(1)
    started = time.perf_counter()
    options = replace(variant, labels=labels, subset_seed=seed)
    trainer_options = TrainerOptions(steps=steps, batch_size=100, workers=0, lr_schedule="linear",
                                     decay_start=2 / 3, ema_decay=ema_decays[0], seed=seed, sample_every=0,
                                     save_every=10**9, log_every=math.gcd(1000, score_every), progress=False,
                                     device=device, precision=precision)
    trainer = Trainer(SemiSupervised, options, trainer_options, data)
    averages = {ema_decays[0]: trainer.ema["D"]}
    if len(ema_decays) > 1:
        averages.update({decay: exponential_moving_average(trainer.raw["D"], decay, trainer_options.ema_warmup)
                         for decay in ema_decays[1:]})
        train_step = trainer.pipeline.train_step

        def train_step_and_average(batch, step):  # after the optimisers' steps, as the trainer updates its own EMA
            losses = train_step(batch, step)
            for decay in ema_decays[1:]:
                averages[decay].update_parameters(trainer.raw["D"])
            return losses

        trainer.pipeline.train_step = train_step_and_average

    test_images, test_labels = load_split(data, options, "test")  # read once: it is scored up to 18 times a run

    def score() -> list[int]:
        predictions = [_predict(averages[decay].module, test_images) for decay in ema_decays]
        errors = [int((predicted != test_labels).sum()) for predicted in predictions]
        if score_every:
            names = class_names(None, options)
            print(f"{labels} labels, seed {seed}, step {trainer.step}: " + "; ".join(
                f"EMA {decay:g} {count} ({_top_confusions(predicted, test_labels, names, 1)[0]})"
                for decay, count, predicted in zip(ema_decays, errors, predictions)), flush=True)
        return errors

    for step, _ in trainer.iterate():
        if score_every and step % score_every == 0 and step < steps:
            score()
    return score(), (time.perf_counter() - started) / 60


def bench_semisup(argv: list[str]) -> int:
    from .pipelines.semisup import SemiSupervisedOptions
    from .train.options import add_options, flag_name, options_from_args

    parser = argparse.ArgumentParser(prog="translate bench semisup",
                                     description="Train seeds of `translate train semisup` and report their MNIST "
                                     "test errors; every option of that command can set the variant compared.")
    parser.add_argument("--data", default="../shared/datasets/MNIST", help="MNIST folder (IDX files)")
    parser.add_argument("--labels", type=int, nargs="+", default=[100])
    parser.add_argument("--seeds", type=int, default=3, help="runs per label count (seeds S..S+N-1)")
    parser.add_argument("--first-seed", type=int, default=0, metavar="S",
                        help="first seed (each seed picks both the labelled subset and the training noise)")
    parser.add_argument("--steps", type=int, default=16000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"),
                        help="training precision (bf16/fp16: autocast)")
    parser.add_argument("--ema-decay", type=float, nargs="+", default=[0.999], metavar="DECAY",
                        help="EMA of D, the classifier that is scored; several decays are all scored on the same runs "
                        "(one row each): the averages do not change training")
    parser.add_argument("--score-every", type=int, default=0, metavar="N",
                        help="also print each run's test errors every N steps (0: at the end only)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs side by side, one CPU thread each (2 on a 2-core CPU: ~1.2× the throughput, "
                        "but then 'minutes per run' is not a solo run's time)")
    parser.add_argument("--runs", nargs="+", metavar="DIR",
                        help="score these finished run folders (e.g. seeds trained side by side) instead of training")
    per_run = ("labels", "subset_seed")  # set for each run by --labels and the seeds
    add_options(parser, SemiSupervisedOptions, "the variant (as `translate train semisup`)", skip=per_run)
    args = parser.parse_args(argv)
    if args.runs:
        return _score_semisup_runs(args.runs, args.data)
    if args.seeds < 1:
        parser.error("--seeds must be 1 or more")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    if not all(0 < decay < 1 for decay in args.ema_decay):
        parser.error("--ema-decay must be in (0, 1): the scored classifier is D's average")
    if args.score_every < 0:
        parser.error("--score-every must be 0 (off) or a number of steps")
    variant = options_from_args(SemiSupervisedOptions, args)
    changed = [_as_flag(flag_name(name), value) for name, value in vars(args).items()
               if hasattr(variant, name) and name not in per_run]
    decays = ", ".join(f"{decay:g}" for decay in args.ema_decay)
    print(f"semi-supervised GAN, MNIST test errors of 10,000 after {args.steps} steps (batch 100, EMA {decays}"
          f" of D{'; ' + ' '.join(changed) if changed else ''}); {args.precision}; seeds {seeds[0]}..{seeds[-1]}; "
          f"{args.jobs} run(s) at a time; {_machine()}\n")
    print("| labels | test errors (mean ± std) | runs | minutes per run | Salimans et al. 2016 |\n|---|---|---|---|---|")
    common = (args.steps, args.data, args.device, args.precision, args.ema_decay, variant, args.jobs > 1,
              args.score_every)
    pool = _process_pool(args.jobs) if args.jobs > 1 else None
    try:
        futures = {(labels, seed): pool.submit(_semisup_run, labels, seed, *common)
                   for labels in args.labels for seed in seeds} if pool else {}
        for labels in args.labels:
            results = [futures[(labels, seed)].result() if pool else _semisup_run(labels, seed, *common)
                       for seed in seeds]
            minutes = statistics.mean(r[1] for r in results)
            for index, decay in enumerate(args.ema_decay):
                errors = [r[0][index] for r in results]
                spread = statistics.stdev(errors) if len(errors) > 1 else 0.0
                row = f"{labels}, EMA {decay:g}" if len(args.ema_decay) > 1 else f"{labels}"
                listed = f" ({', '.join(map(str, errors))})" if len(errors) > 1 else ""
                print(f"| {row} | {statistics.mean(errors):.1f} ± {spread:.1f}{listed} | {len(errors)} | {minutes:.1f} | "
                      f"{SALIMANS_MNIST_ERRORS.get(labels, '—')} |", flush=True)
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    return 0


def _as_flag(flag: str, value) -> str:
    """A given option as it was typed: `--no-weight-norm`, `--lr 0.001`."""
    if isinstance(value, bool):
        return flag if value else "--no-" + flag[2:]
    return f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}"


def _score_semisup_runs(runs: list[str], data: str) -> int:
    """One table row per label count from finished run folders: mean ± std of their test errors."""
    from .weights import load_weights

    by_labels: dict[int, list[int]] = {}
    for run in runs:
        loaded = load_weights(run)
        if loaded.pipeline.name != "semisup":
            raise UserError(f"{run}: a {loaded.pipeline.name} run, not semisup")
        options = loaded.options
        metrics = loaded.pipeline.evaluate(loaded.networks, options, data, baseline_steps=0, judge_steps=0)
        by_labels.setdefault(options.labels, []).append(metrics["test_errors"])
        print(f"{run}: {metrics['test_errors']} test errors ({options.labels} labels, subset seed "
              f"{options.subset_seed})", flush=True)
    print("\n| labels | test errors (mean ± std) | runs | Salimans et al. 2016 |\n|---|---|---|---|")
    for labels, errors in sorted(by_labels.items()):
        spread = statistics.stdev(errors) if len(errors) > 1 else 0.0
        print(f"| {labels} | {statistics.mean(errors):.1f} ± {spread:.1f} | {len(errors)} | "
              f"{SALIMANS_MNIST_ERRORS.get(labels, '—')} |")
    return 0


# --- the semi-supervised demo: digits drawn at another size or place than MNIST's -----------------

#: (share of the canvas the digit's longer side spans, how far off-centre it sits: 0 centred, 1 touching an edge)
DRAWN_PLACEMENTS = ((0.71, 0.0), (0.9, 0.0), (0.5, 0.0), (0.35, 0.0), (0.5, 1.0), (0.9, 0.5))
CANVAS_SIDE = 280  # the demo's sketchpad


def _drawn(digit, fill: float, offset: float, rng) -> "np.ndarray":
    """An MNIST digit as if drawn on the demo's canvas: its ink scaled to span `fill` of the canvas, moved off
    centre by up to `offset` of the free space (light ink on dark, as the demo turns a drawing into)."""
    import cv2
    import numpy as np

    from .data.classes import crop_to_ink

    crop = crop_to_ink(digit, digit > 30)
    scale = fill * CANVAS_SIDE / max(crop.shape)
    crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                      interpolation=cv2.INTER_LINEAR)
    canvas = np.zeros((CANVAS_SIDE, CANVAS_SIDE), np.uint8)
    height, width = crop.shape
    top = int((CANVAS_SIDE - height) / 2 * (1 + offset * rng.uniform(-1, 1)))
    left = int((CANVAS_SIDE - width) / 2 * (1 + offset * rng.uniform(-1, 1)))
    canvas[top:top + height, left:left + width] = crop
    return canvas


def bench_drawn_digits(argv: list[str]) -> int:
    import numpy as np

    from .data.classes import as_mnist_digit, load_mnist
    from .pipelines.semisup import classify
    from .weights import load_weights

    parser = argparse.ArgumentParser(prog="translate bench drawn-digits",
                                     description="MNIST test digits redrawn at other sizes and places on the demo's "
                                     "280×280 canvas: the share a semi-supervised classifier reads right when the "
                                     "drawing is only resized to 28×28, and when it is first sized and centred as "
                                     "MNIST's digits are (as the demo does).")
    parser.add_argument("--weights", default="semisup-mnist100")
    parser.add_argument("--data", default="../shared/datasets/MNIST", help="MNIST folder (IDX files)")
    parser.add_argument("--count", type=int, default=1000, help="test digits drawn (the same ones in every row)")
    parser.add_argument("--seed", type=int, default=0, help="picks the digits and their places")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be 1 or more")
    loaded = load_weights(args.weights)
    if loaded.pipeline.name != "semisup" or (loaded.options.image_size, loaded.options.channels) != (28, 1):
        raise UserError(f"{args.weights}: not a semi-supervised classifier of 28×28 gray digits")
    images, labels = load_mnist(args.data, "test")
    rng = np.random.default_rng(args.seed)
    chosen = rng.permutation(len(images))[:args.count]
    discriminator, options = loaded.networks["D"], loaded.options

    def share_right(digits) -> str:
        right = sum(int(classify(discriminator, digit, options)[0].argmax()) == labels[i]
                    for i, digit in zip(chosen, digits))
        return f"{100 * right / len(chosen):.1f} %"

    print(f"{args.weights}: {args.count} MNIST test digits (seed {args.seed}); {_machine()}\n")
    print("| digit as drawn | resized to 28×28 only | sized and centred as MNIST's |\n|---|---|---|")
    as_is = [images[i] for i in chosen]
    print(f"| MNIST's own 28×28 | {share_right(as_is)} | {share_right([as_mnist_digit(d) for d in as_is])} |",
          flush=True)
    for fill, offset in DRAWN_PLACEMENTS:
        drawings = [_drawn(images[i], fill, offset, rng) for i in chosen]
        place = "centred" if offset == 0 else f"up to {offset:.0%} of the way to an edge"
        print(f"| {fill:.0%} of the canvas wide, {place} | {share_right(drawings)} | "
              f"{share_right([as_mnist_digit(d) for d in drawings])} |", flush=True)
    return 0


BENCHES = {"ganlab": bench_ganlab, "trainer": bench_trainer, "pix2pix": bench_pix2pix, "srgan": bench_srgan,
           "cyclegan": bench_cyclegan, "semisup": bench_semisup,
           "drawn-digits": bench_drawn_digits}


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
