"""The GAN lab: MLP generator and discriminator on toy distributions, every loss and trick selectable.

It is small enough to train in seconds on a CPU, and its results can be checked against theory:
mode coverage on the ring of 8 Gaussians, the optimal discriminator p_data / (p_data + p_model),
and the dynamics of simultaneous vs alternating gradient steps on V(x, y) = x·y.

    translate train ganlab --data ring8 --run runs/ring --steps 2000 --loss nonsaturating --gp wgan-gp
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..data.images import image_to_tensor, save_image
from ..data.toy import ToyDataset, mode_statistics, render_samples, toy_distribution
from ..errors import UserError
from ..nn import (ADVERSARIAL_LOSSES, PENALTIES, HistoricalAveraging, InstanceNoise, MLPDiscriminator,
                  MLPGenerator, WithReferenceBatch, adversarial_loss, clip_weights_, feature_matching_loss,
                  gradient_penalty)
from ..train import Pipeline, adam, option


@dataclass
class GanLabOptions:
    loss: str = option("nonsaturating", "adversarial loss", choices=tuple(ADVERSARIAL_LOSSES))
    gp: str = option("none", "gradient penalty on the discriminator", choices=("none", *PENALTIES))
    gp_weight: float = option(1.0, "weight of the gradient penalty (λ)")
    latent_dim: int = option(2, "size of the generator's noise vector")
    hidden: tuple[int, ...] = option((128, 128, 128), "hidden layer widths of both networks")
    generator_norm: str = option("none", "normalisation in the generator", choices=("none", "batch", "virtual"))
    lr: float = option(1e-3, "Adam learning rate of both networks")
    beta1: float = option(0.5, "Adam β1")
    beta2: float = option(0.9, "Adam β2")
    d_steps: int = option(1, "discriminator steps per generator step (k in Goodfellow et al. 2014, Alg. 1)")
    label_smoothing: float = option(0.0, "one-sided label smoothing: real targets become 1 − this")
    instance_noise: float = option(0.0, "σ of instance noise at the start, annealed linearly to 0")
    noise_anneal: float = option(0.5, "fraction of the run over which instance noise anneals")
    minibatch_discrimination: bool = option(False, "minibatch discrimination layer in the discriminator")
    minibatch_kernels: int = option(8, "minibatch discrimination kernels (its cost grows with batch² × kernels)")
    feature_matching: bool = option(False, "train the generator by feature matching instead of the adversarial loss")
    historical_averaging: float = option(0.0, "weight of the historical-averaging penalty (0: off)")
    weight_clip: float = option(0.01, "WGAN weight clipping, used with --loss wasserstein and no gradient penalty")
    spectral_norm: bool = option(False, "spectral normalisation of the discriminator")
    eval_samples: int = option(2500, "samples drawn to count modes")


def build_generator(options: GanLabOptions, dim: int) -> nn.Module:
    generator = MLPGenerator(options.latent_dim, dim, options.hidden, norm=options.generator_norm)
    if options.generator_norm == "virtual":
        # The reference batch is fixed once; loading weights restores it from the checkpoint.
        reference = torch.randn(64, options.latent_dim, generator=torch.Generator().manual_seed(12345))
        generator = WithReferenceBatch(generator, reference)
    return generator


class GanLab(Pipeline):
    name = "ganlab"
    Options = GanLabOptions
    architecture_options = ("latent_dim", "hidden", "generator_norm", "minibatch_discrimination", "minibatch_kernels",
                            "spectral_norm")
    trainer_defaults = {"steps": 2000, "batch_size": 256, "workers": 0, "lr_schedule": "linear",
                        "log_every": 100, "sample_every": 500, "save_every": 1000}
    networks = ("G", "D")
    ema_networks = ("G",)
    export_networks = ("G",)
    loss_names = ("d_loss", "g_loss")

    def build(self) -> None:
        o = self.options
        self.distribution = toy_distribution(self.data)
        dim = self.distribution.dim
        self.G = build_generator(o, dim)
        self.D = MLPDiscriminator(dim, 1, o.hidden, minibatch_discrimination=o.minibatch_discrimination,
                                  minibatch_kernels=o.minibatch_kernels,
                                  spectral_norm=o.spectral_norm)
        self.adversarial = adversarial_loss(o.loss, real_label=1.0 - o.label_smoothing)
        self.penalty = gradient_penalty(o.gp)
        self.clip = o.weight_clip if o.loss == "wasserstein" and o.gp == "none" else 0.0
        self.noise = InstanceNoise(o.instance_noise, 1) if o.instance_noise > 0 else None
        self.history = ({"G": HistoricalAveraging(self.G), "D": HistoricalAveraging(self.D)}
                        if o.historical_averaging > 0 else {})

    def dataset(self) -> ToyDataset:
        return ToyDataset(self.distribution)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        o = self.options
        if self.noise is not None:  # the run's length is known once the data is
            self.noise.anneal_steps = max(1, int(self.total_steps * o.noise_anneal))
        for history in self.history.values():
            history.to(self.device)
        return {"D": adam(self.D.parameters(), o.lr, (o.beta1, o.beta2)),
                "G": adam(self.G.parameters(), o.lr, (o.beta1, o.beta2))}

    def batches_per_step(self) -> int:
        return self.options.d_steps

    def latent(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.options.latent_dim, device=self.device)

    def discriminator_input(self, x: torch.Tensor, step: int) -> torch.Tensor:
        return self.noise(x, step) if self.noise is not None else x

    def train_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        o = self.options
        # Discriminator: k steps, each on a fresh real batch (Goodfellow et al. 2014, Algorithm 1).
        for k in range(o.d_steps):
            real = batch["x"] if k == 0 else self.next_batch()["x"]
            with torch.no_grad(), self.autocast():
                fake = self.G(self.latent(real.shape[0])).float()
            with self.autocast():
                d_real = self.D(self.discriminator_input(real, step))
                d_fake = self.D(self.discriminator_input(fake, step))
                d_loss = self.adversarial.discriminator(d_real, d_fake)
            if self.penalty is not None:
                d_loss = d_loss + o.gp_weight * self.penalty(self.D, real, fake)
            if "D" in self.history:
                d_loss = d_loss + o.historical_averaging * self.history["D"].penalty()
            self.optimize("D", d_loss)
            if self.clip:
                clip_weights_(self.D, self.clip)
            if "D" in self.history:
                self.history["D"].update()

        # Generator: one step against the updated discriminator.
        with self.frozen(self.D), self.autocast():
            fake = self.G(self.latent(real.shape[0]))
            if o.feature_matching:
                _, fake_features = self.D(self.discriminator_input(fake, step), return_features=True)
                with torch.no_grad():
                    _, real_features = self.D(self.discriminator_input(real, step), return_features=True)
                g_loss = feature_matching_loss(real_features, fake_features)
            else:
                d_fake = self.D(self.discriminator_input(fake, step))
                g_loss = self.adversarial.generator(d_fake, d_real.detach())
        if "G" in self.history:
            g_loss = g_loss + o.historical_averaging * self.history["G"].penalty()
        self.optimize("G", g_loss)
        if "G" in self.history:
            self.history["G"].update()
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

    @torch.no_grad()
    def generate(self, n: int) -> torch.Tensor:
        generator = self._trainer.ema["G"].module if self._trainer and "G" in self._trainer.ema else self.G
        return generator(self.latent(n)).float()

    def visuals(self) -> dict[str, torch.Tensor]:
        picture = render_samples(self.generate(self.options.eval_samples), self.distribution)
        return {"samples": image_to_tensor(picture, (0, 1)).unsqueeze(0)}

    def validate(self) -> dict[str, float]:
        return mode_statistics(self.generate(self.options.eval_samples).cpu(), self.distribution)

    def state_dict(self) -> dict:
        return {name: h.state_dict() for name, h in self.history.items()}

    def load_state_dict(self, state: dict) -> None:
        for name, history in self.history.items():
            history.load_state_dict(state[name])

    # --- inference ------------------------------------------------------------------------------
    @classmethod
    def inference_networks(cls, options: GanLabOptions, data: str) -> nn.ModuleDict:
        return nn.ModuleDict({"G": build_generator(options, toy_distribution(data).dim)})

    @classmethod
    def sample(cls, networks: nn.ModuleDict, options: GanLabOptions, n: int, seed: int = 0) -> torch.Tensor:
        generator = networks["G"]
        z = torch.randn(n, options.latent_dim, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            return generator(z.to(next(generator.parameters()).device)).float().cpu()

    @classmethod
    def infer(cls, networks, options, inputs: list[str], out_dir: Path, data: str = "ring8", seed: int = 0, **_) -> list[Path]:
        try:
            (count,) = [int(value) for value in inputs]
        except ValueError:
            raise UserError("the GAN lab generates points: give one number of samples, e.g. `translate infer "
                            "ganlab-ring8 2000 --out samples/`") from None
        samples = cls.sample(networks, options, count, seed)
        out_dir.mkdir(parents=True, exist_ok=True)
        table = out_dir / "samples.csv"
        table.write_text("\n".join(",".join(f"{v:.6f}" for v in row) for row in samples.tolist()) + "\n")
        picture = save_image(render_samples(samples, toy_distribution(data)), out_dir / "samples.png")
        return [table, picture]

    @classmethod
    def evaluate(cls, networks, options, data: str, seed: int = 0, out: Path | None = None, **_) -> dict:
        distribution = toy_distribution(data)
        samples = cls.sample(networks, options, options.eval_samples, seed)
        if samples.shape[1] != distribution.dim:
            raise UserError(f"these weights generate {samples.shape[1]}-D points but {data} is {distribution.dim}-D")
        metrics = {"data": data, **mode_statistics(samples, distribution)}
        if out is not None:
            metrics["picture"] = str(save_image(render_samples(samples, distribution), Path(out) / "samples.png"))
        return metrics

    @classmethod
    def export_example(cls, options: GanLabOptions) -> tuple[str, torch.Tensor]:
        return "G", torch.randn(4, options.latent_dim)


# --- theory: small exact experiments the tests pin down -----------------------------------------

def optimal_discriminator(p_data: Callable, p_model: Callable) -> Callable:
    """Goodfellow et al. 2014, Prop. 1: for a fixed generator, D*(x) = p_data(x) / (p_data(x) + p_model(x))."""
    return lambda x: p_data(x) / (p_data(x) + p_model(x))


def fit_discriminator(sample_data: Callable, sample_model: Callable, steps: int = 1500, batch: int = 2048,
                      seed: int = 0) -> nn.Module:
    """Train an MLP discriminator to convergence on two fixed 1-D samplers (cross-entropy, Adam)."""
    torch.manual_seed(seed)
    discriminator = MLPDiscriminator(1, 1, (64, 64))
    optimizer = adam(discriminator.parameters(), 3e-3)
    loss = adversarial_loss("minimax")
    for step in range(steps):
        for group in optimizer.param_groups:  # anneal to settle on the optimum
            group["lr"] = 3e-3 * (1 - step / steps) + 1e-4
        d_loss = loss.discriminator(discriminator(sample_data(batch)), discriminator(sample_model(batch)))
        optimizer.zero_grad()
        d_loss.backward()
        optimizer.step()
    return discriminator


def bilinear_game(method: str, steps: int = 200, lr: float = 0.1, start: tuple[float, float] = (1.0, 1.0)) -> list[float]:
    """Gradient play on min_x max_y V(x, y) = x·y; returns the distance from the equilibrium (0, 0) per step.

    `simultaneous` steps both players from the same point and spirals outward (radius × √(1 + η²) per
    step); `alternating` lets y respond to the new x and stays on a bounded orbit; `extragradient`
    (Korpelevich 1976) steps from a look-ahead point and converges.
    """
    x = torch.tensor(start[0], requires_grad=True)
    y = torch.tensor(start[1], requires_grad=True)

    def gradients(x_at, y_at):
        value = x_at * y_at
        return torch.autograd.grad(value, (x_at, y_at))

    radii = [math.hypot(*start)]
    for _ in range(steps):
        if method == "simultaneous":
            gx, gy = gradients(x, y)
            x, y = (x - lr * gx).detach().requires_grad_(), (y + lr * gy).detach().requires_grad_()
        elif method == "alternating":
            gx, _ = gradients(x, y)
            x = (x - lr * gx).detach().requires_grad_()
            _, gy = gradients(x, y)
            y = (y + lr * gy).detach().requires_grad_()
        elif method == "extragradient":
            gx, gy = gradients(x, y)
            x_half, y_half = (x - lr * gx).detach().requires_grad_(), (y + lr * gy).detach().requires_grad_()
            gx, gy = gradients(x_half, y_half)
            x, y = (x - lr * gx).detach().requires_grad_(), (y + lr * gy).detach().requires_grad_()
        else:
            raise ValueError(f"unknown method {method!r}: simultaneous, alternating or extragradient")
        radii.append(math.hypot(x.item(), y.item()))
    return radii
