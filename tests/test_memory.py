"""Whole-image translation and memory: the need is measured, an image too big is refused with what would fit."""

import numpy as np
import pytest
import torch
from PIL import Image

from translate import memory
from translate.errors import UserError
from translate.pipelines.pix2pix import Pix2PixOptions, build_generator, translate_files


def test_live_tensor_bytes_counts_what_is_alive_at_once():
    with memory.LiveTensorBytes() as tracker:
        first = torch.zeros(1000)  # 4000 bytes
        second = first + 1
        view = second[:10]  # a view shares its storage: no new bytes
        del first, second
        third = view * 2  # 40 bytes, while the 4000 of second are held by the view
    assert tracker.peak == 8000 and tracker.alive == 4040
    del view, third


def test_the_measured_need_covers_the_largest_activation():
    generator = build_generator(Pix2PixOptions(generator="resnet_6blocks", ngf=8, norm="instance")).eval()
    # the first convolution's output alone: 8 channels of float32 per pixel
    assert memory.bytes_per_pixel(generator) > 8 * 4 * memory.UNTRACKED_FACTOR


def _generator_and_big_image(tmp_path):
    generator = build_generator(Pix2PixOptions(generator="unet_128", ngf=4)).eval()
    Image.fromarray(np.zeros((1100, 1000, 3), np.uint8)).save(tmp_path / "big.png")  # above the 1 MP check
    return generator, tmp_path / "big.png"


def test_an_image_too_big_for_free_memory_is_refused_with_the_side_that_fits(tmp_path, monkeypatch):
    generator, big = _generator_and_big_image(tmp_path)
    need = memory.bytes_per_pixel(generator) * 1100 * 1000
    monkeypatch.setattr(memory, "free_bytes", lambda device: int(need / 4))
    with pytest.raises(UserError, match=r"big.png: translating 1000×1100 at once needs about .* add --max-side (\d+)"
                       ) as refused:
        translate_files(generator, [str(big)], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    side = int(refused.value.args[0].split("--max-side ")[1].split()[0])
    assert 128 <= side < 1100 and side % 128 == 0
    written = translate_files(generator, [str(big)], tmp_path / "out", max_side=side)
    assert max(Image.open(written[0]).size) == side


def test_running_out_of_memory_midway_says_the_same(tmp_path, monkeypatch):
    generator, big = _generator_and_big_image(tmp_path)
    memory.bytes_per_pixel(generator)  # measured on its small probe
    monkeypatch.setattr(memory, "free_bytes", lambda device: 10**12)  # the estimate lets it through...

    def allocator_refuses(*_):  # ...and the CPU allocator does not
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:118] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr("translate.pipelines.pix2pix.translate_image", allocator_refuses)
    with pytest.raises(UserError, match="add --max-side"):
        translate_files(generator, [str(big)], tmp_path / "out")


def test_evaluation_on_pairs_too_big_says_so_before_translating(tmp_path, monkeypatch):
    from torch import nn

    from translate.pipelines.pix2pix import Pix2Pix

    options = Pix2PixOptions(generator="unet_128", ngf=4)
    (tmp_path / "val").mkdir()
    Image.fromarray(np.zeros((1100, 2000, 3), np.uint8)).save(tmp_path / "val" / "wide.png")  # A|B, 1000×1100 each
    monkeypatch.setattr(memory, "free_bytes", lambda device: 10**6)
    with pytest.raises(UserError, match="wide: translating 1000×1100 at once .* evaluate on smaller images"):
        Pix2Pix.evaluate(nn.ModuleDict({"G": build_generator(options).eval()}), options, str(tmp_path), critic_steps=0)
