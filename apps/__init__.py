"""Gradio demos: one app per pipeline (each runs alone) and the suite that puts them in tabs."""

from __future__ import annotations

import functools
from typing import Callable


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
