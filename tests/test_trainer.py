"""The trainer: exact resume, safe stops, clear failures, data-parallel runs, and its options."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from translate.cli import main
from translate.errors import ImageReadError, NonFiniteLossError, UserError
from translate.train import Pipeline, Trainer, TrainerOptions, adam, channels_last_is_safe
from translate.train.trainer import make_scheduler

TINY = ["--hidden", "16", "16", "--no-progress", "--sample-every", "0"]


def weights(run: Path) -> dict:
    return torch.load(run / "checkpoint.pt", weights_only=True)["networks"]


def assert_same_weights(a: dict, b: dict):
    for network in a:
        for key in a[network]:
            assert torch.equal(a[network][key], b[network][key]), f"{network}.{key} differs"


def test_bad_adam_settings_are_a_one_line_error_for_every_pipeline():
    weight = [nn.Parameter(torch.zeros(3))]
    assert adam(weight, 1e-3, (0.5, 0.999), 1e-4).defaults["eps"] == 1e-4
    for lr, betas, eps in ((-1.0, (0.5, 0.999), 1e-8), (0.0, (0.5, 0.999), 1e-8), (1e-3, (0.5, 1.0), 1e-8),
                           (1e-3, (-0.1, 0.999), 1e-8), (1e-3, (0.5, 0.999), 0.0)):
        with pytest.raises(UserError, match="Adam needs"):
            adam(weight, lr, betas, eps)


def test_n_steps_then_resume_then_n_steps_equals_2n_steps(tmp_path):
    # Everything with state: EMA, gradient penalty, historical averaging, instance noise, label smoothing,
    # a decaying learning rate and several discriminator steps.
    recipe = ["ganlab", "--data", "ring8", "--steps", "40", "--deterministic", "--ema-decay", "0.9",
              "--gp", "wgan-gp", "--historical-averaging", "0.01", "--instance-noise", "0.1",
              "--label-smoothing", "0.1", "--d-steps", "2", "--lr-schedule", "linear", "--save-every", "15", *TINY,
              # looking at the model (samples, validation) must not change it, batch norm included
              "--generator-norm", "batch", "--sample-every", "10", "--eval-every", "10", "--eval-samples", "200"]
    assert main(["train", *recipe, "--run", str(tmp_path / "straight")]) == 0
    assert main(["train", *recipe, "--run", str(tmp_path / "split"), "--stop-at", "20"]) == 0
    assert torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=True)["step"] == 20
    assert main(["train", "--resume", str(tmp_path / "split")]) == 0
    assert_same_weights(weights(tmp_path / "straight"), weights(tmp_path / "split"))
    straight = load_file(tmp_path / "straight" / "model.safetensors")
    split = load_file(tmp_path / "split" / "model.safetensors")
    assert all(torch.equal(straight[k], split[k]) for k in straight)
    assert not list(tmp_path.glob("*/*.tmp")), "temporary checkpoint files were left behind"
    card = json.loads((tmp_path / "split" / "model.json").read_text())
    assert card["steps"] == 40 and "--resume" not in card["command"] and "--d-steps 2" in card["command"]


def test_a_run_saved_before_the_ema_warmup_resumes_without_it(tmp_path):
    recipe = ["ganlab", "--data", "ring8", "--steps", "20", "--deterministic", "--ema-decay", "0.9", *TINY]
    assert main(["train", *recipe, "--run", str(tmp_path / "warmed")]) == 0
    assert main(["train", *recipe, "--no-ema-warmup", "--run", str(tmp_path / "plain")]) == 0
    assert main(["train", *recipe, "--no-ema-warmup", "--run", str(tmp_path / "old"), "--stop-at", "10"]) == 0
    saved = json.loads((tmp_path / "old" / "options.json").read_text())
    del saved["trainer"]["ema_warmup"]  # as written before the option existed
    (tmp_path / "old" / "options.json").write_text(json.dumps(saved))
    assert main(["train", "--resume", str(tmp_path / "old")]) == 0
    averaged = {name: load_file(tmp_path / name / "model.safetensors")["G.net.0.weight"]
                for name in ("warmed", "plain", "old")}
    assert torch.equal(averaged["old"], averaged["plain"]) and not torch.equal(averaged["old"], averaged["warmed"])


def test_samples_and_validation_do_not_change_training(tmp_path):
    recipe = ["ganlab", "--data", "ring8", "--steps", "12", "--generator-norm", "batch", "--eval-samples", "100",
              "--deterministic", *TINY]
    assert main(["train", *recipe, "--run", str(tmp_path / "blind")]) == 0
    assert main(["train", *recipe, "--run", str(tmp_path / "watched"), "--sample-every", "5", "--eval-every", "3"]) == 0
    assert_same_weights(weights(tmp_path / "blind"), weights(tmp_path / "watched"))


def test_fp16_runs_with_a_grad_scaler_per_optimizer_and_resumes(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "ganlab", "--data", "ring8", "--run", str(run), "--steps", "6", "--stop-at", "3",
                 "--precision", "fp16", "--gp", "r1", *TINY]) == 0
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    assert set(checkpoint["scalers"]) == {"D", "G"} and checkpoint["scalers"]["G"]["scale"] > 0
    assert main(["train", "--resume", str(run)]) == 0
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 6


def test_run_folder_holds_options_samples_and_tensorboard_logs(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "ganlab", "--data", "ring8", "--run", str(run), "--steps", "10", "--log-every", "5",
                 "--hidden", "8", "--sample-every", "10", "--no-progress"]) == 0
    saved = json.loads((run / "options.json").read_text())
    assert saved["pipeline"] == "ganlab" and saved["options"]["hidden"] == [8] and saved["trainer"]["steps"] == 10
    assert (run / "samples" / "step_00000010.png").is_file()
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    card = json.loads((run / "model.json").read_text())
    assert card["command"].startswith("translate train ganlab") and card["steps"] == 10


def test_help_lists_every_option_with_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["train", "ganlab", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping
    for flag, default in [("--gp-weight", "1.0"), ("--loss", "nonsaturating"), ("--steps", "2000"),
                          ("--precision", "fp32"), ("--hidden", "128 128 128"), ("--batch-size", "256")]:
        assert flag in text and f"(default: {default})" in text


def test_version_names_the_package_torch_and_python(capsys):
    import platform

    import translate

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == (f"translate {translate.__version__} (torch {torch.__version__}, "
                                               f"Python {platform.python_version()})")


def test_options_that_would_do_nothing_or_make_no_sense_are_refused(capsys):
    assert main(["train", "pix2pix", "--data", "photos", "--run", "r", "--eval-every", "5"]) == 2  # not a no-op
    assert "--eval-every: pix2pix has no validation during training" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # counts of steps and tile sizes are never negative
        main(["eval", "srresnet-x4", "--data", "photos", "--critic-steps", "-1"])
    assert exit_.value.code == 2 and "argument --critic-steps: -1: must be 0 or more" in capsys.readouterr().err


def test_a_file_where_a_folder_belongs_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    assert main(["train", "ganlab", "--data", "ring8", "--run", str(tmp_path / "notes.txt"), *TINY]) == 2
    assert capsys.readouterr().err.strip().endswith(f"error: {tmp_path / 'notes.txt'}: exists and is not a folder; "
                                                    "give a folder path (it is created if missing)")
    assert main(["infer", "ganlab-ring8", "10", "--out", str(tmp_path / "notes.txt" / "out")]) == 2
    assert "a part of this path is a file, not a folder" in capsys.readouterr().err


def test_a_failed_checkpoint_write_keeps_the_last_good_one_and_no_partial_copy(tmp_path):
    from translate.train.trainer import atomic_save

    atomic_save({"step": 1}, tmp_path / "checkpoint.pt")

    class Unpicklable:
        def __reduce__(self):
            raise OSError(28, "No space left on device")  # as a full disk would, mid-write

    with pytest.raises(OSError):
        atomic_save({"step": 2, "bad": Unpicklable()}, tmp_path / "checkpoint.pt")
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True) == {"step": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


def test_existing_run_is_not_overwritten_and_unknown_pipelines_are_named(tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", "ganlab", "--data", "ring8", "--run", str(run), "--steps", "2", *TINY]) == 0
    assert main(["train", "ganlab", "--data", "ring8", "--run", str(run), "--steps", "2", *TINY]) == 2
    assert main(["train", "pix3pix", "--data", "x", "--run", str(run)]) == 2
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    assert main(["train", "ganlab", "--data", "ring8", "--run", str(tmp_path / "b"), "--batch-size", "0"]) == 2
    with pytest.raises(SystemExit, match="2"):  # argparse's own one-line error
        main(["train", "ganlab", "--data", "ring8", "--run", str(tmp_path / "b"), "--loss", "vanilla"])
    errors = capsys.readouterr().err
    assert "--batch-size must be at least 1 (got 0)" in errors and "invalid choice: 'vanilla'" in errors
    assert "already holds a training run" in errors and "unknown pipeline 'pix3pix'" in errors
    assert "no options.json" in errors


@dataclass
class ScalarOptions:
    nan_at: int = -1


class ScalarFit(Pipeline):
    """A one-parameter pipeline for trainer tests: fits w to 3, or returns NaN at step `nan_at`."""

    name = "scalar"
    Options = ScalarOptions
    networks = ("G",)

    def build(self):
        self.G = nn.Linear(1, 1, bias=False)

    def dataset(self):
        return torch.utils.data.TensorDataset(torch.ones(8, 1))

    def optimizers(self):
        return {"G": torch.optim.SGD(self.G.parameters(), 0.1)}

    def train_step(self, batch, step):
        loss = ((self.G(torch.ones(1, 1)) - 3) ** 2).mean()
        if step == self.options.nan_at:
            loss = loss * float("nan")
        self.optimize("G", loss)
        return {"loss": loss.detach()}


class KeyDataset(torch.utils.data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, key):
        return {"x": torch.ones(1)}


ScalarFit.dataset = lambda self: KeyDataset()


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path):
    options = TrainerOptions(steps=40, workers=0, log_every=5, save_every=10, sample_every=0, progress=False)
    trainer = Trainer(ScalarFit, ScalarOptions(nan_at=23), options, "none", run_dir=tmp_path)
    with pytest.raises(NonFiniteLossError, match="loss loss became NaN/Inf between steps 20 and 25.*kept"):
        trainer.fit()
    checkpoint = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert checkpoint["step"] == 20 and torch.isfinite(checkpoint["networks"]["G"]["weight"]).all()


class BreaksAtSixthRead(KeyDataset):
    """A folder whose sixth image read fails, as a corrupt file met mid-epoch would."""

    reads = 0

    def __getitem__(self, key):
        BreaksAtSixthRead.reads += 1
        if BreaksAtSixthRead.reads == 6:
            raise ImageReadError("data/5.png: not a readable image; re-save it as PNG or JPEG, or remove it")
        return super().__getitem__(key)


def test_a_bad_file_mid_run_saves_the_steps_trained_and_says_how_to_go_on(tmp_path, monkeypatch):
    monkeypatch.setattr(ScalarFit, "dataset", lambda self: BreaksAtSixthRead())
    BreaksAtSixthRead.reads = 0
    options = TrainerOptions(steps=40, batch_size=1, workers=0, save_every=100, sample_every=0, progress=False)
    trainer = Trainer(ScalarFit, ScalarOptions(), options, "none", run_dir=tmp_path)
    with pytest.raises(ImageReadError, match=r"^data/5.png: not a readable image; .* remove it\. Steps up to 5 are "
                                             rf"saved: continue with `translate train --resume {tmp_path}`$"):
        trainer.fit()
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 5
    # the first read failing: nothing trained, nothing saved, the message is the file's alone
    BreaksAtSixthRead.reads = 5
    fresh = Trainer(ScalarFit, ScalarOptions(), options, "none", run_dir=tmp_path / "fresh")
    with pytest.raises(ImageReadError, match=r"remove it$"):
        fresh.fit()
    assert not (tmp_path / "fresh" / "checkpoint.pt").exists()


def test_an_empty_checkpoint_is_a_one_line_error_on_resume(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "ganlab", "--data", "ring8", "--run", str(run), "--steps", "2", *TINY]) == 0
    (run / "checkpoint.pt").write_bytes(b"")
    assert main(["train", "--resume", str(run)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: {run / 'checkpoint.pt'}: the checkpoint cannot be read (the file is empty or cut short); "
        "delete it to restart the run")


def test_sigterm_saves_and_exits_cleanly_then_resume_continues(tmp_path):
    run = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "translate.cli", "train", "ganlab", "--data", "ring8",
                                "--run", str(run), "--steps", "1000000", "--log-every", "10", "--hidden", "8",
                                "--sample-every", "0"], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (run / "options.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.5)
    process.send_signal(signal.SIGTERM)
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 0, errors
    assert "continue with: translate train --resume" in errors
    step = torch.load(run / "checkpoint.pt", weights_only=True)["step"]
    assert step > 0
    assert main(["train", "--resume", str(run), "--steps", str(step + 5), "--no-progress"]) == 0
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == step + 5


@pytest.mark.parametrize("penalty", ["none", "wgan-gp"])
def test_two_processes_under_torchrun_end_with_identical_weights(tmp_path, penalty):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(Path(__file__).with_name("ddp_worker.py")), str(tmp_path), penalty]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert rank0["world_size"] == 2
    assert all(torch.equal(rank0["weights"][k], rank1["weights"][k]) for k in rank0["weights"])
    assert rank0["logs"] == rank1["logs"]  # losses are averaged across ranks before logging
    checkpoint = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert checkpoint["step"] == 12 and len(checkpoint["rng"]) == 2


def test_init_starts_from_given_weights(tmp_path):
    first = tmp_path / "first"
    assert main(["train", "ganlab", "--data", "ring8", "--run", str(first), "--steps", "5", *TINY]) == 0
    options = TrainerOptions(steps=1, workers=0, progress=False, init=str(first), seed=123)
    from translate.pipelines.ganlab import GanLab, GanLabOptions

    trainer = Trainer(GanLab, GanLabOptions(hidden=(16, 16)), options, "ring8")
    expected = load_file(first / "model.safetensors")
    assert all(torch.equal(trainer.raw["G"].state_dict()[k[2:]], v) for k, v in expected.items())
    with pytest.raises(Exception, match=r"different architecture \(.* is 16×2 in the weights, 8×2 here\)"):
        Trainer(GanLab, GanLabOptions(hidden=(8,)), options, "ring8")


@pytest.mark.parametrize("schedule, at_end", [("constant", 1.0), ("linear", 0.02), ("step", 0.001), ("cosine", 0.0)])
def test_learning_rate_schedules(schedule, at_end):
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = make_scheduler(optimizer, TrainerOptions(lr_schedule=schedule, decay_start=0.5), total_steps=100)
    rates = []
    for _ in range(99):
        optimizer.step()
        scheduler.step()
        rates.append(optimizer.param_groups[0]["lr"])
    assert rates[-1] == pytest.approx(at_end, abs=1e-3)
    if schedule == "linear":
        assert rates[48] == 1.0 and rates[74] == pytest.approx(0.5, abs=0.02)


def conv_networks():
    import translate.nn as tn

    return {
        "unet": lambda: tn.UNetGenerator(num_downs=5, ngf=4),
        "resnet-instance": lambda: tn.ResnetGenerator(n_blocks=1, ngf=4),
        "resnet-batch": lambda: tn.ResnetGenerator(n_blocks=1, ngf=4, norm="batch"),
        "srresnet": lambda: tn.SRResNet(channels=8, n_blocks=1, scale=2, batch_norm=True),
        "patchgan-batch": lambda: tn.PatchGAN(3, ndf=4),
        "patchgan-instance": lambda: tn.PatchGAN(3, ndf=4, norm="instance"),
        "pixelgan": lambda: tn.PixelGAN(3, ndf=4),
        "sr-discriminator": lambda: tn.SRDiscriminator(ndf=4),
        "conv-classifier": lambda: tn.ConvClassifier(3, 10, ndf=4),
    }


@pytest.mark.parametrize("name", list(conv_networks()))
@pytest.mark.parametrize("batch", [1, 2])
def test_channels_last_is_enabled_only_where_its_gradients_match_the_contiguous_run(name, batch):
    torch.manual_seed(0)
    network = conv_networks()[name]()
    if not channels_last_is_safe(network, torch.randn(batch, 3, 32, 32)):
        assert "instance" in name and batch == 1, f"the guard rejected {name} at batch {batch}"
        return
    x = torch.randn(batch, 3, 32, 32)  # a different input and loss from the guard's own check

    def gradients(net, inp):
        torch.manual_seed(1)
        out = net(inp)
        (out.float() ** 2).mean().backward()
        return [p.grad.clone() for p in net.parameters()]

    import copy

    reference = gradients(copy.deepcopy(network), x)
    candidate = gradients(copy.deepcopy(network).to(memory_format=torch.channels_last),
                          x.contiguous(memory_format=torch.channels_last))
    floor = 1e-3 * torch.cat([r.flatten() for r in reference]).norm()
    for r, c in zip(reference, candidate):
        assert (r - c).norm() <= 1e-3 * torch.maximum(r.norm(), floor)


def test_trainer_keeps_instance_norm_networks_contiguous_at_batch_one_when_unsafe(capsys):
    import translate.nn as tn

    network = tn.ResnetGenerator(n_blocks=1, ngf=4)
    if channels_last_is_safe(network, torch.randn(1, 3, 32, 32)):
        pytest.skip("this PyTorch build computes InstanceNorm's channels-last backward correctly")

    class ResnetStep(ScalarFit):
        def build(self):
            self.G = tn.ResnetGenerator(n_blocks=1, ngf=4)

        def example_input(self, network):
            return torch.randn(1, 3, 32, 32)

    trainer = Trainer(ResnetStep, ScalarOptions(), TrainerOptions(steps=1, workers=0, channels_last=True,
                                                                  progress=False), "none")
    assert trainer.raw["G"].model[1].weight.is_contiguous()
    assert "keeping it contiguous" in capsys.readouterr().err


@dataclass
class FolderOptions:
    folder: str = ""


class FolderPairs(Pipeline):
    """Images read from disk by worker processes, cropped and flipped identically in pairs."""

    name = "folder-pairs"
    Options = FolderOptions
    networks = ("G",)

    def build(self):
        self.G = nn.Conv2d(3, 3, 3, padding=1)

    def dataset(self):
        from translate.data.images import image_to_tensor, list_images, read_image
        from translate.data.transforms import apply_seeded, paired_transform

        files = list_images(self.data)
        transform = paired_transform("resize_and_crop", load_size=20, crop_size=16)

        class Pairs(torch.utils.data.Dataset):
            def __len__(self):
                return len(files)

            def __getitem__(self, key):
                image = read_image(files[key.index])
                out = apply_seeded(transform, key.seed, image=image, target=255 - image)
                return {"A": image_to_tensor(out["image"]), "B": image_to_tensor(out["target"])}

        return Pairs()

    def optimizers(self):
        return {"G": torch.optim.Adam(self.G.parameters(), 1e-2)}

    def train_step(self, batch, step):
        assert torch.allclose(batch["A"], -batch["B"], atol=1e-5)  # the pair got the same crop and flip
        loss = (self.G(batch["A"]) - batch["B"]).abs().mean()
        self.optimize("G", loss)
        return {"l1": loss.detach()}


def test_worker_processes_load_pairs_and_resume_exactly(tmp_path):
    import numpy as np
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    for i in range(5):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (24, 30, 3), dtype=np.uint8)).save(images / f"{i}.png")
    options = dict(steps=12, batch_size=2, workers=2, log_every=3, save_every=100, sample_every=0, progress=False,
                   deterministic=True)
    Trainer(FolderPairs, FolderOptions(), TrainerOptions(**options), str(images), tmp_path / "straight").fit()
    Trainer(FolderPairs, FolderOptions(), TrainerOptions(**options, stop_at=7), str(images), tmp_path / "split").fit()
    Trainer(FolderPairs, FolderOptions(), TrainerOptions(**options), str(images), tmp_path / "split", resume=True).fit()
    assert_same_weights(weights(tmp_path / "straight"), weights(tmp_path / "split"))


def test_more_workers_than_cpus_load_with_one_per_cpu_and_say_so(monkeypatch, capsys):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    options = TrainerOptions(steps=2, workers=3, progress=False, sample_every=0)
    trainer = Trainer(ScalarFit, ScalarOptions(), options, "none")
    assert trainer._loader_workers() == 1 and trainer.options.workers == 3  # the saved options keep what was asked
    assert "--workers 3: this process may use 1 CPU, so data loads in 1 worker process\n" in capsys.readouterr().err
    assert Trainer(ScalarFit, ScalarOptions(), replace(options, workers=1), "none")._loader_workers() == 1
    assert capsys.readouterr().err == ""


def test_channels_last_check_ignores_dropout_masks_which_differ_by_layout():
    import translate.nn as tn

    torch.manual_seed(0)
    assert channels_last_is_safe(tn.UNetGenerator(num_downs=6, ngf=4, dropout=True), torch.randn(2, 3, 64, 64))


@pytest.mark.parametrize("native_bf16", [True, False])
def test_cpu_precision_advice_follows_the_cpus_bf16_support(monkeypatch, capsys, native_bf16):
    import translate.train.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "cpu_has_native_bf16", lambda: native_bf16)
    options = TrainerOptions(steps=1, workers=0, progress=False, device="cpu")
    Trainer(ScalarFit, ScalarOptions(), replace(options, precision="bf16"), "none")
    bf16_advice = capsys.readouterr().err
    Trainer(ScalarFit, ScalarOptions(), replace(options, precision="fp16"), "none")
    fp16_advice = capsys.readouterr().err
    assert ("use --precision fp32" in bf16_advice) is not native_bf16
    assert "fp16 on a CPU is slow" in fp16_advice
    assert ("use bf16" in fp16_advice) is native_bf16 and ("use fp32" in fp16_advice) is not native_bf16


def test_bf16_support_probe_agrees_with_the_kernels_cpu_flags():
    import platform

    from translate.train.trainer import cpu_has_native_bf16

    cpuinfo = Path("/proc/cpuinfo")
    if platform.machine() != "x86_64" or not cpuinfo.exists():
        pytest.skip("needs an x86-64 Linux machine, whose /proc/cpuinfo lists the CPU's flags")
    flags = set(next(line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")).split())
    assert cpu_has_native_bf16() == bool(flags & {"amx_tile", "amx_bf16", "avx512_bf16"})


def test_a_run_in_epochs_prints_its_length_in_steps_and_not_the_unused_steps_option(tmp_path, capsys):
    assert main(["train", "ganlab", "--data", "ring8", "--run", str(tmp_path / "R"), "--epochs", "1", *TINY]) == 0
    printed = capsys.readouterr().err
    options_line = next(line for line in printed.splitlines() if line.startswith("training options:"))
    assert "epochs=1" in options_line and " steps=" not in options_line
    assert "ganlab: 256 steps (1 epoch)" in printed


@pytest.mark.parametrize("seconds, said", [(8.4, "about 8 s"), (100, "about 2 min"), (8340, "about 2 h 19 min"),
                                           (3600, "about 1 h 00 min")])
def test_the_log_line_says_the_time_left_roughly(seconds, said):
    from translate.cli import _rough_duration

    assert _rough_duration(seconds) == said


FRESH_PAGES_OF_A_16_MB_BLOCK = """
import ctypes, resource, sys
from translate.train.trainer import keep_freed_memory
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
def fresh_pages():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(16 << 20)
    ctypes.memset(block, 1, 16 << 20)
    libc.free(block)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
fresh_pages()
print(kept, fresh_pages())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_keep_freed_memory_reuses_a_freed_block_instead_of_faulting_in_fresh_pages():
    def second_block(mode: str) -> tuple[str, int]:
        out = subprocess.run([sys.executable, "-c", FRESH_PAGES_OF_A_16_MB_BLOCK, mode], capture_output=True,
                             text=True, check=True).stdout.split()
        return out[0], int(out[1])

    kept, pages = second_block("keep")
    if kept != "True":
        pytest.skip("the C library is not glibc")
    assert pages < 100  # the freed block came back, its pages already there
    assert second_block("default")[1] > 1000  # glibc's default maps the second block afresh: 4096 pages of 4 KB
