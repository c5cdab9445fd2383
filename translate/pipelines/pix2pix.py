"""pix2pix (Isola et al. 2017): paired image-to-image translation with a conditional GAN.

G translates A to B; a PatchGAN D judges (A, B) pairs, real or generated; G minimises the adversarial
loss plus λ·L1 to the true B. Defaults reproduce the paper: U-Net-256 with dropout, 70×70 PatchGAN,
λ = 100, Adam 2e-4 β1 = 0.5, batch 1, 286 → 256 random jitter with flips, constant then linearly
decaying learning rate.

    translate train pix2pix --data ../shared/datasets/brooklyn1887 --run runs/p2p --steps 20
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..data.images import (check_distinct_stems, fit_longer_side, image_to_tensor, read_image, save_image,
                           tensor_to_image)
from ..data.paired import PairedImages, find_pairs, read_pair
from ..data.transforms import PREPROCESS_MODES
from ..errors import UserError
from ..memory import FOR_EVALUATION, bytes_per_pixel, check_fits, free_bytes, is_out_of_memory, too_big
from ..nn import (ADVERSARIAL_LOSSES, PENALTIES, InstanceNoise, PatchGAN, PixelGAN, ResnetGenerator, UNetGenerator,
                  adversarial_loss, gradient_penalty, init_weights, pad_to_multiple)
from ..nn.layers import NORMS, UPSAMPLING
from ..train import Pipeline, adam, option

GENERATORS = ("unet_256", "unet_128", "resnet_9blocks", "resnet_6blocks")


@dataclass
class Pix2PixOptions:
    generator: str = option("unet_256", "generator architecture", choices=GENERATORS)
    ngf: int = option(64, "generator width (channels of its first layer)")
    discriminator: str = option("basic", "basic: 70×70 PatchGAN; n_layers: PatchGAN with --n-layers; pixel: 1×1",
                                choices=("basic", "n_layers", "pixel"))
    n_layers: int = option(3, "PatchGAN depth for --discriminator n_layers")
    ndf: int = option(64, "discriminator width")
    norm: str = option("batch", "normalisation in both networks", choices=NORMS)
    dropout: bool = option(True, "dropout in the generator (the paper's noise source)")
    upsample: str = option("transpose", "transpose convolutions, or resize + conv against checkerboard artifacts",
                           choices=UPSAMPLING)
    loss: str = option("nonsaturating", "adversarial loss (the paper: non-saturating cross-entropy)",
                       choices=tuple(ADVERSARIAL_LOSSES))
    lambda_l1: float = option(100.0, "weight of the L1 loss to the target")
    gp: str = option("none", "gradient penalty on the discriminator", choices=("none", *PENALTIES))
    gp_weight: float = option(10.0, "weight of the gradient penalty")
    label_smoothing: float = option(0.0, "one-sided label smoothing: real targets become 1 − this")
    instance_noise: float = option(0.0, "σ of instance noise on D's inputs, annealed to 0 over the run")
    lr: float = option(2e-4, "Adam learning rate")
    beta1: float = option(0.5, "Adam β1")
    beta2: float = option(0.999, "Adam β2")
    direction: str = option("AtoB", "translate A to B, or B to A", choices=("AtoB", "BtoA"))
    preprocess: str = option("resize_and_crop", "training-time resizing and cropping", choices=PREPROCESS_MODES)
    load_size: int = option(286, "resize to this before cropping")
    crop_size: int = option(256, "random crop size")
    flip: bool = option(True, "random horizontal flips")
    skip_blank_inputs: bool = option(False, "leave out pairs whose input is one flat colour")
    init_gain: float = option(0.02, "σ of the N(0, σ) weight initialisation")


def build_generator(o: Pix2PixOptions) -> nn.Module:
    kind, depth = o.generator.split("_")
    if kind == "unet":
        network = UNetGenerator(3, 3, 8 if depth == "256" else 7, o.ngf, o.norm, o.dropout, o.upsample)
    else:
        network = ResnetGenerator(3, 3, int(depth.removesuffix("blocks")), o.ngf, o.norm, o.dropout, o.upsample)
    return init_weights(network, "normal", o.init_gain)


def build_discriminator(o: Pix2PixOptions) -> nn.Module:
    if o.discriminator == "pixel":
        network = PixelGAN(6, o.ndf, o.norm)
    else:
        network = PatchGAN(6, o.ndf, 3 if o.discriminator == "basic" else o.n_layers, o.norm)
    return init_weights(network, "normal", o.init_gain)


def translate_image(generator: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """Any-size inference: reflect-pad (1, 3, H, W) in [-1, 1] to the network's multiple, crop back."""
    padded, (h, w) = pad_to_multiple(image, getattr(generator, "multiple", 1))
    return generator(padded)[..., :h, :w]


