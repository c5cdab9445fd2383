"""Shipped weights: `weights/NAME.safetensors` + `weights/NAME.json` (the model card).

`load(NAME)` returns a ready network. NAME may also be a run folder (its latest export), a
`.safetensors` file with its `.json` beside it, or a training checkpoint `.pt` (read with
`weights_only=True`, so a checkpoint cannot run code).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import UserError

WEIGHTS_DIR = Path(os.environ.get("TRANSLATE_WEIGHTS", Path(__file__).resolve().parent.parent / "weights"))


@dataclass
class LoadedWeights:
    pipeline: type  # the Pipeline subclass
    options: Any  # its options dataclass
    networks: nn.ModuleDict
    card: dict
    source: Path

    @property
    def model(self) -> nn.Module:
        """The single exported network, or the ModuleDict when there are several."""
        return self.networks[next(iter(self.networks))] if len(self.networks) == 1 else self.networks


def available() -> list[str]:
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors")) if WEIGHTS_DIR.is_dir() else []


def strict_json(value):
    """`value` with every non-finite float as None: json.dumps would write Infinity and NaN, which are not JSON
    (jq and most parsers refuse them); a PSNR of identical images is one."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    return value


def write_weights(networks: dict[str, nn.Module], card: dict, stem: str | Path, half: bool = False) -> Path:
    """Write `stem.safetensors` (optionally fp16) and `stem.json`, each atomically."""
    from safetensors.torch import save_file

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for name, network in networks.items():
        for key, value in network.state_dict().items():
            value = value.detach().cpu()
            if half and value.is_floating_point():
                value = value.half()
            tensors[f"{name}.{key}"] = value.contiguous().clone()
    card = {**card, "networks": list(networks), "dtype": "float16" if half else "float32"}
    target = stem.with_suffix(".safetensors")
    save_file(tensors, str(target) + ".tmp", metadata={"pipeline": card.get("pipeline", "")})
    os.replace(str(target) + ".tmp", target)
    os.chmod(target, 0o644)
    json_path = stem.with_suffix(".json")
    json_path.with_suffix(".json.tmp").write_text(json.dumps(strict_json(card), indent=2, default=str) + "\n")
    os.replace(json_path.with_suffix(".json.tmp"), json_path)
    return target


def _resolve(spec: str | Path) -> Path:
    path = Path(spec)
    if path.is_dir():
        for candidate in (path / "model.safetensors", path / "checkpoint.pt", path / "latest_net_G_A.pth",
                          path / "latest_net_G.pth"):
            if candidate.is_file():  # our run folders, or a pytorch-CycleGAN-and-pix2pix checkpoints folder
                return candidate
        raise UserError(f"{path}: no model.safetensors or checkpoint.pt in this folder; is it a training run?")
    if path.is_file():
        return path
    # `weights/srresnet-x4`, as the docs and demos name the shipped files, or a saved file's stem anywhere
    for named in (WEIGHTS_DIR / f"{spec}.safetensors", Path(f"{spec}.safetensors")):
        if named.is_file():
            return named
    names = ", ".join(available()) or "none shipped"
    raise UserError(f"{spec}: not a file, a run folder or a shipped weights name (available: {names})")


def _build(card: dict, source: Path) -> tuple[type, Any, nn.ModuleDict]:
    from .pipelines import get_pipeline
    from .train.options import from_dict

    if "pipeline" not in card:
        raise UserError(f"{source}: the model card has no 'pipeline' entry; was it written by translate?")
    pipeline = get_pipeline(card["pipeline"])
    options = from_dict(pipeline.Options, card.get("options", {}))
    return pipeline, options, pipeline.inference_networks(options, card.get("data", ""))


def _load_into(networks: nn.ModuleDict, state: dict, source: Path) -> None:
    try:
        networks.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except RuntimeError as error:
        first = str(error).splitlines()[1].strip() if len(str(error).splitlines()) > 1 else str(error)
        raise UserError(f"{source}: the weights do not fit the network its card describes ({first})") from None


