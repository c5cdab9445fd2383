"""CycleGAN (Zhu et al. 2017): unpaired translation between two image domains.

G_A maps A → B and G_B maps B → A; D_A judges domain B (real B against G_A(A)) and D_B domain A.
The generators minimise the adversarial loss plus λ_cycle · ‖G_B(G_A(a)) − a‖₁ (and the reverse) plus
λ_identity · ‖G_A(b) − b‖₁ (and the reverse); each discriminator sees fakes from a pool of 50 older
ones. Defaults follow the paper: ResNet-9 generators with instance norm, 70×70 PatchGANs, least-squares
loss, λ_cycle = 10, λ_identity = 0.5 · λ_cycle, Adam 2e-4 β1 = 0.5, 100 + 100 epochs (linear decay).

    translate train cyclegan --data ROOT_WITH_trainA_trainB --run runs/cg
    translate train cyclegan --data MY_PHOTOS --data-b MY_PAINTINGS --run runs/cg --init cyclegan-brooklyn
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.images import image_to_tensor, save_image, tensor_to_image
from ..data.paired import find_pairs, read_pair
from ..data.transforms import PREPROCESS_MODES
from ..data.unpaired import UnpairedImages
from ..errors import UserError
from ..memory import FOR_EVALUATION, check_fits
from ..nn import (ADVERSARIAL_LOSSES, PENALTIES, ImagePool, PatchGAN, ResnetGenerator, UNetGenerator,
                  adversarial_loss, gradient_penalty, init_weights)
from ..nn.layers import NORMS, UPSAMPLING
from ..train import Pipeline, adam, option
from .pix2pix import _image_scores, translate_files, translate_image

GENERATORS = ("resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128")


@dataclass
class CycleGANOptions:
    data_b: str = option("", "domain B's image folder (then --data is domain A's); empty: --data has trainA/ trainB/")
    generator: str = option("resnet_9blocks", "generator architecture (both directions)", choices=GENERATORS)
    ngf: int = option(64, "generator width")
    ndf: int = option(64, "discriminator width")
    n_layers: int = option(3, "PatchGAN depth (3: the 70×70 PatchGAN)")
    norm: str = option("instance", "normalisation in all four networks", choices=NORMS)
    upsample: str = option("transpose", "transpose convolutions, or resize + conv against checkerboard artifacts",
                           choices=UPSAMPLING)
    loss: str = option("lsgan", "adversarial loss (the paper: least squares)", choices=tuple(ADVERSARIAL_LOSSES))
    lambda_cycle: float = option(10.0, "weight of the cycle-consistency losses")
    lambda_identity: float = option(0.5, "identity loss weight, as a fraction of --lambda-cycle (0: off)")
    pool_size: int = option(50, "image pool of older fakes shown to the discriminators (0: off)")
    gp: str = option("none", "gradient penalty on the discriminators", choices=("none", *PENALTIES))
    gp_weight: float = option(10.0, "weight of the gradient penalty")
    label_smoothing: float = option(0.0, "one-sided label smoothing: real targets become 1 − this")
    lr: float = option(2e-4, "Adam learning rate")
    beta1: float = option(0.5, "Adam β1")
    beta2: float = option(0.999, "Adam β2")
    serial: bool = option(False, "pair image i of A with image i of B (default: a random B for each A)")
    preprocess: str = option("resize_and_crop", "training-time resizing and cropping (random per side)",
                             choices=PREPROCESS_MODES)
    load_size: int = option(286, "resize to this before cropping")
    crop_size: int = option(256, "random crop size")
    flip: bool = option(True, "random horizontal flips")
    init_gain: float = option(0.02, "σ of the N(0, σ) weight initialisation")


def build_generator(o: CycleGANOptions) -> nn.Module:
    kind, depth = o.generator.split("_")
    if kind == "unet":
        network = UNetGenerator(3, 3, 8 if depth == "256" else 7, o.ngf, o.norm, False, o.upsample)
    else:
        network = ResnetGenerator(3, 3, int(depth.removesuffix("blocks")), o.ngf, o.norm, False, o.upsample)
    return init_weights(network, "normal", o.init_gain)


class CycleGAN(Pipeline):
    name = "cyclegan"
    Options = CycleGANOptions
    architecture_options = ("generator", "ngf", "ndf", "n_layers", "norm", "upsample")
    trainer_defaults = {"epochs": 200, "batch_size": 1, "workers": 2, "lr_schedule": "linear", "decay_start": 0.5,
                        "log_every": 50, "sample_every": 500, "save_every": 1000}
    networks = ("G_A", "G_B", "D_A", "D_B")
    ema_networks = ("G_A", "G_B")
    export_networks = ("G_A", "G_B")
    loss_names = ("d_a", "d_b", "g_a", "g_b", "cycle_a", "cycle_b", "idt_a", "idt_b")

    def build(self) -> None:
        o = self.options
        self.G_A, self.G_B = build_generator(o), build_generator(o)
        self.D_A = init_weights(PatchGAN(3, o.ndf, o.n_layers, o.norm), "normal", o.init_gain)
        self.D_B = init_weights(PatchGAN(3, o.ndf, o.n_layers, o.norm), "normal", o.init_gain)
        if o.preprocess != "none" and "crop" in o.preprocess and o.crop_size % self.G_A.multiple:
            raise UserError(f"--crop-size {o.crop_size} does not fit {o.generator}: use a multiple of "
                            f"{self.G_A.multiple}")
        self.adversarial = adversarial_loss(o.loss, real_label=1.0 - o.label_smoothing)
        self.penalty = gradient_penalty(o.gp)
        self.pool_a, self.pool_b = ImagePool(o.pool_size), ImagePool(o.pool_size)
        self.last: dict[str, torch.Tensor] = {}

    def dataset(self) -> UnpairedImages:
        o = self.options
        return UnpairedImages(self.data, o.data_b, "train", o.serial, o.preprocess, o.load_size, o.crop_size, o.flip,
                              multiple=self.G_A.multiple)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        o = self.options
        betas = (o.beta1, o.beta2)
        return {"G": adam([*self.G_A.parameters(), *self.G_B.parameters()], o.lr, betas),
                "D": adam([*self.D_A.parameters(), *self.D_B.parameters()], o.lr, betas)}

    def example_input(self, network: str) -> torch.Tensor:
        return torch.randn(self._trainer.options.batch_size, 3, self.options.crop_size, self.options.crop_size)

    def train_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        o = self.options
        real_a, real_b = batch["A"], batch["B"]
        lambda_idt = o.lambda_identity * o.lambda_cycle

        # Generators: fool both discriminators, come back around both cycles, leave the other domain alone.
        with self.frozen(self.D_A, self.D_B), self.autocast():
            fake_b, fake_a = self.G_A(real_a), self.G_B(real_b)
            rec_a, rec_b = self.G_B(fake_b), self.G_A(fake_a)
            g_a = self.adversarial.generator(self.D_A(fake_b))
            g_b = self.adversarial.generator(self.D_B(fake_a))
            cycle_a = F.l1_loss(rec_a.float(), real_a)
            cycle_b = F.l1_loss(rec_b.float(), real_b)
            idt_a = idt_b = torch.zeros((), device=real_a.device)
            if lambda_idt > 0:
                idt_a = F.l1_loss(self.G_A(real_b).float(), real_b)
                idt_b = F.l1_loss(self.G_B(real_a).float(), real_a)
            g_loss = g_a + g_b + o.lambda_cycle * (cycle_a + cycle_b) + lambda_idt * (idt_a + idt_b)
        self.optimize("G", g_loss)

        # Discriminators: real images against pooled fakes; halved, as in the paper.
        pooled_b, pooled_a = self.pool_b.query(fake_b.detach()), self.pool_a.query(fake_a.detach())
        with self.autocast():
            d_a = 0.5 * self.adversarial.discriminator(self.D_A(real_b), self.D_A(pooled_b))
            d_b = 0.5 * self.adversarial.discriminator(self.D_B(real_a), self.D_B(pooled_a))
        if self.penalty is not None:
            d_a = d_a + o.gp_weight * self.penalty(self.D_A, real_b, pooled_b)
            d_b = d_b + o.gp_weight * self.penalty(self.D_B, real_a, pooled_a)
        self.optimize("D", d_a + d_b)
        self.last = {name: t[:4].detach().float() for name, t in
                     (("real_A", real_a), ("fake_B", fake_b), ("rec_A", rec_a),
                      ("real_B", real_b), ("fake_A", fake_a), ("rec_B", rec_b))}
        return {"d_a": d_a.detach(), "d_b": d_b.detach(), "g_a": g_a.detach(), "g_b": g_b.detach(),
                "cycle_a": cycle_a.detach(), "cycle_b": cycle_b.detach(), "idt_a": idt_a.detach(),
                "idt_b": idt_b.detach()}

    def visuals(self) -> dict[str, torch.Tensor]:
        return {name: (x + 1) / 2 for name, x in self.last.items()}

    def state_dict(self) -> dict:
        return {"pool_a": self.pool_a.state_dict(), "pool_b": self.pool_b.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.pool_a.load_state_dict(state["pool_a"], self.device)
        self.pool_b.load_state_dict(state["pool_b"], self.device)

    # --- inference ------------------------------------------------------------------------------
    @classmethod
    def inference_networks(cls, options: CycleGANOptions, data: str) -> nn.ModuleDict:
        return nn.ModuleDict({"G_A": build_generator(options), "G_B": build_generator(options)})

    @classmethod
    def infer(cls, networks, options, inputs: list[str], out_dir: Path, direction: str = "AtoB", max_side: int = 0,
              **_) -> list[Path]:
        forward, _ = _directions(networks, direction)
        return translate_files(forward, inputs, Path(out_dir), suffix=f"_{direction}", max_side=max_side)

    @classmethod
    def evaluate(cls, networks, options, data: str, out: Path | None = None, critic_steps: int = 300,
                 seed: int = 0, inception: str | None = None, **_) -> dict:
        """On held-out *paired* data (aligned A|B files): A→B against the true B (L1, PSNR, SSIM, an
        independent critic's accuracy, 0.5 = indistinguishable, and FID/KID when `inception` names a local
        Inception-v3 file), and B→A as the per-pixel class accuracy of the recovered label map."""
        generator_a, generator_b = networks["G_A"], networks["G_B"]
        device = next(generator_a.parameters()).device
        sources = find_pairs(data, split="val")
        rows, accuracies, all_ground, reals, fakes = [], [], [], [], []
        for source in sources:
            a, b = read_pair(source, "AtoB")
            check_fits(generator_a, *a.shape[:2], source, FOR_EVALUATION)
            with torch.no_grad():
                fake_b = translate_image(generator_a, image_to_tensor(a).unsqueeze(0).to(device))
                fake_a = translate_image(generator_b, image_to_tensor(b).unsqueeze(0).to(device))
            fakes.append(((fake_b.float().clamp(-1, 1) + 1) / 2).cpu()[0])
            reals.append(image_to_tensor(b, (0, 1)))
            rows.append(_image_scores(fakes[-1][None], reals[-1][None]))
            accuracies.append(label_accuracy(tensor_to_image(fake_a), a))
            all_ground.append(label_accuracy(np.zeros_like(a), a))  # the trivial guess: every pixel black ground
            if out is not None:
                save_image(tensor_to_image(fake_b), Path(out) / f"{source.name}_AtoB.png")
                save_image(tensor_to_image(fake_a), Path(out) / f"{source.name}_BtoA.png")
        metrics = {"data": str(data), "pairs": len(sources)}
        for key in rows[0]:
            metrics[f"AtoB_{key}"] = round(float(np.mean([r[key] for r in rows])), 4)
        if critic_steps > 0 and len(sources) >= 4:
            from ..critic import independent_critic_accuracy

            metrics["AtoB_critic_accuracy"] = round(independent_critic_accuracy(reals, fakes, seed, critic_steps), 4)
        if inception:
            from ..fid import fid_kid, load_inception

            metrics.update({f"AtoB_{k}": v for k, v in fid_kid(load_inception(inception).to(device), reals, fakes).items()})
        metrics["BtoA_label_accuracy"] = round(float(np.mean(accuracies)), 4)
        metrics["baseline_all_ground_label_accuracy"] = round(float(np.mean(all_ground)), 4)
        return metrics

    @classmethod
    def export_example(cls, options: CycleGANOptions) -> tuple[str, torch.Tensor]:
        return "G_A", torch.randn(1, 3, 256, 256)


def _directions(networks, direction: str) -> tuple[nn.Module, nn.Module]:
    if direction not in ("AtoB", "BtoA"):
        raise UserError(f"--direction must be AtoB or BtoA, got {direction!r}")
    return (networks["G_A"], networks["G_B"]) if direction == "AtoB" else (networks["G_B"], networks["G_A"])


def cycle(networks, image: np.ndarray, direction: str = "AtoB") -> tuple[np.ndarray, np.ndarray]:
    """(translation, reconstruction) of a uint8 image, for the demo."""
    forward, backward = _directions(networks, direction)
    device = next(forward.parameters()).device
    with torch.no_grad():
        translated = translate_image(forward, image_to_tensor(image).unsqueeze(0).to(device))
        reconstructed = translate_image(backward, translated)
    return tensor_to_image(translated), tensor_to_image(reconstructed)


#: the brooklyn1887 label palette: black ground, yellow footprints, red outlines
LABEL_PALETTE = np.array([[0, 0, 0], [230, 230, 0], [230, 0, 0]], np.float32)


def label_classes(image: np.ndarray) -> np.ndarray:
    """Each pixel's nearest palette colour (0 ground, 1 footprint, 2 outline)."""
    distances = ((image[..., None, :3].astype(np.float32) - LABEL_PALETTE) ** 2).sum(-1)
    return distances.argmin(-1)


def label_accuracy(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Per-pixel class accuracy of a recovered label map (the paper's photo → label score)."""
    return float((label_classes(predicted) == label_classes(truth)).mean())