def translate_files(generator: nn.Module, inputs: list[str], out_dir: Path, suffix: str = "",
                    max_side: int = 0) -> list[Path]:
    """Translate image files of any size, each at once; writes OUT_DIR/STEM{suffix}.png for each (a progress bar
    for several). `max_side` scales larger images down first; an image that would not fit in memory is a one-line
    error that names the `max_side` that would."""
    from tqdm.auto import tqdm

    device = next(generator.parameters()).device
    paths = [Path(given) for given in inputs]
    check_distinct_stems(paths)
    written = []
    for path in tqdm(paths, desc="translate", unit="image", disable=len(paths) < 2, leave=False):
        array = fit_longer_side(read_image(path), max_side)
        height, width = array.shape[:2]
        check_fits(generator, height, width, path)
        try:
            with torch.no_grad():
                output = translate_image(generator, image_to_tensor(array).unsqueeze(0).to(device))
        except (torch.OutOfMemoryError, RuntimeError) as error:
            free = free_bytes(device)
            if not is_out_of_memory(error) or free is None:
                raise
            raise too_big(path, height, width, bytes_per_pixel(generator) * height * width, free) from None
        written.append(save_image(tensor_to_image(output), out_dir / f"{path.stem}{suffix}.png"))
    return written


def set_test_dropout(generator: nn.Module, enabled: bool) -> nn.Module:
    """The paper's test-time noise: dropout stays active at inference (batch norm keeps its statistics)."""
    for module in generator.modules():
        if isinstance(module, nn.Dropout):
            module.train(enabled)
    return generator


class Pix2Pix(Pipeline):
    name = "pix2pix"
    Options = Pix2PixOptions
    architecture_options = ("generator", "ngf", "discriminator", "n_layers", "ndf", "norm", "dropout", "upsample")
    trainer_defaults = {"steps": 40000, "batch_size": 1, "workers": 2, "lr_schedule": "linear",
                        "log_every": 50, "sample_every": 500, "save_every": 1000}
    networks = ("G", "D")
    ema_networks = ("G",)
    export_networks = ("G",)
    loss_names = ("d_loss", "g_gan", "g_l1")

    def build(self) -> None:
        o = self.options
        self.G, self.D = build_generator(o), build_discriminator(o)
        multiple = self.G.multiple
        if o.preprocess != "none" and "crop" in o.preprocess and o.crop_size % multiple:
            raise UserError(f"--crop-size {o.crop_size} does not fit {o.generator}: use a multiple of {multiple}")
        self.adversarial = adversarial_loss(o.loss, real_label=1.0 - o.label_smoothing)
        self.penalty = gradient_penalty(o.gp)
        self.noise = InstanceNoise(o.instance_noise, 1) if o.instance_noise > 0 else None
        self.last: tuple[torch.Tensor, ...] = ()

    def dataset(self) -> PairedImages:
        o = self.options
        return PairedImages(self.data, "train", o.direction, o.preprocess, o.load_size, o.crop_size, o.flip,
                            o.skip_blank_inputs, multiple=self.G.multiple)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        o = self.options
        if self.noise is not None:  # the run's length is known once the data is
            self.noise.anneal_steps = self.total_steps
        return {"D": adam(self.D.parameters(), o.lr, (o.beta1, o.beta2)),
                "G": adam(self.G.parameters(), o.lr, (o.beta1, o.beta2))}

    def example_input(self, network: str) -> torch.Tensor:
        return torch.randn(self._trainer.options.batch_size, 3 if network == "G" else 6,
                           self.options.crop_size, self.options.crop_size)

    def judge(self, a: torch.Tensor, b: torch.Tensor, step: int):
        pair = torch.cat([a, b], 1)
        return self.D(self.noise(pair, step) if self.noise is not None else pair)

    def train_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        o = self.options
        real_a, real_b = batch["A"], batch["B"]
        with self.autocast():
            fake_b = self.G(real_a)

        # Discriminator: real pairs against generated pairs; halved, as in the paper, to slow D down.
        with self.autocast():
            d_real = self.judge(real_a, real_b, step)
            d_fake = self.judge(real_a, fake_b.detach(), step)
            d_loss = 0.5 * self.adversarial.discriminator(d_real, d_fake)
        if self.penalty is not None:
            d_loss = d_loss + o.gp_weight * self.penalty(self.D, torch.cat([real_a, real_b], 1),
                                                         torch.cat([real_a, fake_b.detach()], 1))
        self.optimize("D", d_loss)

        # Generator: fool D and stay close to the target in L1.
        with self.frozen(self.D), self.autocast():
            g_gan = self.adversarial.generator(self.judge(real_a, fake_b, step), d_real.detach())
            g_l1 = F.l1_loss(fake_b.float(), real_b)
            g_loss = g_gan + o.lambda_l1 * g_l1
        self.optimize("G", g_loss)
        self.last = (real_a[:4].detach(), fake_b[:4].detach().float(), real_b[:4].detach())
        return {"d_loss": d_loss.detach(), "g_gan": g_gan.detach(), "g_l1": g_l1.detach()}

    def visuals(self) -> dict[str, torch.Tensor]:
        if not self.last:
            return {}
        return {name: (x + 1) / 2 for name, x in zip(("input", "output", "target"), self.last)}

    # --- inference ------------------------------------------------------------------------------
    @classmethod
    def inference_networks(cls, options: Pix2PixOptions, data: str) -> nn.ModuleDict:
        return nn.ModuleDict({"G": build_generator(options)})

    @classmethod
    def infer(cls, networks, options, inputs: list[str], out_dir: Path, test_dropout: bool = False, seed: int = 0,
              max_side: int = 0, **_) -> list[Path]:
        torch.manual_seed(seed)
        return translate_files(set_test_dropout(networks["G"], test_dropout), inputs, Path(out_dir),
                               max_side=max_side)

    @classmethod
    def evaluate(cls, networks, options, data: str, out: Path | None = None, critic_steps: int = 300,
                 seed: int = 0, test_dropout: bool = False, inception: str | None = None, **_) -> dict:
        """Mean L1 (on [0, 1] pixels), PSNR and SSIM of the translations of held-out pairs, beside two
        trivial baselines: output = input, and output = the mean training target (without a train/ split beside
        `data`: the mean of the *other* evaluated targets, so no pair scores against itself); the held-out
        accuracy of an independent critic (0.5: indistinguishable from the real targets); and FID/KID
        against the real targets when `inception` names a local Inception-v3 file."""
        generator = set_test_dropout(networks["G"], test_dropout)
        torch.manual_seed(seed)
        device = next(generator.parameters()).device
        pairs = [read_pair(source, options.direction) for source in find_pairs(data, split="val")]
        names = [source.name for source in find_pairs(data, split="val")]
        if any(a.shape != b.shape for a, b in pairs):
            raise UserError(f"{data}: some pairs' A and B differ in size; evaluation needs matching pairs")
        mean_targets = _mean_training_targets(Path(data), options, pairs)
        scores = {"model": [], "baseline_input": [], "baseline_mean_target": []}
        fakes, reals = [], []
        for (a, b), name, mean_target in zip(pairs, names, mean_targets):
            check_fits(generator, *a.shape[:2], name, FOR_EVALUATION)
            with torch.no_grad():
                output = translate_image(generator, image_to_tensor(a).unsqueeze(0).to(device))
            fake = ((output.float().clamp(-1, 1) + 1) / 2).cpu()
            real = image_to_tensor(b, (0, 1)).unsqueeze(0)
            fakes.append(fake[0])
            reals.append(real[0])
            scores["model"].append(_image_scores(fake, real))
            scores["baseline_input"].append(_image_scores(image_to_tensor(a, (0, 1)).unsqueeze(0), real))
            if mean_target is not None:
                mean = F.interpolate(mean_target, size=real.shape[-2:], mode="bilinear", align_corners=False)
                scores["baseline_mean_target"].append(_image_scores(mean, real))
            if out is not None:
                save_image(tensor_to_image(output), Path(out) / f"{name}.png")
        metrics = {"data": str(data), "pairs": len(pairs)}
        for what, rows in scores.items():
            if not rows:  # one pair and no train/ split: no other target to average
                continue
            prefix = "" if what == "model" else f"{what}_"
            for key in rows[0]:
                metrics[prefix + key] = round(sum(r[key] for r in rows) / len(rows), 4)
        if critic_steps > 0 and len(pairs) >= 4:
            from ..critic import independent_critic_accuracy

            metrics["critic_accuracy"] = round(independent_critic_accuracy(reals, fakes, seed, critic_steps), 4)
        if inception:
            from ..fid import fid_kid, load_inception

            metrics.update(fid_kid(load_inception(inception).to(device), reals, fakes))
        return metrics

    @classmethod
    def export_example(cls, options: Pix2PixOptions) -> tuple[str, torch.Tensor]:
        return "G", torch.randn(1, 3, 256, 256)


