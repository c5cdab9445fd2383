"""The super-resolution demo: upload a photo, get it ×4 — bicubic and model side by side on a slider.

    python apps/srgan_app.py        (or the super-resolution tab of `translate demo`)

Models: the shipped `srresnet-x4` (PSNR-oriented) and `srgan-x4` (perceptual), or any checkpoint you
load — ours, or a BasicSR / Real-ESRGAN `.pth` (MSRResNet, RRDBNet, SRVGGNetCompact). Large photos go
through tiled inference, so any size works.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

for _key, _value in (("GRADIO_ANALYTICS_ENABLED", "False"), ("HF_HUB_OFFLINE", "1"), ("NO_ALBUMENTATIONS_UPDATE", "1")):
    os.environ.setdefault(_key, _value)

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from apps import refuse_large_upload, shows_user_errors  # noqa: E402

WEIGHTS = "srresnet-x4"
MODELS = {"SRResNet ×4 (PSNR)": "srresnet-x4", "SRGAN ×4 (GAN)": "srgan-x4"}
LOADED = "the checkpoint loaded below"
MAX_INPUT_PIXELS = 1024 * 1024  # keeps a CPU demo answer under a minute; `translate infer` has no limit


@functools.lru_cache(maxsize=4)
def _model(spec: str):
    from translate.weights import load_weights

    loaded = load_weights(spec)
    if loaded.pipeline.name != "srgan":
        raise gr.Error(f"{Path(spec).name}: these are {loaded.pipeline.name} weights, not a super-resolution model")
    return loaded.networks["G"], loaded.options.scale


def synthetic_photo(seed: int, size: int = 96) -> np.ndarray:
    """A small picture drawn by our own code (shapes, text, gradients): something with edges to upscale."""
    import cv2

    rng = np.random.default_rng(seed)
    big = size * 4
    y, x = np.mgrid[0:big, 0:big] / big
    canvas = np.stack([120 + 100 * x, 90 + 120 * y, 160 - 80 * x * y], -1).astype(np.uint8)
    for _ in range(6):
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        centre = tuple(int(c) for c in rng.integers(0, big, 2))
        cv2.circle(canvas, centre, int(rng.integers(15, big // 4)), colour, -1, cv2.LINE_AA)
    for i in range(12):
        cv2.line(canvas, (0, 20 * i + 10), (big, 20 * i + 40), (20, 20, 20), 2, cv2.LINE_AA)
    cv2.putText(canvas, "translate", (20, big // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (250, 250, 250), 3, cv2.LINE_AA)
    return cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)


def bf16_is_native() -> bool:
    """Whether the hardware does bfloat16 itself: a GPU with bf16, or a CPU with AMX or AVX512-BF16."""
    import torch

    from translate.train.trainer import cpu_has_native_bf16

    return torch.cuda.is_bf16_supported() if torch.cuda.is_available() else cpu_has_native_bf16()


@shows_user_errors
def super_resolve_photo(photo: np.ndarray, model: str, checkpoint: str | None, tile: int, bf16: bool = False):
    """(bicubic, model) pair for the slider, and the model's result as a PNG file. `bf16`: run the model under
    bfloat16 autocast: about twice as fast on a CPU with AVX512-BF16 for 0.01 dB PSNR-Y less (BENCHMARKS.md)."""
    import torch

    from translate.data.images import image_to_tensor, save_image
    from translate.data.superres import bicubic_upscale
    from translate.pipelines.srgan import super_resolve

    if photo is None:
        raise gr.Error("Upload a photo first.")
    if model == LOADED:
        if not checkpoint:
            raise gr.Error("Load a checkpoint file first (a .pth/.pt, or a .safetensors with its .json beside it).")
        spec = checkpoint
    else:
        spec = MODELS[model]
    photo = np.repeat(photo[..., None], 3, 2) if photo.ndim == 2 else photo[..., :3]
    refuse_large_upload(photo, MAX_INPUT_PIXELS)
    generator, scale = _model(spec)
    device = next(generator.parameters()).device
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bool(bf16)):
        result = super_resolve(generator, photo, scale, int(tile))
    lr = image_to_tensor(photo, (0.0, 1.0))[None].double()
    bicubic = (bicubic_upscale(lr, scale)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    path = save_image(result, Path(tempfile.mkdtemp(prefix="translate-sr-")) / f"x{scale}.png")
    return (bicubic, result), str(path)


def _examples() -> list[str]:
    from PIL import Image

    folder = Path(tempfile.gettempdir()) / "translate-sr-examples"
    folder.mkdir(exist_ok=True)
    paths = []
    for seed in (1, 2):
        path = folder / f"drawing_{seed}.png"
        Image.fromarray(synthetic_photo(seed)).save(path)
        paths.append(str(path))
    return paths


def render() -> None:
    gr.Markdown("Upload a photo and super-resolve it ×4. The slider compares **bicubic** (left) with the "
                "**model** (right). Models: `weights/srresnet-x4` (PSNR-oriented) and `weights/srgan-x4` "
                "(perceptual), or a checkpoint of your own / from BasicSR or Real-ESRGAN.")
    with gr.Row():
        with gr.Column():
            photo = gr.Image(type="numpy", image_mode="RGB", label="photo", height=300)
            model = gr.Dropdown([*MODELS, LOADED], value=next(iter(MODELS)), label="model")
            checkpoint = gr.File(label="checkpoint (.pth / .pt)", file_types=[".pth", ".pt"], type="filepath")
            tile = gr.Slider(0, 512, value=128, step=16, label="tile size (LR pixels; 0 = whole image)")
            bf16 = gr.Checkbox(bf16_is_native(), label="bfloat16 (ticked where the hardware has it: about twice as "
                               "fast on a CPU with AVX512-BF16, 0.01 dB less on Set5)")
            run = gr.Button("Super-resolve", variant="primary")
        with gr.Column():
            comparison = gr.ImageSlider(label="bicubic | model", type="numpy", format="png")
            download = gr.File(label="download the result")
    gr.Examples(_examples(), inputs=photo)
    run.click(super_resolve_photo, [photo, model, checkpoint, tile, bf16], [comparison, download],
              api_name="super_resolve")


def demo() -> gr.Blocks:
    with gr.Blocks(title="translate · super-resolution") as blocks:
        render()
    return blocks


if __name__ == "__main__":
    demo().queue().launch()
