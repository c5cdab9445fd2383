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
    _check_port_is_free(host, port)  # before the weights load, so a busy port is said at once
    print(f"translate demo on http://{host}:{port} (Ctrl-C to stop)")
    build().queue().launch(server_name=host, server_port=port, share=False)


def _check_port_is_free(host: str, port: int) -> None:
    import socket

    from translate.errors import UserError

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is no conflict
        try:
            probe.bind((host, port))
        except OSError as error:
            import errno

            advice = (f"stop what uses it, or pick another port, e.g. `translate demo --port {port + 1}`"
                      if error.errno == errno.EADDRINUSE else
                      "--host must be an address of this machine (127.0.0.1, or 0.0.0.0 for all of them)")
            raise UserError(f"cannot serve the demo on {host}:{port} ({error.strerror}): {advice}") from None


if __name__ == "__main__":
    launch()
