"""An independent critic: how well can a fresh discriminator tell generated images from real ones?

A new small conv classifier (never seen during training) learns real vs generated on random patches
of half of the held-out images, and is scored on patches of the other half. Its held-out accuracy is
the score: 0.5 means the generated images are indistinguishable to it, 1.0 means trivially told apart.
Unlike the training discriminator, it cannot have been fooled by the generator it judges.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .nn import ConvClassifier
from .train.pipeline import adam


def _patches(images: list[torch.Tensor], count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    out = []
    for i in range(count):
        image = images[int(torch.randint(len(images), (), generator=generator))]
        h, w = image.shape[-2:]
        y = int(torch.randint(max(h - size, 0) + 1, (), generator=generator))
        x = int(torch.randint(max(w - size, 0) + 1, (), generator=generator))
        patch = image[..., y:y + size, x:x + size]
        if patch.shape[-2:] != (size, size):
            patch = F.interpolate(patch[None], size=(size, size), mode="bilinear", align_corners=False)[0]
        out.append(patch)
    return torch.stack(out)


def independent_critic_accuracy(real: list[torch.Tensor], fake: list[torch.Tensor], seed: int = 0,
                                steps: int = 300, patch: int = 64, batch: int = 32) -> float:
    """Held-out accuracy of a fresh critic; `real` and `fake` are lists of (3, H, W) images in [0, 1],
    at least 2 of each (the first half trains the critic, the second half scores it)."""
    if min(len(real), len(fake)) < 2:
        raise ValueError("the independent critic needs at least 2 real and 2 generated images")
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        critic = ConvClassifier(3, 1, ndf=16, n_layers=4)
    optimizer = adam(critic.parameters(), 2e-4, (0.5, 0.999))
    half_real, half_fake = len(real) // 2, len(fake) // 2
    train_sets, test_sets = (real[:half_real], fake[:half_fake]), (real[half_real:], fake[half_fake:])
    labels = torch.cat([torch.ones(batch // 2), torch.zeros(batch // 2)])[:, None]
    critic.train()
    for _ in range(steps):
        images = torch.cat([_patches(train_sets[0], batch // 2, patch, generator),
                            _patches(train_sets[1], batch // 2, patch, generator)])
        loss = F.binary_cross_entropy_with_logits(critic(images * 2 - 1), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    critic.eval()
    with torch.no_grad():
        test_real = _patches(test_sets[0], 256, patch, generator)
        test_fake = _patches(test_sets[1], 256, patch, generator)
        correct = (critic(test_real * 2 - 1) > 0).sum() + (critic(test_fake * 2 - 1) <= 0).sum()
    return correct.item() / 512
