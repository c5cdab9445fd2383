"""The semi-supervised GAN demo: draw a digit, see the class probabilities and the implicit real/fake score as you draw.

    python apps/semisup_app.py        (or the semi-supervised tab of `translate demo`)

The classifier is the discriminator of a shipped `weights/semisup-mnistN`, trained from N labelled MNIST
digits plus the unlabelled rest (a slider over N when several are shipped; it settles on the nearest shipped N);
its real score is D(x) = Z(x) / (Z(x) + 1) with Z the sum of exp(logits).
"""

from __future__ import annotations

import functools
import math
import os
import re

for _key, _value in (("GRADIO_ANALYTICS_ENABLED", "False"), ("HF_HUB_OFFLINE", "1"), ("NO_ALBUMENTATIONS_UPDATE", "1")):
    os.environ.setdefault(_key, _value)

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from apps import shows_user_errors  # noqa: E402

WEIGHTS = "semisup-mnist100"  # the default choice


def shipped_label_counts() -> dict[int, str]:
    """{number of labels: weights name} of the shipped `semisup-mnistN` runs, fewest labels first."""
    from translate.weights import available

    runs = {int(m.group(1)): name for name in available() if (m := re.fullmatch(r"semisup-mnist(\d+)", name))}
    return dict(sorted(runs.items()))


@functools.lru_cache(maxsize=4)
def _loaded(name: str = WEIGHTS):
    from translate.weights import load_weights

    loaded = load_weights(name)
    return loaded.networks, loaded.options


def nearest_shipped(labels) -> int:
    """The shipped N nearest to `labels` (fewer on a tie): the slider moves in even steps, the shipped N are not."""
    runs = shipped_label_counts()
    if not runs:
        raise gr.Error("No semisup-mnistN weights are shipped: train one with `translate train semisup` and add it "
                       "with `translate weights add RUN semisup-mnistN`.")
    return min(runs, key=lambda count: (abs(count - float(labels)), count))


def _weights_for(labels) -> str:
    """The shipped run trained from the N nearest to `labels` (None: the default run)."""
    if labels is None:
        return WEIGHTS
    return shipped_label_counts()[nearest_shipped(labels)]


def _drawing_to_digit(drawing) -> np.ndarray:
    """The sketchpad's image (dark strokes on white, or any upload) → a white digit on black, sized and centred as
    MNIST's are (a digit drawn small in a corner is read like one drawn in the middle)."""
    from translate.data.classes import as_mnist_digit

    image = drawing.get("composite") if isinstance(drawing, dict) else drawing
    if image is None:
        raise gr.Error("Draw a digit first.")
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 4:  # transparent background counts as empty paper
        alpha = image[..., 3:] / 255.0
        image = (image[..., :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    digit = as_mnist_digit(image)
    if digit is None:
        raise gr.Error("The canvas is empty: draw a digit first.")
    return digit


@shows_user_errors
def classify_drawing(drawing, labels=None):
    """({digit: probability}, real score) of a drawn or uploaded digit, by the run trained from the shipped N nearest
    to `labels`."""
    from translate.pipelines.semisup import classify

    weights = _weights_for(labels)
    networks, options = _loaded(weights)
    probabilities, real = classify(networks["D"], _drawing_to_digit(drawing), options)
    return ({str(k): float(p) for k, p in enumerate(probabilities)},
            f"D(x) = {real:.3f} (1 = looks real, 0 = fake), by {weights}")


def _read_as_drawn(drawing, labels):
    """Each stroke, and a settled slider, read the drawing again; an empty (or cleared) canvas empties the answer
    instead of raising, as the user is not asking for anything yet."""
    try:
        return classify_drawing(drawing, labels)
    except gr.Error:
        return None, ""


@shows_user_errors
def samples(seed: float, labels=None) -> np.ndarray:
    from translate.pipelines.semisup import _as_images, sample_grid

    networks, options = _loaded(_weights_for(labels))
    torch.manual_seed(int(seed))
    with torch.no_grad():
        return sample_grid(_as_images(networks["G"](torch.rand(64, options.latent_dim)), options))


def _resample_if_shown(seed: float, labels, shown):
    """Moving the slider draws the generator's grid again with the new N, if one is shown."""
    return gr.skip() if shown is None else samples(seed, labels)


def render() -> None:
    counts = list(shipped_label_counts()) or [100]
    gr.Markdown("Pick the brush and draw a digit: it is read as you draw. The classifier is the discriminator of a "
                "shipped `weights/semisup-mnistN`, trained from **N labelled** MNIST digits and 60,000 unlabelled ones "
                "(Salimans et al. 2016).")
    # Even steps that every shipped N sits on (10 for 20, 50, 100, 200); a release settles on the nearest shipped N.
    labels = gr.Slider(counts[0], counts[-1], value=100 if 100 in counts else counts[0], step=math.gcd(*counts),
                       label="labels the classifier learned from (N)", visible=len(counts) > 1,
                       info=f"shipped runs: N = {', '.join(map(str, counts))}")
    with gr.Row():
        # drawn 1:1 on a 280×280 canvas: Gradio's default canvas, 800×800 shown at 27 %, gave a digit drawn the same
        # size on screen strokes 280/800 as wide beside it, far thinner than MNIST's
        pad = gr.Sketchpad(label="draw a digit", type="numpy", image_mode="RGBA", height=280, width=280,
                           canvas_size=(280, 280), elem_id="semisup-canvas",
                           brush=gr.Brush(default_size=18, colors=["#000000"], color_mode="fixed"))
        with gr.Column():
            probabilities = gr.Label(num_top_classes=10, label="class probabilities", elem_id="semisup-probabilities")
            real = gr.Textbox(label="implicit real/fake score")
    classify = gr.Button("Classify", variant="primary")
    classify.click(classify_drawing, [pad, labels], [probabilities, real], api_name="classify_digit")
    # read as it is drawn, as a person would hope: one pass of D per read, and the strokes that come while one is read
    # are folded into the next
    pad.change(_read_as_drawn, [pad, labels], [probabilities, real], trigger_mode="always_last",
               show_progress="hidden", api_visibility="private")
    with gr.Row():
        seed = gr.Number(0, label="seed", precision=0)
        draw = gr.Button("Generator samples")
    grid = gr.Image(type="numpy", format="png", label="generator samples", interactive=False, height=300,
                    elem_id="semisup-samples")
    draw.click(samples, [seed, labels], grid, api_name="semisup_samples")
    # Once the slider settles, what is already shown is shown again by the new run, so both panels speak of one N.
    settled = labels.release(nearest_shipped, labels, labels, api_visibility="private")
    settled.then(_read_as_drawn, [pad, labels], [probabilities, real], api_visibility="private")
    settled.then(_resample_if_shown, [seed, labels, grid], grid, api_visibility="private")


def demo() -> gr.Blocks:
    with gr.Blocks(title="translate · semi-supervised GAN") as blocks:
        render()
    return blocks


if __name__ == "__main__":
    demo().queue().launch()
