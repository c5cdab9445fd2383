"""The demo suite: one tab per pipeline, on the shipped weights. `translate demo [--port P]`."""

from __future__ import annotations

import importlib
import os

for _key, _value in (("GRADIO_ANALYTICS_ENABLED", "False"), ("HF_HUB_OFFLINE", "1"), ("NO_ALBUMENTATIONS_UPDATE", "1")):
    os.environ.setdefault(_key, _value)

import gradio as gr  # noqa: E402

#: tab title → (app module, the shipped weights it needs or None); each module has render() (its tab)
#: and demo() (the app alone)
APPS: dict[str, tuple[str, str | None]] = {
    "pix2pix": ("apps.pix2pix_app", "pix2pix-brooklyn"),
    "super-resolution": ("apps.srgan_app", "srresnet-x4"),
    "CycleGAN": ("apps.cyclegan_app", "cyclegan-brooklyn"),
    "semi-supervised": ("apps.semisup_app", "semisup-mnist100"),
    "GAN lab": ("apps.ganlab_app", None),
}


def build() -> gr.Blocks:
    with gr.Blocks(title="translate") as suite:
        gr.Markdown("# translate\nImage-to-image translation with conditional GANs — "
                    "each tab runs on the weights shipped in `weights/`.")
        from translate.weights import available

        shipped = set(available())
        for title, (module, weights) in APPS.items():
            if weights is None or weights in shipped:  # a tab for each pipeline that has weights
                with gr.Tab(title):
                    importlib.import_module(module).render()
    return suite


def launch(port: int = 7860, host: str = "127.0.0.1") -> None:
    print(f"translate demo on http://{host}:{port} (Ctrl-C to stop)")
    build().queue().launch(server_name=host, server_port=port, share=False)


if __name__ == "__main__":
    launch()
