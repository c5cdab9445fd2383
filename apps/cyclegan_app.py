"""The CycleGAN demo: upload an image, pick a direction, see the translation and its cycle reconstruction.

    python apps/cyclegan_app.py [WEIGHTS]     (or the CycleGAN tab of `translate demo` once weights ship)

WEIGHTS is a shipped name, a run folder, or a pytorch-CycleGAN-and-pix2pix checkpoints folder holding
latest_net_G_A.pth and latest_net_G_B.pth (default: cyclegan-brooklyn). Any image size works.
"""

from __future__ import annotations

import functools
import os
import sys

for _key, _value in (("GRADIO_ANALYTICS_ENABLED", "False"), ("HF_HUB_OFFLINE", "1"), ("NO_ALBUMENTATIONS_UPDATE", "1")):
    os.environ.setdefault(_key, _value)

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from apps import refuse_large_upload, shows_user_errors  # noqa: E402

WEIGHTS = "cyclegan-brooklyn"
DIRECTIONS = {"A → B (label map → atlas)": "AtoB", "B → A (atlas → label map)": "BtoA"}
# both generators run on the whole upload, so time and memory grow with its pixels; `translate infer` has no limit
MAX_INPUT_PIXELS = 2048 * 2048


@functools.lru_cache(maxsize=2)
def _networks(spec: str):
    from translate.weights import load_weights

    loaded = load_weights(spec)
    if loaded.pipeline.name != "cyclegan":
        raise gr.Error(f"{spec}: these are {loaded.pipeline.name} weights; CycleGAN needs both generators")
    return loaded.networks


@shows_user_errors
def translate_both_ways(image: np.ndarray, direction: str, weights: str = WEIGHTS):
    """(translation, reconstruction) of an uploaded image in the chosen direction."""
    from translate.pipelines.cyclegan import cycle

    if image is None:
        raise gr.Error("Upload an image first.")
    image = np.repeat(image[..., None], 3, 2) if image.ndim == 2 else image[..., :3]
    refuse_large_upload(image, MAX_INPUT_PIXELS)
    return cycle(_networks(weights), image, DIRECTIONS.get(direction, direction))


def render(weights: str = WEIGHTS) -> None:
    gr.Markdown(f"Unpaired translation with `{weights}`: the middle image is the translation, the right one "
                "comes back through the other generator (the cycle).")
    with gr.Row():
        image = gr.Image(type="numpy", image_mode="RGB", label="input", height=300)
        translated = gr.Image(type="numpy", format="png", label="translation", interactive=False, height=300)
        reconstructed = gr.Image(type="numpy", format="png", label="cycle reconstruction", interactive=False,
                                 height=300)
    direction = gr.Radio(list(DIRECTIONS), value=next(iter(DIRECTIONS)), label="direction")
    run = gr.Button("Translate", variant="primary")
    from apps.pix2pix_app import example_label_maps  # label maps drawn by our own code, for A → B

    gr.Examples([[path, next(iter(DIRECTIONS))] for path in example_label_maps()], inputs=[image, direction])
    run.click(lambda i, d: translate_both_ways(i, d, weights), [image, direction], [translated, reconstructed],
              api_name="translate_cyclegan")


def demo(weights: str = WEIGHTS) -> gr.Blocks:
    with gr.Blocks(title="translate · CycleGAN") as blocks:
        render(weights)
    return blocks


if __name__ == "__main__":
    from translate.errors import UserError

    chosen = sys.argv[1] if len(sys.argv) > 1 else WEIGHTS
    try:
        _networks(chosen)  # wrong weights are said now, in one line, not at the first click
    except (UserError, gr.Error) as error:
        sys.exit(f"error: {getattr(error, 'message', error)}")
    demo(chosen).queue().launch()
