"""One trainer for every pipeline: `Trainer(PipelineClass, options, TrainerOptions(...), data, run_dir).fit()`."""

from .options import TrainerOptions, option
from .pipeline import Pipeline, adam
from .trainer import Trainer, channels_last_is_safe, cpu_has_native_bf16

__all__ = ["Pipeline", "adam", "Trainer", "TrainerOptions", "channels_last_is_safe", "cpu_has_native_bf16", "option"]