def _reference_generator(source: Path, state: dict):
    from .interop import load_reference_generator
    from .pipelines.pix2pix import GENERATORS, Pix2Pix, Pix2PixOptions

    network, description = load_reference_generator(source, state)
    partner = source.with_name(source.name.replace("_net_G_A.", "_net_G_B."))
    if partner != source and partner.is_file():  # a CycleGAN pair: both directions
        return _reference_cyclegan(source, network, description, partner)
    name = description.name if description.name in GENERATORS else GENERATORS[0]
    options = Pix2PixOptions(generator=name, ngf=description.ngf, norm=description.norm, dropout=description.dropout)
    card = {"pipeline": "pix2pix", "options": {}, "source": "pytorch-CycleGAN-and-pix2pix",
            "architecture": description.name, "norm": description.norm}
    return Pix2Pix, options, nn.ModuleDict({"G": network}), card


def _reference_cyclegan(source: Path, network_a: nn.Module, description, partner: Path):
    from .interop import load_reference_generator
    from .pipelines.cyclegan import GENERATORS, CycleGAN, CycleGANOptions

    network_b, description_b = load_reference_generator(partner)
    if description_b != description or description.name not in GENERATORS:
        raise UserError(f"{source} and {partner.name}: the two generators differ ({description.name} vs "
                        f"{description_b.name}); load them one at a time")
    options = CycleGANOptions(generator=description.name, ngf=description.ngf, norm=description.norm)
    card = {"pipeline": "cyclegan", "options": {}, "source": "pytorch-CycleGAN-and-pix2pix",
            "architecture": description.name, "norm": description.norm}
    return CycleGAN, options, nn.ModuleDict({"G_A": network_a, "G_B": network_b}), card


def _basicsr_generator(source: Path, checkpoint: dict):
    from .interop import basicsr_state, describe_basicsr_generator
    from .pipelines.srgan import SRGAN, SRGANOptions

    state = basicsr_state(checkpoint, str(source))
    architecture = describe_basicsr_generator(state, str(source))
    options = SRGANOptions(**architecture)
    networks = SRGAN.inference_networks(options, "")
    _load_into(networks, {f"G.{k}": v for k, v in state.items()}, source)
    card = {"pipeline": "srgan", "options": architecture, "source": "BasicSR / Real-ESRGAN"}
    return SRGAN, options, networks, card


def load_weights(spec: str | Path, device: str | torch.device = "cpu") -> LoadedWeights:
    source = _resolve(spec)
    if source.suffix == ".safetensors":
        from safetensors.torch import load_file

        card_path = source.with_suffix(".json")
        if not card_path.is_file():
            raise UserError(f"{source}: its model card {card_path.name} is missing beside it")
        card = json.loads(card_path.read_text())
        pipeline, options, networks = _build(card, source)
        _load_into(networks, load_file(str(source)), source)
    elif source.suffix in (".pt", ".pth"):
        from .interop import read_checkpoint

        checkpoint = read_checkpoint(source)
        if isinstance(checkpoint, dict) and "export" in checkpoint:
            card = checkpoint["export"]["card"]
            pipeline, options, networks = _build(card, source)
            _load_into(networks, checkpoint["export"]["state"], source)
        elif isinstance(checkpoint, dict) and ("params" in checkpoint or "params_ema" in checkpoint):
            pipeline, options, networks, card = _basicsr_generator(source, checkpoint)
        else:  # a generator saved by pytorch-CycleGAN-and-pix2pix (a bare state_dict)
            pipeline, options, networks, card = _reference_generator(source, checkpoint)
    else:
        raise UserError(f"{source}: unknown weights format {source.suffix!r}; expected .safetensors or .pt")
    networks.to(device).eval()
    return LoadedWeights(pipeline, options, networks, card, source)


