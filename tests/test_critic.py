"""The independent critic tells apart what differs and is near chance on what does not."""

import torch

from translate.critic import independent_critic_accuracy


def _images(seed, low, count=6):
    generator = torch.Generator().manual_seed(seed)
    return [torch.rand(3, 48, 48, generator=generator) * 0.2 + low for _ in range(count)]


def test_critic_separates_different_images_and_not_identical_distributions():
    real = _images(0, 0.4)
    assert independent_critic_accuracy(real, _images(1, 0.1), steps=60, patch=32, batch=16) > 0.9
    assert independent_critic_accuracy(real, _images(2, 0.4), steps=60, patch=32, batch=16) < 0.75
