"""The trainer: everything generic about training, for any pipeline.

It owns the device, precision, channels-last, torch.compile, DDP, learning-rate schedules, EMA,
seeding, checkpoints and resume, signals, logging and progress. It never knows what a cycle loss is:
that is the pipeline's training step.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import os
import platform
import random
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, default_collate

from ..data.sampling import ShardedBatchSampler
from ..errors import NonFiniteLossError, UserError, unreadable_torch_file, unwrapped
from . import distributed
from .options import TrainerOptions, to_dict
from .pipeline import Pipeline

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
OPTIONS = "options.json"


def choose_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is visible to PyTorch; use --device cpu or auto")
    if name == "mps" and not torch.backends.mps.is_available():
        raise UserError("--device mps: Apple's MPS backend is not available here; use --device cpu or auto")
    if name == "cuda":
        return torch.device("cuda", distributed.context().local_rank)
    return torch.device(name)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU does bf16 matrix products in hardware (AMX or AVX512-BF16). An x86 CPU without
    either emulates them, and bf16 autocast is then slower than fp32 for our pipelines: 2.4–4× on an AVX-512 CPU
    (BENCHMARKS.md, "bf16 on a CPU without AMX"), about 7× for semisup on an AVX2-only one ("75 epochs ...").
    Other architectures, and torch builds without the probes, count as yes."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return True
    probes = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    answers = [probe() for probe in probes if probe is not None]
    return any(answers) or not answers


def cpu_precision_advice(precision: str) -> str | None:
    """One line for a --precision that is slow on this CPU, or None. Training, `infer` and `eval` say it."""
    native_bf16 = cpu_has_native_bf16()
    if precision == "fp16":
        return ("--precision fp16 on a CPU is slow (it is meant for GPUs); use "
                + ("bf16, the fast choice on this CPU" if native_bf16 else "fp32"))
    if precision == "bf16" and not native_bf16:
        return ("--precision bf16: this CPU has neither AMX nor AVX512-BF16, so bf16 is emulated and slower than fp32 "
                "(2.4–7× for our pipelines on two such CPUs, BENCHMARKS.md); use --precision fp32")
    return None


#: glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory() -> bool:
    """Let glibc keep freed blocks of up to 32 MB for reuse instead of handing them back to the system.

    By default glibc maps large blocks afresh and trims the heap's freed top, so many of a step's new tensors of a
    few MB fault in zeroed pages: a 180000-step semisup run on a 2-core CPU took 247 million page faults, 1370 a
    step, and 638 s of system time; with this, 145 thousand and 39 s, and 1 h 57 min instead of 2 h 5 min (pix2pix's
    CPU step is about 10 % faster too). The cost is a process that holds its peak memory until it exits, as a
    training process does anyway (PyTorch's performance tuning guide recommends jemalloc or tcmalloc for the same
    reason); the setting is process-wide, so a demo process that trains keeps it too. False where the C library is
    not glibc (musl, macOS, Windows), which is left as it is."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # only glibc has it; musl's mallopt does nothing
    except (OSError, AttributeError):
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    _, keys, position, has_gauss, cached_gauss = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": [torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(cached_gauss)]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    keys, position, has_gauss, cached_gauss = state["numpy"]
    np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), position, has_gauss, cached_gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def atomic_save(obj, path: Path) -> None:
    """Write to a temporary file in the same folder, then rename: a crash never leaves half a checkpoint."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        with open(temporary, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:  # a full disk, Ctrl-C: the last good checkpoint stays, and no half-written copy beside it
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, path)


def channels_last_is_safe(network: nn.Module, example: torch.Tensor, tolerance: float = 1e-2) -> bool:
    """Compare weight gradients of a channels-last run against the contiguous run.

    On some PyTorch builds InstanceNorm's backward is wrong for batch 1 with channels-last gradients
    (see README); this check catches that and anything like it before training starts.
    """
    import copy

    def gradients(net, x):
        net.zero_grad(set_to_none=True)
        out = net(x)
        out = out[0] if isinstance(out, (list, tuple)) else out
        (out.float() * torch.linspace(-1, 1, out.numel(), device=out.device).view_as(out)).sum().backward()
        return [p.grad.detach().float().clone() for p in net.parameters() if p.grad is not None]

    def without_dropout(net):
        # Dropout masks are drawn in memory order, so they differ between layouts by design.
        for module in net.modules():
            if isinstance(module, nn.modules.dropout._DropoutNd):
                module.eval()
        return net

    reference = without_dropout(copy.deepcopy(network).train())
    candidate = without_dropout(copy.deepcopy(network).train().to(memory_format=torch.channels_last))
    state = torch.get_rng_state()
    torch.manual_seed(0)
    expected = gradients(reference, example)
    torch.manual_seed(0)
    actual = gradients(candidate, example.contiguous(memory_format=torch.channels_last))
    torch.set_rng_state(state)
    if len(expected) != len(actual):
        return False
    # Relative to each gradient, but with a floor: the biases that feed a norm layer have (near-)zero
    # true gradients, and their rounding noise says nothing.
    floor = 1e-3 * torch.cat([e.flatten() for e in expected]).norm()
    return all((a - e).norm() <= tolerance * torch.maximum(e.norm(), floor) for e, a in zip(expected, actual))


def make_scheduler(optimizer: torch.optim.Optimizer, options: TrainerOptions, total_steps: int):
    kind = options.lr_schedule
    if kind == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if kind == "linear":  # pix2pix/CycleGAN: constant, then linearly to zero
        start = int(total_steps * options.decay_start)
        span = max(1, total_steps - start)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - max(0, step - start) / span)
    if kind == "step":
        every = options.lr_step_every or max(1, total_steps // 3)
        return torch.optim.lr_scheduler.StepLR(optimizer, every, options.lr_gamma)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, total_steps))


def _first_difference(theirs: dict[str, torch.Tensor], ours: dict[str, torch.Tensor]) -> str:
    """The first parameter that keeps a state dict from loading, in words."""
    for key, tensor in ours.items():
        if key not in theirs:
            return f"the weights lack {key}"
        if theirs[key].shape != tensor.shape:
            return (f"{key} is {'×'.join(map(str, theirs[key].shape))} in the weights, "
                    f"{'×'.join(map(str, tensor.shape))} here")
    extra = next((key for key in theirs if key not in ours), None)
    return f"the weights have {extra}, this network does not" if extra else "same names and shapes"


def _check_ranges(options: TrainerOptions) -> None:
    problems = [f"--{name.replace('_', '-')} must be {rule} (got {getattr(options, name)})"
                for name, rule, ok in [
                    ("batch_size", "at least 1", options.batch_size >= 1),
                    ("workers", "0 or more", options.workers >= 0),
                    ("log_every", "at least 1", options.log_every >= 1),
                    ("save_every", "at least 1", options.save_every >= 1),
                    ("epochs", "0 or more", options.epochs >= 0),
                    ("ema_decay", "in [0, 1)", 0 <= options.ema_decay < 1),
                    ("decay_start", "in [0, 1]", 0 <= options.decay_start <= 1)] if not ok]
    if problems:
        raise UserError("; ".join(problems))


class Trainer:
    """Trains `pipeline_cls` on `data`; `run_dir=None` trains in memory (for demos and tests). `init_weights`:
    the --init weights when the caller has loaded them already (the CLI reads their architecture)."""

    def __init__(self, pipeline_cls: type[Pipeline], pipeline_options, trainer_options: TrainerOptions,
                 data: str, run_dir: str | Path | None = None, resume: bool = False,
                 command: list[str] | None = None, init_weights=None):
        _check_ranges(trainer_options)
        if trainer_options.eval_every and pipeline_cls.validate is Pipeline.validate:
            raise UserError(f"--eval-every: {pipeline_cls.name} has no validation during training; score a run "
                            f"with `translate eval RUN --data PATH` instead")
        self.options = trainer_options
        self.pipeline_cls, self.pipeline_options, self.data = pipeline_cls, pipeline_options, data
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.command = command or []
        self.step = 0
        self.batches_drawn = 0
        self._stop_requested = False
        self.last_timing: dict[str, float] = {}  # seconds per step and waiting for data, last log interval
        self._writer = None
        self._best_value: float | None = None
        self._loss_sums: torch.Tensor | None = None
        self._loss_keys: list[str] = []
        self._loss_count, self._window_start, self._data_time = 0, 0, 0.0

        device_type = "cuda" if trainer_options.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
        self.dist = distributed.init_distributed(device_type)
        self.device = choose_device(trainer_options.device)
        self.distributed = self.dist.enabled
        if self.device.type == "cpu":
            self._warn_about_cpu_precision(trainer_options.precision)
            keep_freed_memory()  # the step's tensors come and go; on the CPU fresh pages are slow (BENCHMARKS.md)
        if trainer_options.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

        seed_everything(trainer_options.seed)  # the same initial weights on every rank
        self.pipeline = pipeline_cls(pipeline_options, data, self.device)
        self.pipeline._trainer = self
        self.pipeline.build()
        self.raw: dict[str, nn.Module] = {name: getattr(self.pipeline, name).to(self.device)
                                          for name in pipeline_cls.networks}
        if trainer_options.init and not resume:
            self._init_from(trainer_options.init, init_weights)
        self._apply_channels_last()

        self.dataset = self.pipeline.dataset()
        self.total_steps = self._total_steps()
        self.optimizers = self.pipeline.optimizers()
        self.schedulers = {name: make_scheduler(opt, trainer_options, self.total_steps)
                           for name, opt in self.optimizers.items()}
        self.scalers = {name: torch.amp.GradScaler(self.device.type)
                        for name in self.optimizers} if trainer_options.precision == "fp16" else {}
        self.ema = {}
        if trainer_options.ema_decay > 0:
            from ..nn.tricks import exponential_moving_average

            self.ema = {name: exponential_moving_average(self.raw[name], trainer_options.ema_decay,
                                                           trainer_options.ema_warmup)
                        for name in pipeline_cls.ema_networks}
        if resume:
            self._load_checkpoint(self.run_dir / CHECKPOINT)
        # Different noise per rank from here on (weights are already identical).
        if self.distributed and not resume:
            torch.manual_seed(trainer_options.seed + 1000003 * self.dist.rank)
        for name, network in self.raw.items():
            wrapped = distributed.wrap_data_parallel(network, self.device)
            if trainer_options.compile:
                wrapped = torch.compile(wrapped)
            setattr(self.pipeline, name, wrapped)
        self._loader_iter = None

    # --- set-up helpers ------------------------------------------------------------------------
    def _total_steps(self) -> int:
        if self.options.epochs > 0:
            per_epoch = ShardedBatchSampler(len(self.dataset), self.options.batch_size,
                                            world_size=self.dist.world_size).batches_per_epoch
            return max(1, self.options.epochs * per_epoch // self.pipeline.batches_per_step())
        if self.options.steps <= 0:
            raise UserError("--steps must be positive (or give --epochs)")
        return self.options.steps

    def _init_from(self, spec: str, loaded=None) -> None:
        from ..weights import load_weights

        loaded = loaded or load_weights(spec)
        if loaded.pipeline is not self.pipeline_cls:
            raise UserError(f"--init {spec}: those are {loaded.pipeline.name} weights, not {self.pipeline_cls.name}")
        reset = []
        for name, network in loaded.networks.items():
            if name not in self.raw:
                continue
            theirs, ours = network.state_dict(), self.raw[name].state_dict()
            prefix, why = self.pipeline_cls.init_may_reset.get(name, (None, ""))
            kept_fresh = [key for key in ours if prefix and key.startswith(prefix) and key in theirs
                          and theirs[key].shape != ours[key].shape]
            if kept_fresh:
                theirs = {**theirs, **{key: ours[key] for key in kept_fresh}}
                reset.append(f"{name}'s {prefix.rstrip('.')} starts fresh ({why})")
            try:
                self.raw[name].load_state_dict(theirs)
            except RuntimeError:
                difference = _first_difference(theirs, ours)
                raise UserError(f"--init {spec}: network {name} has a different architecture ({difference}); "
                                "leave the architecture options off the command line (--init then takes them "
                                "from the weights)") from None
        self._say(f"initialised {', '.join(loaded.networks)} from {loaded.source}" + "".join(f"; {r}" for r in reset))

    def _apply_channels_last(self) -> None:
        if not self.options.channels_last:
            return
        for name, network in self.raw.items():
            example = self.pipeline.example_input(name)
            if example is None:
                continue
            example = example.to(self.device)[: self.options.batch_size].contiguous()
            if channels_last_is_safe(network, example):
                network.to(memory_format=torch.channels_last)
            else:
                self._say(f"channels-last gives wrong gradients for {name} here (batch {example.shape[0]}); "
                          "keeping it contiguous")

    def _make_loader(self, start_batch: int) -> Iterator:
        sampler = ShardedBatchSampler(len(self.dataset), self.options.batch_size, seed=self.options.seed,
                                      rank=self.dist.rank, world_size=self.dist.world_size, start=start_batch)
        workers = self._loader_workers()
        loader = DataLoader(self.dataset, batch_sampler=sampler, num_workers=workers,
                            collate_fn=getattr(self.dataset, "collate", default_collate),
                            pin_memory=self.device.type == "cuda", persistent_workers=workers > 0,
                            prefetch_factor=4 if workers > 0 else None,
                            # its own generator: creating the loader must not draw from the global RNG,
                            # or a resumed run would diverge from an uninterrupted one
                            generator=torch.Generator().manual_seed(self.options.seed + start_batch))
        return iter(loader)

    def _loader_workers(self) -> int:
        """--workers, at most one per CPU this process may use: more only compete with the step for the same cores
        (torch warns twice about it). The options keep what was asked, so a resume on a larger machine gets it."""
        usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        if self.options.workers <= usable:
            return self.options.workers
        self._say(f"--workers {self.options.workers}: this process may use {usable} CPU{'s' * (usable > 1)}, so data "
                  f"loads in {usable} worker process{'es' * (usable > 1)}")
        return usable

    # --- services for the pipeline -----------------------------------------------------------
    def autocast(self):
        precision = self.options.precision
        if precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def optimize(self, name: str, loss: torch.Tensor) -> None:
        optimizer = self.optimizers[name]
        optimizer.zero_grad(set_to_none=True)
        scaler = self.scalers.get(name)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

    def next_batch(self) -> dict:
        if self._loader_iter is None:
            self._loader_iter = self._make_loader(self.batches_drawn)
        started = time.perf_counter()
        batch = next(self._loader_iter)
        self._data_time += time.perf_counter() - started
        self.batches_drawn += 1
        return {k: v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v
                for k, v in batch.items()}

    # --- checkpoints -----------------------------------------------------------------------------
    def _export_state(self) -> tuple[dict, dict]:
        networks = {name: (self.ema[name].module if name in self.ema else self.raw[name])
                    for name in self.pipeline_cls.export_networks}
        state = {f"{name}.{k}": v.detach().cpu() for name, net in networks.items()
                 for k, v in net.state_dict().items()}
        card = {"pipeline": self.pipeline_cls.name, "options": to_dict(self.pipeline_options),
                "trainer": to_dict(self.options), "data": self.data, "steps": self.step,
                "command": " ".join(self.command), "ema": bool(self.ema), **self.pipeline.card_extras()}
        return networks, {"card": card, "state": state}

    def save(self) -> None:
        """Write the full training state (every rank's RNG included) and the exported weights.

        Every rank calls this (it gathers their RNG states); only rank 0 writes."""
        rng = distributed.gather_objects(rng_state())
        if self._loss_sums is not None:  # never overwrite a good checkpoint with diverged weights
            self._check_finite(distributed.average_across_ranks(self._loss_sums))
        if distributed.is_main_process() and self.run_dir is not None:
            self._write_checkpoint(self.run_dir / CHECKPOINT, rng)
            from ..weights import write_weights

            networks, export = self._export_state()
            write_weights(networks, export["card"], self.run_dir / "model")

    def _write_checkpoint(self, path: Path, rng: list) -> None:
        networks, export = self._export_state()
        checkpoint = {
            "format": 1, "step": self.step, "batches_drawn": self.batches_drawn,
            "networks": {n: net.state_dict() for n, net in self.raw.items()},
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in self.schedulers.items()},
            "scalers": {n: s.state_dict() for n, s in self.scalers.items()},
            "ema": {n: e.state_dict() for n, e in self.ema.items()},
            "pipeline": self.pipeline.state_dict(), "rng": rng, "best": self._best_value,
            "export": export,
        }
        atomic_save(checkpoint, path)

    def _load_checkpoint(self, path: Path) -> None:
        if not path.is_file():
            raise UserError(f"{path}: no checkpoint to resume from (the run folder has none yet)")
        try:
            checkpoint = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as error:
            raise UserError(f"{path}: the checkpoint cannot be read ({unreadable_torch_file(error)}); "
                            "delete it to restart the run") from None
        for name, network in self.raw.items():
            network.load_state_dict(checkpoint["networks"][name])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(checkpoint["optimizers"][name])
        for name, scheduler in self.schedulers.items():
            scheduler.load_state_dict(checkpoint["schedulers"][name])
        for name, scaler in self.scalers.items():
            if name in checkpoint["scalers"]:
                scaler.load_state_dict(checkpoint["scalers"][name])
        for name, ema in self.ema.items():
            if name in checkpoint["ema"]:
                ema.load_state_dict(checkpoint["ema"][name])
        self.pipeline.load_state_dict(checkpoint["pipeline"])
        self.step, self.batches_drawn = checkpoint["step"], checkpoint["batches_drawn"]
        self._best_value = checkpoint.get("best")
        states = checkpoint["rng"]
        if len(states) == self.dist.world_size:
            set_rng_state(states[self.dist.rank])
        else:
            self._say(f"resuming on {self.dist.world_size} processes from a run on {len(states)}: "
                      "the random streams restart")
            torch.manual_seed(self.options.seed + self.step + 1000003 * self.dist.rank)
        self._say(f"resumed {self.run_dir} at step {self.step}")

    # --- the loop --------------------------------------------------------------------------------
    def _warn_about_cpu_precision(self, precision: str) -> None:
        if advice := cpu_precision_advice(precision):
            self._say(advice)

    def _saved_before(self, error: UserError, first_step: int) -> UserError:
        """A bad file met mid-run: save the steps trained so far first, and say how to go on once it is fixed.
        (Not under torchrun: a save needs every rank, and only this one stopped.)"""
        error = unwrapped(error)
        if self.step == first_step or self.run_dir is None or self.distributed:
            return error
        self.save()
        return type(error)(f"{error}. Steps up to {self.step} are saved: continue with "
                           f"`translate train --resume {self.run_dir}`")

    def _say(self, message: str) -> None:
        if distributed.is_main_process():
            print(message, file=sys.stderr, flush=True)

    def _check_finite(self, values: torch.Tensor) -> None:
        if not bool(torch.isfinite(values).all()):
            bad = [n for n, v in zip(self._loss_keys, values.tolist()) if not math.isfinite(v)]
            kept = f"the last good checkpoint in {self.run_dir} was kept" if self.run_dir else "nothing was saved"
            raise NonFiniteLossError(
                f"loss {', '.join(bad)} became NaN/Inf between steps {self._window_start} and {self.step}; {kept}. "
                "Try a lower learning rate, --precision fp32, or a gradient penalty")

    def _accumulate(self, losses: dict[str, torch.Tensor]) -> None:
        values = torch.stack([v.detach().float().reshape(()) for v in losses.values()])
        if self._loss_sums is None:
            self._loss_keys, self._loss_sums = list(losses), values
        else:
            self._loss_sums = self._loss_sums + values
        self._loss_count += 1

    def _flush_logs(self) -> dict[str, float]:
        if self._loss_sums is None:
            return {}
        means = distributed.average_across_ranks(self._loss_sums / self._loss_count)
        self._check_finite(means)
        logs = dict(zip(self._loss_keys, means.tolist()))
        self._loss_sums, self._loss_count, self._window_start = None, 0, self.step
        return logs

    def _writer_or_none(self):
        if self._writer is None and self.run_dir is not None and distributed.is_main_process():
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.run_dir / "tensorboard"))
        return self._writer

    def _log(self, logs: dict[str, float], timing: dict[str, float]) -> None:
        writer = self._writer_or_none()
        if writer is None:
            return
        for key, value in {**logs, **timing}.items():
            writer.add_scalar(key if "/" in key else f"loss/{key}", value, self.step)
        for name, optimizer in self.optimizers.items():
            writer.add_scalar(f"lr/{name}", optimizer.param_groups[0]["lr"], self.step)

    @contextlib.contextmanager
    def aside(self):
        """For samples and validation: eval mode, no gradients, and a forked RNG, so that looking at the
        model never changes its training (batch-norm statistics, random streams, exact resume)."""
        modes = {name: network.training for name, network in self.raw.items()}
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            for network in self.raw.values():
                network.eval()
            try:
                yield
            finally:
                for name, network in self.raw.items():
                    network.train(modes[name])

    def _save_samples(self) -> None:
        if self.run_dir is None or not distributed.is_main_process():
            return
        from torchvision.utils import make_grid, save_image

        with self.aside():
            visuals = self.pipeline.visuals()
        if not visuals:
            return
        # One row per visual (up to 8 images each), on white: visuals of other sizes (a --preprocess that keeps
        # each image's size) are padded to the largest.
        rows = [v.detach().float().cpu()[:8].clamp(0, 1) for v in visuals.values()]
        rows = [row.expand(-1, 3, -1, -1) if row.shape[1] == 1 else row for row in rows]
        columns = max(row.shape[0] for row in rows)
        height, width = max(row.shape[2] for row in rows), max(row.shape[3] for row in rows)
        rows = [nn.functional.pad(row, (0, width - row.shape[3], 0, height - row.shape[2]), value=1.0) for row in rows]
        cells = [image for row in rows for image in [*row, *[torch.ones_like(row[0])] * (columns - row.shape[0])]]
        grid = make_grid(cells, nrow=columns, padding=2, pad_value=1.0)
        (self.run_dir / "samples").mkdir(exist_ok=True)
        save_image(grid, self.run_dir / "samples" / f"step_{self.step:08d}.png")
        writer = self._writer_or_none()
        if writer is not None:
            writer.add_image("samples", grid, self.step)

    def _validate(self) -> dict[str, float]:
        if not distributed.is_main_process():
            return {}
        with self.aside():
            metrics = self.pipeline.validate()
        if not metrics:
            return {}
        writer = self._writer_or_none()
        if writer is not None:
            for key, value in metrics.items():
                writer.add_scalar(f"val/{key}", value, self.step)
        best = self.pipeline_cls.best_metric
        if best and best[0] in metrics and self.run_dir is not None:
            value = metrics[best[0]]
            better = self._best_value is None or (value > self._best_value if best[1] == "max" else value < self._best_value)
            if better:  # rank 0 alone: the best copy holds its RNG state only
                self._best_value = value
                self._write_checkpoint(self.run_dir / BEST, [rng_state()])
        return metrics

    def _install_signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            return {}

        def request_stop(signum, frame):
            if self._stop_requested:  # a second Ctrl-C stops at once
                raise KeyboardInterrupt
            self._stop_requested = True
            self._say(f"\n{signal.Signals(signum).name}: finishing step {self.step + 1}, saving, then stopping "
                      "(press Ctrl-C again to quit without saving)")

        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, request_stop)
        return previous

    def write_options(self) -> None:
        if self.run_dir is None or not distributed.is_main_process():
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        resolved = {"pipeline": self.pipeline_cls.name, "data": self.data, "command": self.command,
                    "world_size": self.dist.world_size, "trainer": to_dict(self.options),
                    "options": to_dict(self.pipeline_options)}
        (self.run_dir / OPTIONS).write_text(json.dumps(resolved, indent=2) + "\n")

    def iterate(self) -> Iterator[tuple[int, dict[str, float]]]:
        """Train, yielding (step, logs) at every log interval; the generator form lets demos show progress."""
        from tqdm.auto import tqdm

        self.write_options()
        self._loss_sums, self._loss_count, self._window_start, self._data_time = None, 0, self.step, 0.0
        end = min(self.total_steps, self.options.stop_at) if self.options.stop_at > 0 else self.total_steps
        first_step = self.step
        previous_handlers = self._install_signal_handlers()
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not (self.options.progress and
                   distributed.is_main_process()), dynamic_ncols=True, unit="step", desc=self.pipeline_cls.name)
        for network in self.raw.values():
            network.train()
        window_started, window_steps, logs = time.perf_counter(), 0, {}
        try:
            while self.step < end and not self._stop_requested:
                try:
                    batch = self.next_batch()
                except UserError as error:
                    raise self._saved_before(error, first_step) from None
                self._accumulate(self.pipeline.train_step(batch, self.step))
                for scheduler in self.schedulers.values():
                    scheduler.step()
                for name, ema in self.ema.items():
                    ema.update_parameters(self.raw[name])
                self.step += 1
                window_steps += 1
                bar.update(1)
                if self.step % self.options.log_every == 0 or self.step == end:
                    logs = self._flush_logs()
                    elapsed = time.perf_counter() - window_started
                    timing = {"time/step_s": elapsed / window_steps, "time/data_s": self._data_time / window_steps}
                    bar.set_postfix({k: f"{v:.3g}" for k, v in logs.items()}, refresh=False)
                    self._log(logs, timing)
                    self.last_timing = timing
                    yield self.step, logs
                    window_started, window_steps, self._data_time = time.perf_counter(), 0, 0.0
                if self.options.sample_every and self.step % self.options.sample_every == 0:
                    self._save_samples()
                if self.options.eval_every and self.step % self.options.eval_every == 0:
                    self._validate()
                if self.step % self.options.save_every == 0 and self.step < end:
                    self.save()
            self._flush_logs()
            self.save()
            if self.options.sample_every:
                self._save_samples()
        finally:
            bar.close()
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)
            if self._writer is not None:
                self._writer.close()
        if self._stop_requested or self.step < self.total_steps:
            self._say(f"stopped at step {self.step}; continue with: translate train --resume {self.run_dir}")

    def fit(self) -> dict[str, float]:
        logs: dict[str, float] = {}
        for _, logs in self.iterate():
            pass
        return logs
