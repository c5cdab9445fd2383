"""Losses from the GAN literature, all computed from logits.

`ADVERSARIAL_LOSSES[name](real_label)` gives an object with `discriminator(real, fake)` and
`generator(fake, real)`; logits may be tensors or lists of tensors (multi-scale discriminators).
`PENALTIES[name](discriminator, real, fake)` gives a gradient penalty to add to the D loss.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import unreadable_torch_file

Logits = torch.Tensor | Sequence[torch.Tensor]


def _mean_over_scales(fn: Callable[..., torch.Tensor], *logits: Logits) -> torch.Tensor:
    if isinstance(logits[0], torch.Tensor):
        return fn(*[l.float() for l in logits])
    per_scale = [fn(*[l.float() for l in scale]) for scale in zip(*logits)]
    return torch.stack(per_scale).mean()


class AdversarialLoss:
    """Base class. `real_label` < 1 is one-sided label smoothing (Salimans et al. 2016, §3.4): only the
    real targets are softened, since softening the fake ones would reward the generator for staying
    where it is."""

    uses_real_in_generator = False

    def __init__(self, real_label: float = 1.0):
        self.real_label = real_label

    def discriminator(self, real: Logits, fake: Logits) -> torch.Tensor:
        return _mean_over_scales(self._d, real, fake)

    def generator(self, fake: Logits, real: Logits | None = None) -> torch.Tensor:
        if self.uses_real_in_generator:
            if real is None:
                raise ValueError(f"{type(self).__name__} needs the real logits in the generator loss")
            return _mean_over_scales(self._g, fake, real)
        return _mean_over_scales(self._g, fake)

    def _d(self, real, fake):
        raise NotImplementedError

    def _g(self, fake, real=None):
        raise NotImplementedError

    def _bce_real(self, logits):
        # BCE with target t, written with softplus so that it is stable for large logits.
        t = self.real_label
        return (t * F.softplus(-logits) + (1 - t) * F.softplus(logits)).mean()


class MinimaxLoss(AdversarialLoss):
    """Goodfellow et al. 2014, the original game: G minimises log(1 − D(G(z))). It saturates early
    in training, when D rejects every sample with confidence."""

    def _d(self, real, fake):
        return self._bce_real(real) + F.softplus(fake).mean()

    def _g(self, fake, real=None):
        return -F.softplus(fake).mean()  # log(1 − sigmoid(f)) = −softplus(f)


class NonSaturatingLoss(MinimaxLoss):
    """Goodfellow et al. 2014's practical variant: G maximises log D(G(z)), strong gradients early."""

    def _g(self, fake, real=None):
        return F.softplus(-fake).mean()


class LeastSquaresLoss(AdversarialLoss):
    """LSGAN (Mao et al. 2017): squared distance to the targets 1 (real) and 0 (fake); CycleGAN's default."""

    def _d(self, real, fake):
        return 0.5 * ((real - self.real_label) ** 2).mean() + 0.5 * (fake**2).mean()

    def _g(self, fake, real=None):
        return 0.5 * ((fake - 1) ** 2).mean()


class HingeLoss(AdversarialLoss):
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018). Label smoothing does not apply."""

    def _d(self, real, fake):
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()

    def _g(self, fake, real=None):
        return -fake.mean()


class WassersteinLoss(AdversarialLoss):
    """WGAN (Arjovsky et al. 2017): the critic's score gap estimates the Wasserstein-1 distance once
    the critic is Lipschitz — enforce that with `clip_weights_` after each critic step or a
    gradient penalty."""

    def _d(self, real, fake):
        return fake.mean() - real.mean()

    def _g(self, fake, real=None):
        return -fake.mean()


class RelativisticAverageLoss(AdversarialLoss):
    """RaGAN (Jolicoeur-Martineau 2019), used by ESRGAN: D judges whether a real sample is more
    realistic than the average fake, and the reverse."""

    uses_real_in_generator = True

    def _d(self, real, fake):
        return self._bce_real(real - fake.mean()) + F.softplus(fake - real.mean()).mean()

    def _g(self, fake, real=None):
        return F.softplus(-(fake - real.mean())).mean() + F.softplus(real - fake.mean()).mean()


ADVERSARIAL_LOSSES: dict[str, type[AdversarialLoss]] = {
    "minimax": MinimaxLoss,
    "nonsaturating": NonSaturatingLoss,
    "lsgan": LeastSquaresLoss,
    "hinge": HingeLoss,
    "wasserstein": WassersteinLoss,
    "relativistic": RelativisticAverageLoss,
}


def adversarial_loss(name: str, real_label: float = 1.0) -> AdversarialLoss:
    if name not in ADVERSARIAL_LOSSES:
        raise ValueError(f"unknown adversarial loss {name!r}: choose one of {', '.join(ADVERSARIAL_LOSSES)}")
    return ADVERSARIAL_LOSSES[name](real_label)


@torch.no_grad()
def clip_weights_(module: nn.Module, limit: float) -> None:
    """WGAN's weight clipping: keeps the critic (roughly) Lipschitz by clamping every parameter."""
    for p in module.parameters():
        p.clamp_(-limit, limit)


