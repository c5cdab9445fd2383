"""Run by tests/test_trainer.py under `torchrun --nproc_per_node=2`: trains the GAN lab data-parallel
on CPU (gloo) and writes each rank's final weights, so the test can check they are identical."""

import sys
from pathlib import Path

import torch

from translate.pipelines.ganlab import GanLab, GanLabOptions
from translate.train import Trainer, TrainerOptions
from translate.train.distributed import context, shutdown

out = Path(sys.argv[1])
options = GanLabOptions(hidden=(16, 16), gp=sys.argv[2] if len(sys.argv) > 2 else "none")
trainer = Trainer(GanLab, options, TrainerOptions(steps=12, batch_size=32, workers=0, log_every=4,
                                                  sample_every=0, progress=False), "ring8", run_dir=out / "run")
logs = trainer.fit()
rank = context().rank
torch.save({"weights": {k: v.clone() for k, v in trainer.raw["D"].state_dict().items()} |
            {f"G.{k}": v.clone() for k, v in trainer.raw["G"].state_dict().items()},
            "logs": logs, "world_size": context().world_size}, out / f"rank{rank}.pt")
shutdown()
