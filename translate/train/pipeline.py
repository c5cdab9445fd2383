"""What a pipeline is: its networks, optimisers, data and training step — nothing generic.

A pipeline subclasses `Pipeline`, declares its options dataclass and the names of its networks, and
writes `train_step` the way the paper's algorithm box reads. The trainer gives it four services:
`self.autocast()` (the run's precision), `self.optimize(name, loss)` (backward and step, with the
grad scaler when there is one), `self.next_batch()` (another batch, e.g. for k discriminator steps)
and `self.frozen(*networks)` (no weight gradients while training the other player).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, ClassVar, Iterator

import torch
from torch import nn
from torch.utils.data import Dataset

from ..errors import UserError


def adam(parameters, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> torch.optim.Adam:
    """Adam with the fused kernel: one pass over all parameters instead of a loop of small ops per
    tensor (on this project's 2-core CPU, 0.7 ms instead of 4.9 ms per step for the 1.5M-parameter
    semi-supervised discriminator). The update is the same Adam. Its settings come from a user's flags:
    bad ones are a one-line error here, for every pipeline, instead of torch's traceback."""
    if not (lr > 0 and eps > 0 and all(0 <= beta < 1 for beta in betas)):
        raise UserError(f"Adam needs a positive learning rate and ε and betas in [0, 1); got lr {lr}, betas {betas}, "
                        f"ε {eps}: check the learning-rate, beta and epsilon flags of this command")
    return torch.optim.Adam(parameters, lr, betas=betas, eps=eps, fused=True)


class Pipeline:
    name: ClassVar[str]
    Options: ClassVar[type]
    #: trainer defaults this pipeline wants (shown by --help), e.g. {"batch_size": 16}
    trainer_defaults: ClassVar[dict[str, Any]] = {}
    #: attributes holding the trained networks; the trainer moves, wraps and saves them
    networks: ClassVar[tuple[str, ...]] = ()
    #: networks whose weights the trainer averages when --ema-decay > 0
    ema_networks: ClassVar[tuple[str, ...]] = ()
    #: networks written to the shipped weights (the EMA copy when there is one)
    export_networks: ClassVar[tuple[str, ...]] = ("G",)
    #: losses returned by train_step, in display order
    loss_names: ClassVar[tuple[str, ...]] = ()
    #: options that shape the networks: with --init, those not given on the command line come from the weights
    architecture_options: ClassVar[tuple[str, ...]] = ()
    #: per network, the parameter-name prefix that --init may leave freshly initialised where its shapes differ
    #: from the weights', and why that is expected (a classifier head on data with another number of classes)
    init_may_reset: ClassVar[dict[str, tuple[str, str]]] = {}

    def __init__(self, options, data: str, device: torch.device):
        self.options, self.data, self.device = options, data, device
        self._trainer = None  # set by the trainer

    # --- what each pipeline writes -----------------------------------------------------------
    def build(self) -> None:
        """Create the networks (as attributes named in `networks`) and the losses."""
        raise NotImplementedError

    def dataset(self) -> Dataset:
        """The training data; __getitem__ receives a `SampleKey` (index, seed)."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def train_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        """One training step; returns the losses to log (tensors, not synced to the host)."""
        raise NotImplementedError

    def batches_per_step(self) -> int:
        """How many batches one step draws (k discriminator steps draw k)."""
        return 1

    def visuals(self) -> dict[str, torch.Tensor]:
        """Images in [0, 1] (N×C×H×W) to show in sample grids; one row per entry."""
        return {}

    def example_input(self, network: str) -> torch.Tensor | None:
        """A small input batch for `network` (used by the channels-last check); None if not a conv net."""
        return None

    def validate(self) -> dict[str, float]:
        """Metrics on held-out data, run every --eval-every steps. Empty when there is nothing to measure."""
        return {}

    #: the keys `card_extras` adds to the model card (`translate weights add` copies them)
    card_keys: ClassVar[tuple[str, ...]] = ()

    #: (metric, "max" or "min") for keeping the best checkpoint; None keeps none
    best_metric: ClassVar[tuple[str, str] | None] = None

    def card_extras(self) -> dict[str, Any]:
        """Facts about the training data that inference needs beyond the options, written into the model card
        (semisup: the class names). `infer` and `evaluate` get the card as `card=`."""
        return {}

    def state_dict(self) -> dict:
        """Extra state to checkpoint (image pools, running averages...)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    # --- inference (used by translate infer/eval/export and the demos) -----------------------
    @classmethod
    def inference_networks(cls, options, data: str) -> nn.ModuleDict:
        """The exported networks, freshly built from options and the training data's name (weights are
        loaded after)."""
        raise NotImplementedError

    @classmethod
    def infer(cls, model: nn.ModuleDict, options, inputs: list[str], out_dir: Path, **kwargs) -> list[Path]:
        raise NotImplementedError(f"{cls.name} has no `translate infer`")

    @classmethod
    def evaluate(cls, model: nn.ModuleDict, options, data: str, **kwargs) -> dict[str, Any]:
        raise NotImplementedError(f"{cls.name} has no `translate eval`")

    @classmethod
    def export_example(cls, options) -> tuple[str, torch.Tensor]:
        """(network name, example input) for ONNX export."""
        raise NotImplementedError(f"{cls.name} has no `translate export`")

    # --- services the trainer provides --------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager:
        return self._trainer.autocast() if self._trainer else contextlib.nullcontext()

    def optimize(self, optimizer: str, loss: torch.Tensor) -> None:
        self._trainer.optimize(optimizer, loss)

    def next_batch(self) -> dict:
        return self._trainer.next_batch()

    @contextlib.contextmanager
    def frozen(self, *networks: nn.Module) -> Iterator[None]:
        """No weight gradients for `networks` inside the block (e.g. D while updating G).

        Under DistributedDataParallel this does nothing: DDP expects a gradient for every parameter.
        """
        if self._trainer is not None and self._trainer.distributed:
            yield
            return
        states = [(p, p.requires_grad) for net in networks for p in net.parameters()]
        for p, _ in states:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p, flag in states:
                p.requires_grad_(flag)

    @property
    def step(self) -> int:
        return self._trainer.step if self._trainer else 0

    @property
    def total_steps(self) -> int:
        """The length of the run (known once the data is), e.g. to anneal instance noise over it."""
        return self._trainer.total_steps if self._trainer else 1
