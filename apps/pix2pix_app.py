"""The pix2pix demo: a building-footprint label map in, an 1887 Brooklyn atlas tile out.

    python apps/pix2pix_app.py        (or the pix2pix tab of `translate demo`)

Label maps use the brooklyn1887 palette: yellow footprints, red outlines, black ground. Upload one (any
size) or draw one on the sketchpad.
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
import torch  # noqa: E402

from apps import refuse_large_upload, shows_user_errors  # noqa: E402

WEIGHTS = "pix2pix-brooklyn"
MAX_INPUT_PIXELS = 2048 * 2048  # a label map this size translates in seconds on a CPU
YELLOW, RED = (255, 255, 0), (255, 0, 0)


def draw_label_map(seed: int, width: int = 256, height: int = 256) -> np.ndarray:
    """A random city block in the label palette: footprints along two streets, outlined in red."""
    import cv2

    rng = np.random.default_rng(seed)
    canvas = np.zeros((height, width, 3), np.uint8)
    for row_top in (rng.integers(5, 30), rng.integers(height // 2 + 5, height // 2 + 30)):
        x = int(rng.integers(0, 20))
        while x < width - 20:
            w, h = int(rng.integers(25, 70)), int(rng.integers(40, height // 2 - 30))
            top_left, bottom_right = (x, int(row_top)), (min(width - 1, x + w), int(row_top) + h)
            cv2.rectangle(canvas, top_left, bottom_right, YELLOW, -1)
            cv2.rectangle(canvas, top_left, bottom_right, RED, 5)
            x += w + int(rng.integers(0, 6))
    return canvas


@functools.lru_cache(maxsize=1)
def _generator():
    from translate.weights import load_weights

    loaded = load_weights(WEIGHTS)
    return loaded.networks["G"], loaded.options


@shows_user_errors
def translate_label_map(label_map: np.ndarray) -> np.ndarray:
    from translate.data.images import image_to_tensor, tensor_to_image
    from translate.pipelines.pix2pix import translate_image

    if label_map is None:
        raise gr.Error("Upload or pick a label map first.")
    if label_map.ndim == 2:
        label_map = np.repeat(label_map[..., None], 3, axis=2)
    refuse_large_upload(label_map, MAX_INPUT_PIXELS)
    generator, _ = _generator()
    with torch.no_grad():
        output = translate_image(generator, image_to_tensor(label_map[..., :3]).unsqueeze(0))
    return tensor_to_image(output)


@shows_user_errors
def translate_drawing(drawing) -> np.ndarray:
    """A sketchpad drawing (strokes on a transparent or black canvas) → the atlas tile."""
    image = drawing.get("composite") if isinstance(drawing, dict) else drawing
    if image is None:
        raise gr.Error("Draw a label map first: yellow footprints, red outlines.")
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 4:  # transparent canvas = black ground
        alpha = image[..., 3:] / 255.0
        image = (image[..., :3] * alpha).round().astype(np.uint8)
    return translate_label_map(image)


def example_label_maps() -> list[str]:
    """Three label maps drawn by draw_label_map, saved as PNGs for gr.Examples (one of them 384×256)."""
    from PIL import Image

    folder = Path(tempfile.gettempdir()) / "translate-pix2pix-examples"
    folder.mkdir(exist_ok=True)
    paths = []
    for seed, size in ((1, (256, 256)), (2, (256, 256)), (3, (384, 256))):
        path = folder / f"label_map_{seed}.png"
        Image.fromarray(draw_label_map(seed, *size)).save(path)
        paths.append(str(path))
    return paths


def render() -> None:
    gr.Markdown("Draw or upload a label map — **yellow** building footprints with **red** outlines on "
                "**black** ground — and get a tile in the style of the 1887 Brooklyn fire-insurance atlas. "
                f"Weights: `weights/{WEIGHTS}` (see its model card).")
    with gr.Row():
        label_map = gr.Image(type="numpy", image_mode="RGB", format="png", sources=["upload", "clipboard"],
                             label="label map", height=360)
        tile = gr.Image(type="numpy", format="png", label="atlas tile", interactive=False, height=360)
    with gr.Row():
        random_layout = gr.Button("New random layout")
        run = gr.Button("Translate", variant="primary")
    gr.Examples(example_label_maps(), inputs=label_map)
    with gr.Accordion("…or draw one", open=False):
        with gr.Row():
            pad = gr.Sketchpad(label="draw: yellow footprints, red outlines", type="numpy", image_mode="RGBA",
                               height=300, width=300, canvas_size=(256, 256),
                               brush=gr.Brush(default_size=8, colors=["#ffff00", "#ff0000", "#000000"],
                                              color_mode="fixed"))
            drawn_tile = gr.Image(type="numpy", format="png", label="atlas tile", interactive=False, height=300)
        draw_run = gr.Button("Translate the drawing")
    draw_run.click(translate_drawing, pad, drawn_tile, api_name="translate_drawing")
    seed = gr.State(10)
    random_layout.click(lambda s: (draw_label_map(s), s + 1), seed, [label_map, seed], api_name=False)
    run.click(translate_label_map, label_map, tile, api_name="translate_pix2pix")


def demo() -> gr.Blocks:
    with gr.Blocks(title="translate · pix2pix") as blocks:
        render()
    return blocks


if __name__ == "__main__":
    demo().launch(server_name="127.0.0.1")
