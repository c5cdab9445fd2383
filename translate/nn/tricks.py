"""Training tricks that keep GANs stable: image history pool, historical averaging, EMA weights,
weight normalisation's data-dependent initialisation."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class ImagePool:
    """A history of generated images (Shrivastava et al. 2017; CycleGAN uses 50).

    The discriminator sees, half of the time, an older fake instead of the newest one, which stops
    it from forgetting what earlier generators produced and the two networks from oscillating.
    Randomness comes from torch's generator, so a resumed run makes the same choices.
    """

    def __init__(self, size: int = 50):
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand(()) < 0.5:
                slot = int(torch.randint(0, self.size, ()))
                older, self.images[slot] = self.images[slot], image.clone()
                # an older fake of another size (a --preprocess that keeps sizes) cannot join this batch
                out.append(older.clone() if older.shape == image.shape else image)
            else:
                out.append(image)
        return torch.cat(out)

    def state_dict(self) -> dict:
        return {"size": self.size, "images": [im.cpu() for im in self.images]}

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        self.size = state["size"]
        self.images = [im.to(device) for im in state["images"]]


class HistoricalAveraging(nn.Module):
    """Salimans et al. 2016, §3.3: penalise ‖θ − (1/t) Σᵢ θᵢ‖², the distance of the parameters from
    their own running average, which damps the oscillations of gradient descent on a game."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network_ref = [network]  # a list, so the network is not registered as a submodule
        parameters = list(network.parameters())
        self.num_parameters = len(parameters)
        for i, p in enumerate(parameters):
            self.register_buffer(f"average_{i}", p.detach().float().clone())
        self.register_buffer("count", torch.ones((), dtype=torch.long))

    def _pairs(self):
        averages = (getattr(self, f"average_{i}") for i in range(self.num_parameters))
        return zip(self.network_ref[0].parameters(), averages)

    def penalty(self) -> torch.Tensor:
        return sum(((p.float() - avg) ** 2).sum() for p, avg in self._pairs())

    @torch.no_grad()
    def update(self) -> None:
        self.count += 1
        for p, avg in self._pairs():
            avg.add_((p.detach().float() - avg) / self.count)


def exponential_moving_average(network: nn.Module, decay: float = 0.999, warmup: bool = False) -> AveragedModel:
    """An EMA copy of `network` (torch.optim.swa_utils); call `.update_parameters(network)` after
    each optimiser step. Buffers (batch-norm statistics) are averaged too.

    `warmup`: after n updates the decay is min(decay, (1 + n) / (10 + n)), as TensorFlow's
    ExponentialMovingAverage does with num_updates. Without it, a 0.999 average still holds 74 % of
    the weights it started from after 300 steps, so a short run or fine-tune is scored on its start;
    from n ≈ 9000 on (at 0.999) both decay alike and the start fades from either."""
    if not warmup:
        return AveragedModel(network, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)

    @torch.no_grad()
    def warmed_up_update(averages: list, currents: list, updates_so_far: torch.Tensor) -> None:
        step_decay = ((1 + updates_so_far) / (10 + updates_so_far)).clamp(max=decay)
        if torch.is_floating_point(averages[0]):
            # average += (1 - decay)·(current − average) in one pass, the weight a tensor on the parameters' device
            # (as a Python number it would cost a host sync on every step of a GPU run). Subtracting, scaling and
            # adding in three passes took about 1 ms of a 40 ms semisup step on a 2-core CPU; this takes 0.1.
            weight = (1 - step_decay).to(averages[0].dtype)
            torch._foreach_lerp_(averages, currents, [weight] * len(averages))
        else:  # integer buffers, e.g. batch norm's num_batches_tracked
            for average, current in zip(averages, currents, strict=True):
                average.copy_(average * step_decay + current * (1 - step_decay))

    return AveragedModel(network, multi_avg_fn=warmed_up_update, use_buffers=True)


@torch.no_grad()
def initialise_from_data(layers, x: torch.Tensor) -> torch.Tensor:
    """Weight normalisation's data-dependent initialisation (Salimans & Kingma 2016, §3; the
    improved-GAN code runs it on 500 training images): pass one batch through `layers` in order and
    give each weight-normalised linear layer the scale and bias that make its pre-activations zero-mean
    and unit-variance on that batch. Layers without weight normalisation are only run."""
    for layer in layers:
        if isinstance(layer, nn.Linear) and parametrize.is_parametrized(layer, "weight"):
            out = layer(x)
            mean, std = out.mean(0), out.std(0, correction=0).clamp_min(1e-6)
            layer.parametrizations.weight.original0.div_(std[:, None])  # the scale g, one per output unit
            layer.bias.sub_(mean).div_(std)
        x = layer(x)
    return x
