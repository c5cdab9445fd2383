"""SRGAN (Ledig et al. 2017): photo super-resolution in two phases.

Phase 1 (`--phase psnr`, SRResNet) trains G on a pixel loss alone: the PSNR-oriented model. Phase 2
(`--phase gan`) starts from it (`--init RUN_OR_WEIGHTS`) and adds a VGG-style discriminator: G then
minimises a perceptual loss (VGG19 features from a local file, or D's own features when none is
given) + 1e-3 · adversarial + a small pixel loss. LR images are made from HR crops on the fly with
MATLAB-style bicubic downscaling, the literature's protocol.

    translate train srgan --data ../shared/datasets/T91 --run runs/x4 --steps 100000
    translate train srgan --phase gan --init runs/x4 --data ../shared/datasets/T91 --run runs/x4-gan
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..data.images import check_distinct_stems, image_to_tensor, read_image, save_image
from ..data.superres import SRImages, bicubic_upscale, find_sr_images, hr_to_lr, load_sr_pair, sr_scores
from ..errors import UserError
from ..nn import (ADVERSARIAL_LOSSES, MSRResNet, PerceptualLoss, RRDBNet, SRDiscriminator, SRResNet, SRVGGNetCompact,
                  adversarial_loss, discriminator_feature_loss)
from ..tiles import tile_infer
from ..train import Pipeline, adam, option

GENERATORS = ("srresnet", "msrresnet", "rrdbnet", "srvgg_compact")


@dataclass
class SRGANOptions:
    scale: int = option(4, "upscaling factor", choices=(2, 3, 4))
    phase: str = option("psnr", "psnr: pixel loss only (SRResNet); gan: perceptual + adversarial (SRGAN)",
                        choices=("psnr", "gan"))
    generator: str = option("srresnet", "generator architecture (the others load BasicSR/Real-ESRGAN weights)",
                            choices=GENERATORS)
    channels: int = option(64, "generator width")
    blocks: int = option(16, "residual blocks (rrdbnet: RRDB blocks; srvgg_compact: conv layers)")
    batch_norm: bool = option(False, "batch norm in SRResNet's blocks (the paper's; off: better PSNR, as in EDSR)")
    pixel_loss: str = option("l1", "pixel loss", choices=("l1", "mse"))
    pixel_weight: float = option(1.0, "weight of the pixel loss (phase gan: 1e-2 is typical)")
    perceptual_weights: str = option("", "local VGG19 weights file (torchvision format) for the perceptual loss; "
                                         "empty: use the discriminator-feature loss")
    perceptual_layer: str = option("relu5_4", "VGG19 layer of the perceptual loss")
    perceptual_weight: float = option(1.0, "weight of the perceptual (or discriminator-feature) loss")
    loss: str = option("nonsaturating", "adversarial loss (relativistic: ESRGAN's RaGAN)",
                       choices=tuple(ADVERSARIAL_LOSSES))
    adversarial_weight: float = option(1e-3, "weight of the adversarial loss")
    ndf: int = option(64, "discriminator width")
    lr: float = option(2e-4, "Adam learning rate (G and D)")
    beta1: float = option(0.9, "Adam β1")
    beta2: float = option(0.999, "Adam β2")
    hr_crop: int = option(96, "HR training crop (LR crop = this / scale)")
    rescale_min: float = option(1.0, "scale augmentation: shrink HR sources by a random factor in [this, 1] "
                                      "(1: off; VDSR used 0.6)")
    degrade: bool = option(False, "add blur, noise and JPEG to the LR side (for real camera photos)")
    val_data: str = option("", "HR folder or HR/LR layout scored every --eval-every steps (PSNR-Y; best kept)")


def build_generator(o: SRGANOptions) -> nn.Module:
    if o.generator == "srresnet":
        return SRResNet(channels=o.channels, n_blocks=o.blocks, scale=o.scale, batch_norm=o.batch_norm)
    if o.generator == "msrresnet":
        return MSRResNet(num_feat=o.channels, num_block=o.blocks, upscale=o.scale)
    if o.generator == "rrdbnet":
        return RRDBNet(scale=o.scale, num_feat=o.channels, num_block=o.blocks, num_grow_ch=o.channels // 2)
    return SRVGGNetCompact(num_feat=o.channels, num_conv=o.blocks, upscale=o.scale)


def super_resolve(generator: nn.Module, image, scale: int, tile: int = 0, progress: bool = False):
    """uint8 H×W×3 → uint8 (H·s)×(W·s)×3, tiled when `tile` > 0."""
    return tile_infer(generator, image, scale, tile, progress=progress, multiple=getattr(generator, "multiple", 1))


class SRGAN(Pipeline):
    name = "srgan"
    Options = SRGANOptions
    architecture_options = ("scale", "generator", "channels", "blocks", "batch_norm", "ndf")
    trainer_defaults = {"steps": 100000, "batch_size": 16, "workers": 4, "lr_schedule": "cosine",
                        "log_every": 100, "sample_every": 2000, "save_every": 2000, "eval_every": 2000}
    networks = ("G", "D")
    ema_networks = ("G",)
    export_networks = ("G",)
    loss_names = ("pixel", "content", "g_adv", "d_loss")
    best_metric = ("psnr_y", "max")

    def build(self) -> None:
        o = self.options
        self.G = build_generator(o)
        self.D = SRDiscriminator(3, o.ndf)  # built in both phases so that phase-1 runs resume into phase 2
        self.pixel = F.l1_loss if o.pixel_loss == "l1" else F.mse_loss
        self.adversarial = adversarial_loss(o.loss)
        self.perceptual = None
        if o.phase == "gan" and o.perceptual_weights:
            try:
                self.perceptual = PerceptualLoss(o.perceptual_weights, o.perceptual_layer).to(self.device)
            except (FileNotFoundError, ValueError) as error:
                raise UserError(f"--perceptual-weights: {error}") from None
        self.last: tuple[torch.Tensor, ...] = ()
        self._val_pairs = None
        if o.val_data:  # a wrong folder is said now, not at the first validation after hours of training
            try:
                find_sr_images(o.val_data, o.scale)
            except UserError as error:
                raise UserError(f"--val-data: {error}") from None

    def dataset(self) -> SRImages:
        o = self.options
        return SRImages(self.data, o.scale, o.hr_crop, augment=True, degrade=o.degrade, rescale_min=o.rescale_min)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        o = self.options
        optimizers = {"G": adam(self.G.parameters(), o.lr, (o.beta1, o.beta2))}
        if o.phase == "gan":
            optimizers["D"] = adam(self.D.parameters(), o.lr, (o.beta1, o.beta2))
        return optimizers

    def example_input(self, network: str) -> torch.Tensor:
        size = self.options.hr_crop // (self.options.scale if network == "G" else 1)
        return torch.rand(self._trainer.options.batch_size, 3, size, size)

    def train_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        o = self.options
        hr_images = batch["hr"]
        lr_images = batch["lr"] if "lr" in batch else hr_to_lr(hr_images, o.scale)
        with self.autocast():
            sr_images = self.G(lr_images)
        pixel = self.pixel(sr_images.float(), hr_images)
        self.last = (lr_images[:4].detach(), sr_images[:4].detach(), hr_images[:4].detach())  # no host sync here
        if o.phase == "psnr":
            self.optimize("G", pixel)
            return {"pixel": pixel.detach()}

        # Discriminator: real HR against super-resolved.
        with self.autocast():
            d_real = self.D(hr_images)
            d_fake = self.D(sr_images.detach())
            d_loss = self.adversarial.discriminator(d_real, d_fake)
        self.optimize("D", d_loss)

        # Generator: content (perceptual) + adversarial + pixel.
        with self.frozen(self.D), self.autocast():
            fake_logits, fake_features = self.D(sr_images, return_features=True)
            if self.perceptual is not None:
                content = self.perceptual(sr_images, hr_images)
            else:
                with torch.no_grad():
                    _, real_features = self.D(hr_images, return_features=True)
                content = discriminator_feature_loss(real_features, fake_features)
            g_adv = self.adversarial.generator(fake_logits, d_real.detach())
            g_loss = o.perceptual_weight * content + o.adversarial_weight * g_adv + o.pixel_weight * pixel
        self.optimize("G", g_loss)
        return {"pixel": pixel.detach(), "content": content.detach(), "g_adv": g_adv.detach(),
                "d_loss": d_loss.detach()}

    def visuals(self) -> dict[str, torch.Tensor]:
        if not self.last:
            return {}
        lr_images, sr_images, hr_images = (t.float().cpu() for t in self.last)
        return {"bicubic": bicubic_upscale(lr_images, self.options.scale), "output": sr_images.clamp(0, 1),
                "target": hr_images}

    def validate(self) -> dict[str, float]:
        o = self.options
        if not o.val_data:
            return {}
        if self._val_pairs is None:
            self._val_pairs = [load_sr_pair(hr, lr, o.scale) for hr, lr in find_sr_images(o.val_data, o.scale)]
        scores = [_score(self.G, hr, lr, o.scale, tile=0) for hr, lr in self._val_pairs]
        return {key: sum(s[key] for s in scores) / len(scores) for key in ("psnr_y", "ssim_y")}

    # --- inference ------------------------------------------------------------------------------
    @classmethod
    def inference_networks(cls, options: SRGANOptions, data: str) -> nn.ModuleDict:
        return nn.ModuleDict({"G": build_generator(options)})

    @classmethod
    def infer(cls, networks, options, inputs: list[str], out_dir: Path, tile: int = 256, **_) -> list[Path]:
        paths = [Path(given) for given in inputs]
        check_distinct_stems(paths)
        written = []
        for path in paths:
            output = super_resolve(networks["G"], read_image(path), options.scale, tile, progress=True)
            written.append(save_image(output, Path(out_dir) / f"{path.stem}_x{options.scale}.png"))
        return written

    @classmethod
    def evaluate(cls, networks, options, data: str, out: Path | None = None, tile: int = 256, **_) -> dict:
        """PSNR-Y / SSIM-Y (scale px border cropped) and RGB PSNR on an HR folder or an HR/LR layout,
        beside bicubic upscaling."""
        generator = networks["G"]
        files = find_sr_images(data, options.scale)
        model, bicubic = [], []
        for hr_path, lr_path in files:
            hr, lr = load_sr_pair(hr_path, lr_path, options.scale)
            model.append(_score(generator, hr, lr, options.scale, tile))
            bicubic.append(sr_scores(bicubic_upscale(_to_tensor(lr), options.scale), _to_tensor(hr), options.scale))
            if out is not None:
                save_image(super_resolve(generator, lr, options.scale, tile), Path(out) / f"{hr_path.stem}.png")
        metrics = {"data": str(data), "images": len(files), "scale": options.scale}
        for prefix, rows in (("", model), ("bicubic_", bicubic)):
            for key in rows[0]:
                metrics[prefix + key] = round(sum(r[key] for r in rows) / len(rows), 4)
        return metrics

    @classmethod
    def export_example(cls, options: SRGANOptions) -> tuple[str, torch.Tensor]:
        return "G", torch.rand(1, 3, 64, 64)


def _to_tensor(image) -> torch.Tensor:
    return image_to_tensor(image, (0.0, 1.0)).unsqueeze(0).double()


def _score(generator: nn.Module, hr, lr, scale: int, tile: int) -> dict[str, float]:
    output = super_resolve(generator, lr, scale, tile)
    return sr_scores(_to_tensor(output), _to_tensor(hr), scale)
