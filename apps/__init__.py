"""Gradio demos: one app per pipeline (each runs alone) and the suite that puts them in tabs."""

from __future__ import annotations

import functools
from typing import Callable


def refuse_large_upload(image, limit_pixels: int, command: str = "translate infer") -> None:
    """A demo answers on a shared machine, often a CPU: an upload over `limit_pixels` is a message, not minutes of
    work or gigabytes of memory."""
    import gradio as gr

    height, width = image.shape[:2]
    if height * width > limit_pixels:
        megapixels = f"{limit_pixels / 2**20:g} megapixel" + "s" * (limit_pixels != 2**20)
        raise gr.Error(f"{width}×{height} is large for this demo (limit {megapixels}); scale it down, or use "
                       f"`{command}` for big images")


def shows_user_errors(handler: Callable) -> Callable:
    """A demo handler whose UserErrors (a broken upload, wrong weights) reach the page as their one-line
    message: gradio shows any other exception as a bare "Error"."""

    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        import gradio as gr

        from translate.errors import UserError

        try:
            return handler(*args, **kwargs)
        except UserError as error:
            raise gr.Error(str(error)) from None

    return wrapper
