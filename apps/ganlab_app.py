"""The GAN lab demo: pick a loss and tricks, train a few hundred steps live, watch the ring fill in.

    python apps/ganlab_app.py        (or the GAN lab tab of `translate demo`)
"""

from __future__ import annotations

import os

for _key, _value in (("GRADIO_ANALYTICS_ENABLED", "False"), ("HF_HUB_OFFLINE", "1"), ("NO_ALBUMENTATIONS_UPDATE", "1")):
    os.environ.setdefault(_key, _value)

import gradio as gr  # noqa: E402
import torch  # noqa: E402

from translate.data.toy import TOY_DISTRIBUTIONS, render_samples  # noqa: E402
from translate.nn.losses import ADVERSARIAL_LOSSES, PENALTIES  # noqa: E402
from translate.pipelines.ganlab import GanLab, GanLabOptions  # noqa: E402
from translate.train import Trainer, TrainerOptions  # noqa: E402

SHIPPED = "ganlab-ring8"
TRICKS = ["minibatch discrimination", "feature matching", "spectral norm", "historical averaging", "EMA of G"]


def shipped_samples():
    """Samples of the shipped GAN lab weights, or None when they are not there."""
    from translate.weights import available, load_weights

    if SHIPPED not in available():
        return None, "no shipped GAN lab weights"
    loaded = load_weights(SHIPPED)
    samples = GanLab.sample(loaded.networks, loaded.options, loaded.options.eval_samples)
    distribution = TOY_DISTRIBUTIONS[loaded.card["data"]]
    from translate.data.toy import mode_statistics

    stats = mode_statistics(samples, distribution)
    text = (f"shipped {SHIPPED}: {stats['modes_covered']}/{stats['modes']} modes, "
            f"{stats['high_quality']:.0%} high-quality samples")
    return render_samples(samples, distribution), text


def train_live(data: str, loss: str, penalty: str, penalty_weight: float, label_smoothing: float,
               instance_noise: float, d_steps: int, tricks: list[str], steps: int, seed: int):
    """Train the GAN lab in memory and yield a picture of the samples every few steps."""
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    options = GanLabOptions(loss=loss, gp=penalty, gp_weight=float(penalty_weight),
                            label_smoothing=float(label_smoothing), instance_noise=float(instance_noise),
                            d_steps=int(d_steps), minibatch_discrimination="minibatch discrimination" in tricks,
                            feature_matching="feature matching" in tricks, spectral_norm="spectral norm" in tricks,
                            historical_averaging=0.01 if "historical averaging" in tricks else 0.0)
    trainer_options = TrainerOptions(**{**GanLab.trainer_defaults, "steps": int(steps), "seed": int(seed),
                                        "log_every": max(10, int(steps) // 20), "progress": False,
                                        "ema_decay": 0.99 if "EMA of G" in tricks else 0.0})
    trainer = Trainer(GanLab, options, trainer_options, data)
    pipeline = trainer.pipeline
    for step, logs in trainer.iterate():
        with trainer.aside():  # eval mode and a forked RNG: looking does not change training
            stats = pipeline.validate()
            picture = render_samples(pipeline.generate(options.eval_samples), pipeline.distribution)
        text = (f"step {step}/{trainer.total_steps} · D loss {logs['d_loss']:.3f} · G loss {logs['g_loss']:.3f} · "
                f"{stats['modes_covered']}/{stats['modes']} modes · {stats['high_quality']:.0%} high quality")
        yield picture, text


def render() -> None:
    """Lay out the GAN lab inside the current gr.Blocks (a tab of the suite, or the whole page)."""
    gr.Markdown("Train a GAN on a toy distribution in your browser. Blue: where the data is. Orange: what the "
                "generator makes. A mode counts as covered when ≥ 1 % of the samples land within 3σ of it.")
    with gr.Row():
        with gr.Column(scale=1):
            data = gr.Dropdown(list(TOY_DISTRIBUTIONS), value="ring8", label="data")
            loss = gr.Dropdown(list(ADVERSARIAL_LOSSES), value="nonsaturating", label="adversarial loss")
            penalty = gr.Dropdown(["none", *PENALTIES], value="wgan-gp", label="gradient penalty")
            penalty_weight = gr.Slider(0.0, 10.0, value=1.0, step=0.1, label="penalty weight λ")
            label_smoothing = gr.Slider(0.0, 0.3, value=0.0, step=0.05, label="one-sided label smoothing")
            instance_noise = gr.Slider(0.0, 0.5, value=0.0, step=0.05, label="instance noise σ (annealed)")
            d_steps = gr.Slider(1, 5, value=1, step=1, label="discriminator steps per generator step")
            tricks = gr.CheckboxGroup(TRICKS, label="tricks")
            steps = gr.Slider(100, 3000, value=1000, step=100, label="steps")
            seed = gr.Number(0, precision=0, label="seed")
            train = gr.Button("Train", variant="primary")
        with gr.Column(scale=1):
            picture, status = shipped_samples()
            samples = gr.Image(value=picture, label="samples over the data density", format="png",
                               interactive=False, height=420)
            progress = gr.Textbox(value=status, label="progress", interactive=False)
    train.click(train_live, [data, loss, penalty, penalty_weight, label_smoothing, instance_noise, d_steps, tricks,
                             steps, seed], [samples, progress], api_name="train_ganlab")


def demo() -> gr.Blocks:
    with gr.Blocks(title="translate · GAN lab") as blocks:
        render()
    return blocks


if __name__ == "__main__":
    demo().launch(server_name="127.0.0.1")
