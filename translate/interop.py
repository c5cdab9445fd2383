"""Checkpoints written by other projects, read into our networks.

pytorch-CycleGAN-and-pix2pix saves each network as a bare state_dict (`latest_net_G.pth`,
`latest_net_G_A.pth`, ...) with no record of its options. Our U-Net and ResNet generators keep that
code's parameter layout, so loading is strict once the architecture is read back from the keys and
shapes: U-Net depth from the nesting, ResNet block count, base width, channels, batch vs instance norm,
and dropout (which moves the ResNet block's second convolution from index 5 to 6).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .errors import UserError, unreadable_torch_file
from .nn import ResnetGenerator, UNetGenerator


@dataclass(frozen=True)
class ReferenceGenerator:
    """What a reference generator checkpoint holds, read from its keys."""

    kind: str  # "unet" or "resnet"
    depth: int  # U-Net downsamplings, or ResNet blocks
    ngf: int
    in_channels: int
    out_channels: int
    norm: str
    dropout: bool

    @property
    def name(self) -> str:
        return f"unet_{2 ** self.depth}" if self.kind == "unet" else f"resnet_{self.depth}blocks"

    def build(self) -> nn.Module:
        if self.kind == "unet":
            return UNetGenerator(self.in_channels, self.out_channels, self.depth, self.ngf, self.norm, self.dropout)
        return ResnetGenerator(self.in_channels, self.out_channels, self.depth, self.ngf, self.norm, self.dropout)


def describe_reference_generator(state: dict[str, torch.Tensor], source: str = "checkpoint") -> ReferenceGenerator:
    """Read the architecture of a pytorch-CycleGAN-and-pix2pix generator from its state_dict."""
    keys = list(state)
    if "model.model.0.weight" in state:  # U-Net: one more "model.1." nesting per level
        first = state["model.model.0.weight"]
        # the innermost level sits under depth − 2 ".model.3" links, and its own up-convolution is one more
        depth = max(k.count("model.3.") for k in keys if k.endswith(".weight")) + 1
        if any(k.endswith("running_mean") for k in keys):
            norm = "batch"
        else:  # instance norm keeps the convolution biases, `none` drops them (as batch norm does)
            norm = "instance" if "model.model.1.model.1.bias" in state else "none"
        outermost_up = state["model.model.3.weight"]
        return ReferenceGenerator("unet", depth, first.shape[0], first.shape[1], outermost_up.shape[1], norm, True)
    if "model.1.weight" in state and any(".conv_block." in k for k in keys):
        blocks = {int(m.group(1)) for k in keys if (m := re.match(r"model\.(\d+)\.conv_block\.", k))}
        first = state["model.1.weight"]
        last = state[max((k for k in keys if k.endswith(".weight") and k.count(".") == 2),
                         key=lambda k: int(k.split(".")[1]))]
        dropout = any(".conv_block.6." in k for k in keys)
        if any(k.endswith("running_mean") for k in keys):
            norm = "batch"
        else:
            norm = "instance" if "model.1.bias" in state else "none"
        return ReferenceGenerator("resnet", len(blocks), first.shape[0], first.shape[1], last.shape[0], norm, dropout)
    raise UserError(f"{source}: not a pytorch-CycleGAN-and-pix2pix generator (no U-Net or ResNet keys); "
                    "expected a file like latest_net_G.pth")


def read_checkpoint(path: Path):
    """torch.load with weights_only (no code in the file runs), or a one-line error that says why not."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle errors come in many types
        raise UserError(f"{path}: not a readable checkpoint ({unreadable_torch_file(error)})") from None


def load_reference_generator(path: str | Path, state: dict | None = None) -> tuple[nn.Module, ReferenceGenerator]:
    """Build the matching network for `latest_net_G*.pth` and load it strictly (weights_only).
    Pass `state` when the file is already loaded."""
    path = Path(path)
    if state is None:
        state = read_checkpoint(path)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path}: expected a bare state_dict of tensors (the pix2pix/CycleGAN format)")
    # The reference loader drops InstanceNorm buffers written by PyTorch < 0.4; so do we.
    description = describe_reference_generator(state, str(path))
    network = description.build()
    expected = network.state_dict()
    state = {k: v for k, v in state.items() if k in expected or not k.endswith(("running_mean", "running_var",
                                                                                   "num_batches_tracked"))}
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        detail = str(error).splitlines()[1].strip() if len(str(error).splitlines()) > 1 else str(error)
        raise UserError(f"{path}: looks like {description.name} ({description.norm} norm) but does not load: "
                        f"{detail}") from None
    return network.eval(), description


# --- BasicSR / Real-ESRGAN ------------------------------------------------------------------------

def basicsr_state(checkpoint: dict, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The generator state_dict of a BasicSR / Real-ESRGAN file: `params_ema` when present (what
    Real-ESRGAN's inference prefers), else `params`; a leading `module.` is dropped, as BasicSR does."""
    for key in ("params_ema", "params"):
        if key in checkpoint and isinstance(checkpoint[key], dict):
            return {k.removeprefix("module."): v for k, v in checkpoint[key].items()}
    raise UserError(f"{source}: a BasicSR file holds 'params' or 'params_ema'; found {', '.join(map(str, checkpoint))}")


def describe_basicsr_generator(state: dict[str, torch.Tensor], source: str = "checkpoint") -> dict:
    """SRGAN pipeline options (generator, channels, blocks, scale) read from a BasicSR generator's keys."""
    if "body.0.rdb1.conv1.weight" in state:  # RRDBNet: pixel-unshuffle widens the first conv for ×2 / ×1
        blocks = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("body."))
        in_channels = state["conv_first.weight"].shape[1]
        scale = {3: 4, 12: 2, 48: 1}.get(in_channels)
        if scale not in (2, 4):
            raise UserError(f"{source}: RRDBNet with {in_channels} input channels (scale ×{scale}) is not supported")
        return {"generator": "rrdbnet", "channels": state["conv_first.weight"].shape[0], "blocks": blocks,
                "scale": scale}
    if "upconv1.weight" in state:  # MSRResNet
        blocks = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("body."))
        channels = state["conv_first.weight"].shape[0]
        scale = 4 if "upconv2.weight" in state else (3 if state["upconv1.weight"].shape[0] == 9 * channels else 2)
        return {"generator": "msrresnet", "channels": channels, "blocks": blocks, "scale": scale}
    if "body.0.weight" in state and "conv_first.weight" not in state:  # SRVGGNetCompact
        convs = sorted(int(k.split(".")[1]) for k in state if k.endswith(".weight") and state[k].dim() == 4)
        if not any(state[f"body.{i}.weight"].dim() == 1 for i in range(1, 3) if f"body.{i}.weight" in state):
            raise UserError(f"{source}: SRVGGNetCompact without PReLU activations is not supported")
        channels = state["body.0.weight"].shape[0]
        out = state[f"body.{convs[-1]}.weight"].shape[0]
        scale = int(round((out / 3) ** 0.5))
        return {"generator": "srvgg_compact", "channels": channels, "blocks": len(convs) - 2, "scale": scale}
    raise UserError(f"{source}: not an MSRResNet, RRDBNet or SRVGGNetCompact generator (unknown keys)")
