"""The registry of pipelines: a name → the module and class that implement it.

Modules are imported on first use, so a broken or heavy pipeline never slows or breaks the others.
"""

from __future__ import annotations

import importlib

from ..errors import UserError

PIPELINES: dict[str, str] = {
    "ganlab": "translate.pipelines.ganlab:GanLab",
    "pix2pix": "translate.pipelines.pix2pix:Pix2Pix",
    "srgan": "translate.pipelines.srgan:SRGAN",
    "cyclegan": "translate.pipelines.cyclegan:CycleGAN",
    "semisup": "translate.pipelines.semisup:SemiSupervised",
}


def get_pipeline(name: str):
    if name not in PIPELINES:
        raise UserError(f"unknown pipeline {name!r}: choose one of {', '.join(PIPELINES)}")
    module_name, class_name = PIPELINES[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)
