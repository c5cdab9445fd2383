"""Typed options: dataclasses whose fields become command-line flags with their defaults.

Declare a field with `option(default, "help text", choices=...)`; `add_options` turns a dataclass into
an argparse group and `options_from_args` reads it back, so the CLI, `--help`, and the options.json
saved with every run all come from one declaration.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass, field
from types import UnionType
from typing import Any, ClassVar

from ..errors import UserError


def option(default: Any, help: str, choices: tuple | None = None):
    """A dataclass field with a help text (and allowed values) for the generated CLI."""
    metadata = {"help": help, "choices": choices}
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def _field_types(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _flag_type(kind: Any) -> Any:
    """The type a flag parses: `float` for a `float | None` field (None: the pipeline decides once it sees the data)."""
    if typing.get_origin(kind) in (typing.Union, UnionType):
        given = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        if len(given) == 1:
            return given[0]
    return kind


def add_options(parser: argparse.ArgumentParser, cls, title: str, defaults: dict | None = None,
                skip: tuple[str, ...] = ()) -> None:
    """Add one flag per field of the dataclass `cls` (except those named in `skip`) to a new argument group."""
    group = parser.add_argument_group(title)
    types = _field_types(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = (defaults or {}).get(f.name, f.default if f.default is not dataclasses.MISSING else f.default_factory())
        kind = _flag_type(types[f.name])
        help_text = f.metadata.get("help", "")
        choices = f.metadata.get("choices")
        shown = " ".join(map(str, default)) if isinstance(default, (tuple, list)) else "auto" if default is None else default
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS,
                                  "help": f"{help_text} (default: {shown})"}
        if kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(kind) in (tuple, list):
            kwargs.update(nargs="+", type=typing.get_args(kind)[0], metavar="N")
        else:
            kwargs["type"] = kind
            if choices:
                kwargs["choices"] = choices
                kwargs["metavar"] = "{" + ",".join(map(str, choices)) + "}"
        group.add_argument(flag_name(f.name), **kwargs)


def options_from_args(cls, args: argparse.Namespace | dict, defaults: dict | None = None, base=None):
    """Build `cls` from parsed flags; fields not given keep `base`'s value, then `defaults`, then the field's default."""
    given = vars(args) if isinstance(args, argparse.Namespace) else dict(args)
    values = {}
    types = _field_types(cls)
    for f in dataclasses.fields(cls):
        if f.name in given:
            value = given[f.name]
        elif base is not None:
            value = getattr(base, f.name)
        elif defaults and f.name in defaults:
            value = defaults[f.name]
        else:
            continue
        if typing.get_origin(types[f.name]) is tuple and isinstance(value, list):
            value = tuple(value)
        values[f.name] = value
    options = cls(**values)
    validate(options)
    return options


def validate(options) -> None:
    for f in dataclasses.fields(options):
        choices = f.metadata.get("choices")
        value = getattr(options, f.name)
        if choices and value not in choices:
            raise UserError(f"{flag_name(f.name)} {value!r} is not one of: {', '.join(map(str, choices))}")


def from_dict(cls, values: dict):
    """Rebuild options saved in a run's options.json (unknown keys from newer versions are ignored; a key an older
    version did not save takes the value that version trained with, where `cls.absent_in_older_runs` names one)."""
    known = {f.name for f in dataclasses.fields(cls)}
    values = {**getattr(cls, "absent_in_older_runs", {}), **values}
    return options_from_args(cls, {k: v for k, v in values.items() if k in known})


def to_dict(options) -> dict:
    return dataclasses.asdict(options)


@dataclass
class TrainerOptions:
    """What every pipeline's training shares; pipelines change the defaults they need."""

    # runs saved before the EMA warm-up (2026-12-05) resume without it
    absent_in_older_runs: ClassVar[dict] = {"ema_warmup": False}

    steps: int = option(10000, "training steps (generator updates)")
    epochs: int = option(0, "train for this many passes over the data instead of --steps (0: use --steps)")
    batch_size: int = option(1, "images per step on each device")
    workers: int = option(4, "data-loading worker processes, at most one per CPU the process may use (0: load in the "
                             "training process)")
    device: str = option("auto", "where to train", choices=("auto", "cuda", "mps", "cpu"))
    precision: str = option("fp32", "numeric precision: bf16/fp16 autocast (fp16 uses a grad scaler)",
                            choices=("fp32", "bf16", "fp16"))
    channels_last: bool = option(False, "channels-last memory format for conv nets (checked per network; see README)")
    compile: bool = option(False, "torch.compile the networks (slow first steps, faster after)")
    seed: int = option(0, "random seed for weights, data order and augmentation")
    deterministic: bool = option(False, "deterministic algorithms only (bit-exact reruns; slower on GPU)")
    lr_schedule: str = option("constant", "learning-rate schedule",
                              choices=("constant", "linear", "step", "cosine"))
    decay_start: float = option(0.5, "linear: fraction of the run after which the rate decays linearly to 0")
    lr_step_every: int = option(0, "step: multiply the rate by --lr-gamma every this many steps (0: a third of the run)")
    lr_gamma: float = option(0.1, "step: factor applied at each step")
    ema_decay: float = option(0.0, "EMA of the pipeline's averaged networks, e.g. 0.999 (0: off)")
    ema_warmup: bool = option(True, "EMA decay min(--ema-decay, (1+n)/(10+n)) after n steps, so a short run or "
                                    "fine-tune is averaged over its own steps rather than its start")
    init: str = option("", "start from these weights (a name under weights/, a run folder or a file) to fine-tune")
    log_every: int = option(50, "log losses every N steps")
    sample_every: int = option(500, "save a PNG grid of samples every N steps (0: never)")
    save_every: int = option(1000, "write the checkpoint every N steps (and at the end)")
    eval_every: int = option(0, "run the pipeline's validation every N steps (ganlab, srgan; 0: never)")
    stop_at: int = option(0, "stop after this step with a checkpoint, to be continued with --resume (0: run to the end)")
    progress: bool = option(True, "show a progress bar")
