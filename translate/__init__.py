"""translate: image-to-image translation with conditional GANs — pix2pix, CycleGAN, SRGAN and a
semi-supervised GAN on shared building blocks (`translate.nn`) and one trainer (`translate.train`)."""

__version__ = "0.1.0"


def load(name, device="cpu"):
    """A ready-to-run model from a shipped weights name, a run folder or a weights file."""
    from .weights import load as _load

    return _load(name, device)