# --- gradient penalties --------------------------------------------------------------------------

def _sum_logits(out) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out.float().sum()
    return sum(o.float().sum() for o in out)


def _input_gradient(discriminator: Callable, points: torch.Tensor) -> torch.Tensor:
    # Penalties run in fp32 with autocast off: a double backward through fp16 underflows, and the
    # grad scaler cannot see inside torch.autograd.grad.
    points = points.detach().float().requires_grad_(True)
    with torch.autocast(device_type=points.device.type, enabled=False):
        scores = _sum_logits(discriminator(points))
    (gradient,) = torch.autograd.grad(scores, points, create_graph=True)
    return gradient.flatten(1)


def _random_mix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    alpha = torch.rand([a.shape[0]] + [1] * (a.dim() - 1), device=a.device, dtype=torch.float32)
    return alpha * a.float() + (1 - alpha) * b.float()


def wgan_gp_penalty(discriminator: Callable, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): (‖∇D(x̂)‖ − 1)² at random points between real and fake."""
    gradient = _input_gradient(discriminator, _random_mix(real, fake))
    return ((gradient.norm(dim=1) - 1) ** 2).mean()


def dragan_penalty(discriminator: Callable, real: torch.Tensor, fake: torch.Tensor | None = None,
                   spread: float = 0.5) -> torch.Tensor:
    """DRAGAN (Kodali et al. 2017): the same penalty, but only in a noisy neighbourhood of the real data."""
    noisy = real.float() + spread * real.float().std() * torch.rand_like(real, dtype=torch.float32)
    gradient = _input_gradient(discriminator, _random_mix(real, noisy))
    return ((gradient.norm(dim=1) - 1) ** 2).mean()


def r1_penalty(discriminator: Callable, real: torch.Tensor, fake: torch.Tensor | None = None) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): ½‖∇D(x)‖² on real data only, which makes training converge locally."""
    gradient = _input_gradient(discriminator, real)
    return 0.5 * gradient.pow(2).sum(1).mean()


PENALTIES: dict[str, Callable[..., torch.Tensor]] = {
    "wgan-gp": wgan_gp_penalty,
    "dragan": dragan_penalty,
    "r1": r1_penalty,
}


def gradient_penalty(name: str) -> Callable[..., torch.Tensor] | None:
    if name == "none":
        return None
    if name not in PENALTIES:
        raise ValueError(f"unknown gradient penalty {name!r}: choose none or one of {', '.join(PENALTIES)}")
    return PENALTIES[name]


# --- stabilising losses ---------------------------------------------------------------------------

class InstanceNoise:
    """Instance noise (Sønderby et al. 2017; Arjovsky & Bottou 2017): add N(0, σ²) to both real and fake
    discriminator inputs so that their distributions overlap, annealing σ linearly to zero over
    `anneal_steps`. Stateless given the step, so resuming a run reproduces it."""

    def __init__(self, sigma: float, anneal_steps: int):
        self.sigma, self.anneal_steps = sigma, max(1, anneal_steps)

    def sigma_at(self, step: int) -> float:
        return self.sigma * max(0.0, 1.0 - step / self.anneal_steps)

    def __call__(self, x: torch.Tensor, step: int) -> torch.Tensor:
        sigma = self.sigma_at(step)
        return x + sigma * torch.randn_like(x) if sigma > 0 else x


def feature_matching_loss(real_features: Sequence[torch.Tensor], fake_features: Sequence[torch.Tensor]) -> torch.Tensor:
    """Salimans et al. 2016, §3.1: ‖E f(x) − E f(G(z))‖² on the discriminator's hidden features;
    the generator matches the statistics of the real data instead of maximising D's output."""
    total = 0.0
    for real, fake in zip(real_features, fake_features):
        total = total + (real.detach().float().mean(0) - fake.float().mean(0)).pow(2).mean()
    return total


