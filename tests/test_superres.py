"""Super-resolution: the MATLAB bicubic protocol, Y-channel scores, SR data, tiled inference, SRGAN end to end,
and BasicSR / Real-ESRGAN checkpoints."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from translate.cli import main
from translate.data.images import read_image
from translate.data.sampling import SampleKey
from translate.data.superres import (SRImages, bicubic_downscale, bicubic_upscale, find_sr_images, hr_to_lr, imresize,
                                     load_sr_pair, modcrop, rgb_to_y, sr_scores)
from translate.errors import UserError
from translate.nn import MSRResNet, RRDBNet, SRResNet, SRVGGNetCompact
from translate.tiles import tile_infer

TINY = ["--channels", "8", "--blocks", "1", "--hr-crop", "32", "--batch-size", "2", "--workers", "0",
        "--no-progress", "--log-every", "1", "--sample-every", "2"]


def _photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random colour image (something to super-resolve)."""
    rng = np.random.default_rng(seed)
    small = torch.from_numpy(rng.random((3, height // 8 + 2, width // 8 + 2)))
    big = imresize(small, size=(height, width))
    return (big.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()


# --- the protocol -------------------------------------------------------------------------------

def test_imresize_keeps_constants_and_reproduces_a_linear_ramp():
    constant = torch.full((1, 40, 30), 0.25, dtype=torch.float64)
    assert torch.allclose(imresize(constant, 0.25), torch.full((1, 10, 8), 0.25, dtype=torch.float64))
    ramp = torch.arange(20, dtype=torch.float64).view(1, 1, 20).expand(1, 5, 20)
    up = imresize(ramp, 2)  # cubic convolution reproduces linear functions away from the borders
    centres = (torch.arange(40, dtype=torch.float64) + 0.5) / 2 - 0.5
    assert torch.allclose(up[0, 2, 4:-4], centres[4:-4], atol=1e-9)


def test_bicubic_downscaling_matches_the_benchmark_lr_files(shared):
    for hr_path, lr_path in find_sr_images(shared / "datasets" / "Set5", 4):
        hr = modcrop(read_image(hr_path), 4)
        difference = np.abs(bicubic_downscale(hr, 4).astype(int) - read_image(lr_path).astype(int))
        assert difference.max() <= 1, hr_path.name  # within 1/255 of MATLAB's own files


def test_lr_made_on_the_device_equals_the_per_image_protocol():
    hr = np.stack([_photo(32, 32, seed) for seed in range(3)])
    batch = torch.from_numpy(hr).permute(0, 3, 1, 2).float() / 255
    on_device = (hr_to_lr(batch, 4) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    assert np.array_equal(on_device, np.stack([bicubic_downscale(image, 4) for image in hr]))


def test_luma_uses_the_bt601_studio_range():
    assert rgb_to_y(torch.ones(1, 3, 1, 1)).item() == pytest.approx(235.0)
    assert rgb_to_y(torch.zeros(1, 3, 1, 1)).item() == pytest.approx(16.0)


def test_ssim_is_pinned_to_known_values():
    image = torch.from_numpy(_photo(48, 48)).permute(2, 0, 1)[None].double() / 255
    assert sr_scores(image, image, 4)["ssim_y"] == pytest.approx(1.0)
    # two flat images: only the luminance term is left, (2·a·b + C1) / (a² + b² + C1)
    a, b = torch.full((1, 3, 40, 40), 0.2, dtype=torch.float64), torch.full((1, 3, 40, 40), 0.6, dtype=torch.float64)
    ya, yb = rgb_to_y(a)[0, 0, 0, 0].item(), rgb_to_y(b)[0, 0, 0, 0].item()
    c1 = (0.01 * 255) ** 2
    expected = (2 * ya * yb + c1) / (ya**2 + yb**2 + c1)
    assert sr_scores(a, b, 4)["ssim_y"] == pytest.approx(expected, abs=1e-4)


def test_bicubic_baseline_matches_the_published_set5_figures(shared):
    # Bicubic ×4 on Set5 is reported as 28.42 dB / 0.8104 (e.g. Lim et al. 2017, Table 6)
    scores = []
    for hr_path, lr_path in find_sr_images(shared / "datasets" / "Set5", 4):
        hr, lr = load_sr_pair(hr_path, lr_path, 4)
        to_tensor = lambda a: torch.from_numpy(a.copy()).permute(2, 0, 1)[None].double() / 255  # noqa: E731
        scores.append(sr_scores(bicubic_upscale(to_tensor(lr), 4), to_tensor(hr), 4))
    assert np.mean([s["psnr_y"] for s in scores]) == pytest.approx(28.42, abs=0.05)
    assert np.mean([s["ssim_y"] for s in scores]) == pytest.approx(0.8104, abs=0.002)


# --- data -----------------------------------------------------------------------------------------

def _hr_folder(root, sizes):
    root.mkdir(parents=True, exist_ok=True)
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(_photo(h, w, i)).save(root / f"{i}.png")
    return root


def test_sr_samples_are_aligned_crops_and_small_images_are_left_out(tmp_path, capsys):
    data = SRImages(_hr_folder(tmp_path / "hr", [(64, 48), (20, 20), (50, 70)]), scale=4, hr_crop=32)
    assert "1 image(s) smaller than the 32px HR crop" in capsys.readouterr().out
    sample = data[SampleKey(0, 7)]
    assert sample["hr"].shape == (3, 32, 32) and "lr" not in sample  # LR made on the training device
    with pytest.raises(UserError, match="lower --hr-crop"):
        SRImages(tmp_path / "hr", scale=4, hr_crop=96)


def test_hr_lr_layout_checks_sizes(tmp_path):
    _hr_folder(tmp_path / "HR", [(40, 40)])
    (tmp_path / "LR_bicubic" / "X4").mkdir(parents=True)
    Image.fromarray(_photo(11, 10)).save(tmp_path / "LR_bicubic" / "X4" / "0.png")
    [(hr_path, lr_path)] = find_sr_images(tmp_path, 4)
    with pytest.raises(UserError, match="is not 1/4 of its HR image"):
        load_sr_pair(hr_path, lr_path, 4)


# --- tiled inference --------------------------------------------------------------------------------

def test_tiled_inference_matches_whole_image_inference():
    torch.manual_seed(0)
    network = SRResNet(channels=8, n_blocks=2).eval()
    image = _photo(70, 90)
    whole = tile_infer(network, image, 4, tile=0)
    tiled = tile_infer(network, image, 4, tile=32, overlap=16)
    assert tiled.shape == (280, 360, 3)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1


class _SmallMemory(torch.nn.Module):
    """Upsamples ×2, but 'runs out of memory' on inputs larger than 24×24."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.largest = 0

    def forward(self, x):
        if x.shape[-1] * x.shape[-2] > 24 * 24:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        self.largest = max(self.largest, x.shape[-1])
        return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest") * self.scale


def test_out_of_memory_halves_the_tile_and_carries_on(capsys):
    network = _SmallMemory()
    image = _photo(40, 40)
    out = tile_infer(network, image, 2, tile=40, overlap=2)
    assert "retrying with 20px tiles" in capsys.readouterr().err  # stderr: stdout may carry eval's JSON
    assert np.array_equal(out, image.repeat(2, 0).repeat(2, 1))


# --- the pipeline ------------------------------------------------------------------------------------

def test_psnr_then_gan_phase_resume_infer_and_eval(tmp_path, capsys, monkeypatch):
    data = _hr_folder(tmp_path / "photos", [(48, 48), (64, 40), (40, 56)])
    run = tmp_path / "x4"
    assert main(["train", "srgan", "--data", str(data), "--run", str(run), "--steps", "4", "--stop-at", "2",
                 "--val-data", str(data), "--eval-every", "2", *TINY]) == 0
    assert main(["train", "--resume", str(run)]) == 0
    assert (run / "best.pt").is_file()
    gan = tmp_path / "x4-gan"
    assert main(["train", "srgan", "--phase", "gan", "--init", str(run), "--data", str(data), "--run", str(gan),
                 "--steps", "2", "--loss", "relativistic", "--ndf", "4", *TINY]) == 0
    Image.fromarray(_photo(21, 30)).save(tmp_path / "odd.png")
    assert main(["infer", str(gan), str(tmp_path / "odd.png"), "--out", str(tmp_path / "out"), "--tile", "16"]) == 0
    assert Image.open(tmp_path / "out" / "odd_x4.png").size == (120, 84)
    # bf16 autocast: a close result, not the same one (the networks did run in bfloat16); where the CPU emulates
    # bf16, a line says it is slower
    import translate.train.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "cpu_has_native_bf16", lambda: False)
    capsys.readouterr()
    assert main(["infer", str(gan), str(tmp_path / "odd.png"), "--out", str(tmp_path / "bf16"), "--tile", "16",
                 "--precision", "bf16"]) == 0
    assert "bf16 is emulated and slower than fp32" in capsys.readouterr().err
    full, half = (np.asarray(Image.open(tmp_path / out / "odd_x4.png")).astype(int) for out in ("out", "bf16"))
    assert not np.array_equal(full, half) and np.abs(full - half).mean() < 3
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(data), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["images"] == 3 and metrics["bicubic_psnr_y"] > 20 and metrics["psnr_y"] > 0


def test_missing_vgg_file_or_validation_folder_is_a_clear_error(tmp_path, capsys):
    data = _hr_folder(tmp_path / "photos", [(48, 48)])
    assert main(["train", "srgan", "--phase", "gan", "--perceptual-weights", str(tmp_path / "vgg19.pth"),
                 "--data", str(data), "--run", str(tmp_path / "r"), "--steps", "1", *TINY]) == 2
    assert "vgg19-dcbb9e9d.pth" in capsys.readouterr().err
    assert main(["train", "srgan", "--val-data", str(tmp_path / "nothere"), "--data", str(data), "--run",
                 str(tmp_path / "v"), "--steps", "1", *TINY]) == 2  # said before training, not after
    assert capsys.readouterr().err.strip().endswith(f"error: --val-data: {tmp_path / 'nothere'}: no such folder")
    assert not (tmp_path / "v" / "checkpoint.pt").exists()


# --- BasicSR / Real-ESRGAN checkpoints ---------------------------------------------------------------

@pytest.mark.parametrize("listing, make", [
    ("basicsr_msrresnet_x4", lambda: MSRResNet()),
    ("basicsr_rrdbnet_x4", lambda: RRDBNet(num_block=23)),
    ("realesrgan_srvggnet_compact_x4", lambda: SRVGGNetCompact()),
])
def test_reference_key_listings_match_our_networks(shared, listing, make):
    entries = json.loads((shared / "interop" / f"{listing}.json").read_text())
    state = make().state_dict()
    assert [key for key, _, _ in entries] == list(state)
    assert all(list(state[key].shape) == shape for key, shape, _ in entries)


@pytest.mark.parametrize("network, generator", [
    (MSRResNet(num_feat=8, num_block=2), "msrresnet"),
    (RRDBNet(num_feat=8, num_block=1, num_grow_ch=4), "rrdbnet"),
    (SRVGGNetCompact(num_feat=8, num_conv=3), "srvgg_compact"),
])
def test_basicsr_files_load_strictly_and_run(tmp_path, network, generator):
    from translate.weights import load_weights

    ema = {k: v + 0.01 if v.is_floating_point() else v for k, v in network.state_dict().items()}
    torch.save({"params": network.state_dict(), "params_ema": ema}, tmp_path / "net_g_latest.pth")
    loaded = load_weights(tmp_path / "net_g_latest.pth")
    assert loaded.options.generator == generator and loaded.options.scale == 4
    network.load_state_dict(ema)  # Real-ESRGAN prefers the EMA copy; so do we
    x = torch.rand(1, 3, 12, 12)
    assert torch.allclose(loaded.model(x), network.eval()(x), atol=1e-6)


def test_bench_times_a_step_and_names_its_most_expensive_ops(capsys):
    assert main(["bench", "srgan", "--steps", "1", "--warmup", "0", "--batch-size", "1", "--image", "16",
                 "--modes", "fp32 eager", "--profile", "3"]) == 0
    printed = capsys.readouterr().out
    assert "| fp32 eager |" in printed and printed.count("%") >= 3 and "most expensive ops" in printed
    assert all(f"tile {tile}, {precision}:" in printed for tile in (128, 256) for precision in ("fp32", "bf16"))