def _image_scores(fake: torch.Tensor, real: torch.Tensor) -> dict[str, float]:
    from kornia.metrics import psnr, ssim

    return {"l1": (fake - real).abs().mean().item(), "psnr": psnr(fake, real, 1.0).item(),
            "ssim": ssim(fake, real, 11).mean().item()}


def _mean_training_targets(data: Path, options: Pix2PixOptions, pairs: list) -> list[torch.Tensor | None]:
    """For each evaluated pair, the mean-target baseline: the mean target of the training split beside `data`, or
    without one, the mean of the other evaluated targets (None for a single pair): a pair's own target in the mean
    would score the baseline on its answer."""
    root = data.parent if data.name in ("val", "test") else data
    try:
        sources = find_pairs(root, split="train") if (root / "train").is_dir() else []
    except UserError:
        sources = []
    if sources:
        targets = [image_to_tensor(read_pair(source, options.direction)[1], (0, 1)) for source in sources]
        same_size = [t for t in targets if t.shape == targets[0].shape]
        return [torch.stack(same_size).mean(0, keepdim=True)] * len(pairs)
    targets = [image_to_tensor(b, (0, 1)) for _, b in pairs]
    means = []
    for index in range(len(pairs)):
        others = [t for other, t in enumerate(targets) if other != index and t.shape == targets[index].shape]
        means.append(torch.stack(others).mean(0, keepdim=True) if others else None)
    return means