def pull_away_term(features: torch.Tensor) -> torch.Tensor:
    """The pull-away term of Zhao et al. 2017 (EBGAN, eq. 5): the mean squared cosine similarity between the
    features of every two different samples of a batch, 0 when they are orthogonal and 1 when they all point one
    way. Dai et al. 2017 add it to the feature-matching generator's loss so that its samples spread out."""
    unit = F.normalize(features.flatten(1).float(), dim=1)
    cosine_squared = (unit @ unit.T).pow(2)
    pairs = len(unit) * (len(unit) - 1)
    return (cosine_squared.sum() - cosine_squared.diagonal().sum()) / max(pairs, 1)


def consistency_loss(logits_a: torch.Tensor, logits_b: torch.Tensor, features_a: torch.Tensor | None = None,
                     features_b: torch.Tensor | None = None, feature_weight: float = 0.0,
                     margin: float = 0.0) -> torch.Tensor:
    """The consistency term of CT-GAN (Wei et al. 2018): two stochastic passes of a classifier-discriminator
    over the same real images (its noise or dropout differs) should agree. Per image, max(0, d − margin) with d
    the mean squared difference of the two class distributions (softmax, as CT-GAN's semi-supervised MNIST code
    compares them; the Π-model of Laine & Aila 2017 is the same term) plus `feature_weight` times that of the
    hidden features (CT-GAN's second term, which its MNIST code leaves out as destabilising); batch mean."""
    distance = (logits_a.float().softmax(1) - logits_b.float().softmax(1)).pow(2).mean(1)
    if feature_weight:
        distance = distance + feature_weight * (features_a.float() - features_b.float()).pow(2).mean(1)
    return (distance - margin).clamp_min(0).mean()


def discriminator_feature_loss(real_features: Sequence[torch.Tensor], fake_features: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-sample L1 between the discriminator's features of the real and the generated image
    (pix2pixHD's feature loss): a perceptual loss that needs no pretrained network."""
    losses = [F.l1_loss(fake.float(), real.detach().float()) for real, fake in zip(real_features, fake_features)]
    return torch.stack(losses).mean()


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean total variation per image (smoothness prior), from kornia."""
    from kornia.losses import total_variation as kornia_total_variation

    pixels = images.shape[-1] * images.shape[-2] * images.shape[-3]
    return (kornia_total_variation(images.float()) / pixels).mean()


VGG19_LAYERS = {
    "relu1_2": 3, "relu2_2": 8, "relu3_4": 17, "conv4_4": 25, "relu4_4": 26, "conv5_4": 34, "relu5_4": 35,
}


class PerceptualLoss(nn.Module):
    """Distance between VGG19 features of two images (Johnson et al. 2016; SRGAN's "VGG54" is relu5_4,
    ESRGAN's is conv5_4, before the activation).

    The weights come from a local file in torchvision's vgg19 format (`vgg19-dcbb9e9d.pth`); nothing
    is downloaded. Users get the file from
    https://download.pytorch.org/models/vgg19-dcbb9e9d.pth. Inputs are RGB in `input_range`.
    """

    def __init__(self, weights_path: str | Path, layer: str = "relu5_4", criterion: str = "l1",
                 input_range: tuple[float, float] = (0.0, 1.0)):
        super().__init__()
        from torchvision.models import vgg19

        path = Path(weights_path)
        if not path.is_file():
            raise FileNotFoundError(
                f"VGG19 weights not found at {path}: download "
                "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth there, or leave the perceptual "
                "weights unset to use the discriminator-feature loss instead")
        if layer not in VGG19_LAYERS:
            raise ValueError(f"unknown VGG19 layer {layer!r}: choose one of {', '.join(VGG19_LAYERS)}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # pickle errors come in many types
            raise ValueError(f"{path}: not a readable weights file ({unreadable_torch_file(error)})") from None
        network = vgg19(weights=None)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        try:  # the classifier head is not used, but a file without VGG19's feature keys is something else
            wrong = not isinstance(state, dict) or bool(network.load_state_dict(state, strict=False).missing_keys)
        except RuntimeError:  # the same keys with other shapes
            wrong = True
        if wrong:
            raise ValueError(f"{path}: not torchvision's VGG19 weights (its keys or shapes differ); expected "
                             "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth")
        self.features = network.features[: VGG19_LAYERS[layer] + 1].eval().requires_grad_(False)
        self.criterion = F.l1_loss if criterion == "l1" else F.mse_loss
        low, high = input_range
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.low, self.span = low, high - low

    def train(self, mode: bool = True):
        super().train(mode)
        self.features.eval()  # VGG stays frozen in inference mode
        return self

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float() - self.low) / self.span
        return self.features((x - self.mean) / self.std)

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.criterion(self._embed(output), self._embed(target).detach())