def load(spec: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """A ready-to-run model (eval mode) from a shipped name, a run folder or a weights file."""
    return load_weights(spec, device).model


def ship(run_dir: Path, name: str, eval_data: str | list[str] | None = None, half: bool = False,
         note: str = "") -> Path:
    """Copy a run's exported weights to weights/NAME.* with a model card: the training command, the data,
    the steps, and the metrics of `translate eval` on each of `eval_data` (default: the training data)."""
    from datetime import date

    loaded = load_weights(run_dir)
    datasets = [eval_data] if isinstance(eval_data, str) else list(eval_data or [loaded.card.get("data", "")])
    results = {data: loaded.pipeline.evaluate(loaded.networks, loaded.options, data, card=loaded.card)
               for data in datasets}
    card = {key: loaded.card.get(key) for key in ("pipeline", "options", "data", "steps", "command", "ema")}
    card.update({key: loaded.card[key] for key in loaded.pipeline.card_keys if key in loaded.card})
    if len(datasets) == 1:
        card.update({"metrics": results[datasets[0]],
                     "eval_command": f"translate eval {name} --data {datasets[0]} --json"})
    else:
        card.update({"metrics": {Path(data).name: metrics for data, metrics in results.items()},
                     "eval_command": [f"translate eval {name} --data {data} --json" for data in datasets]})
    if note:
        card["note"] = note
    card["created"] = date.today().isoformat()
    return write_weights(dict(loaded.networks.items()), card, WEIGHTS_DIR / name, half=half)


# `translate eval` options that train something at evaluation time (a supervised baseline, a judge, a critic):
# a check turns them off, so it is quick and compares only what the weights alone decide
NOTHING_TRAINED_AT_EVAL = {"baseline_steps": 0, "judge_steps": 0, "critic_steps": 0}


def _card_sections(card: dict) -> list[tuple[str, dict]]:
    """(data, metrics) for each data set the card was scored on (one, or a dict of several by name)."""
    metrics = card.get("metrics", {})
    if "data" in metrics:
        return [(metrics["data"], metrics)]
    return [(section["data"], section) for section in metrics.values()
            if isinstance(section, dict) and "data" in section]


def _matches(card_value, value) -> bool:
    """Counts must be equal; measurements (rounded to 4 decimals on the cards) within 1e-3, absolute or relative."""
    if isinstance(card_value, list):
        return isinstance(value, list) and len(value) == len(card_value) and all(map(_matches, card_value, value))
    if isinstance(card_value, int) and isinstance(value, int):
        return card_value == value
    return math.isclose(float(card_value), float(value), rel_tol=1e-3, abs_tol=1e-3)


def _comparable(value) -> bool:
    numbers = value if isinstance(value, list) else [value]
    return bool(numbers) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers)


def _local(data: str) -> str:
    """A card's data path, read from the repository root (where the cards' commands run) when it is not here."""
    from_root = WEIGHTS_DIR.parent / data
    return data if Path(data).exists() or not from_root.exists() else str(from_root)


def check(names: list[str] | None = None) -> list[dict]:
    """Re-score shipped weights the way their cards were scored, on the CPU, and compare with the cards.
    One row per metric: name, data, metric, card, here, ok; or name, data, skipped (why) when the data
    cannot be scored here (most often: it is not on this machine). Metrics that need training at
    evaluation time are left out."""
    rows = []
    every = {name: load_weights(name, "cpu") for name in names or available()}  # a wrong name fails before any work
    for name, loaded in every.items():
        for data, card_metrics in _card_sections(loaded.card):
            try:
                metrics = loaded.pipeline.evaluate(loaded.networks, loaded.options, _local(data), card=loaded.card,
                                                   **NOTHING_TRAINED_AT_EVAL)
            except UserError as error:
                rows.append({"name": name, "data": data, "skipped": str(error)})
                continue
            for metric, card_value in card_metrics.items():
                if metric in metrics and _comparable(card_value):
                    rows.append({"name": name, "data": data, "metric": metric, "card": card_value,
                                 "here": metrics[metric], "ok": _matches(card_value, metrics[metric])})
    return rows
