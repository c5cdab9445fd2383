"""The data layer: every image file becomes the same RGB array, and bad files say which and why."""

import numpy as np
import pytest
import torch
from PIL import Image

from translate.data.images import list_images, read_image
from translate.data.sampling import ShardedBatchSampler
from translate.data.transforms import apply_seeded, paired_transform
from translate.errors import ImageReadError, UserError

RGB = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tiff", ".webp"])
def test_lossless_formats_read_back_exactly(tmp_path, suffix):
    path = tmp_path / f"image{suffix}"
    Image.fromarray(RGB).save(path, **({"lossless": True} if suffix == ".webp" else {}))
    assert np.array_equal(read_image(path), RGB)


def test_jpeg_reads_as_rgb_uint8(tmp_path):
    Image.fromarray(RGB).save(tmp_path / "a.jpg", quality=95)
    image = read_image(tmp_path / "a.jpg")
    assert image.shape == (12, 16, 3) and image.dtype == np.uint8


def test_grayscale_becomes_three_equal_channels_unless_kept(tmp_path):
    Image.fromarray(RGB[..., 0]).save(tmp_path / "g.png")
    image = read_image(tmp_path / "g.png")
    assert image.shape == (12, 16, 3) and np.array_equal(image[..., 0], image[..., 2])
    assert read_image(tmp_path / "g.png", keep_gray=True).shape == (12, 16, 1)


def test_rgba_is_composited_on_the_background(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:2, :, 3] = 255  # top half opaque red, bottom transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    image = read_image(tmp_path / "a.png")
    assert image[0, 0].tolist() == [255, 0, 0] and image[3, 3].tolist() == [255, 255, 255]
    assert read_image(tmp_path / "a.png", alpha_background=(0, 0, 0))[3, 3].tolist() == [0, 0, 0]


def test_palette_image_expands_to_its_colours(tmp_path):
    palette_image = Image.fromarray(RGB).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    palette_image.save(tmp_path / "p.png")
    assert np.array_equal(read_image(tmp_path / "p.png"), np.asarray(palette_image.convert("RGB")))


def test_sixteen_bit_gray_and_colour_scale_to_eight_bits(tmp_path):
    import cv2

    gray16 = (RGB[..., 0].astype(np.uint16) * 257)
    Image.fromarray(gray16).save(tmp_path / "g16.png")
    assert np.array_equal(read_image(tmp_path / "g16.png")[..., 0], RGB[..., 0])
    cv2.imwrite(str(tmp_path / "c16.png"), (RGB[..., ::-1].astype(np.uint16) * 257))
    cv2.imwrite(str(tmp_path / "c16.tif"), (RGB[..., ::-1].astype(np.uint16) * 257))
    assert np.array_equal(read_image(tmp_path / "c16.png"), RGB)
    assert np.array_equal(read_image(tmp_path / "c16.tif"), RGB)


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    Image.fromarray(RGB).save(tmp_path / "r.jpg", exif=exif)
    assert read_image(tmp_path / "r.jpg").shape == (16, 12, 3)


@pytest.mark.parametrize("content, message", [(b"", "empty"), (b"\x89PNG\r\n\x1a\n garbage", "not a readable image"),
                                              (b"hello", "not a readable image")])
def test_broken_files_raise_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=message) as error:
        read_image(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_truncated_jpeg_is_reported(tmp_path):
    Image.fromarray(np.tile(RGB, (20, 20, 1))).save(tmp_path / "t.jpg")
    data = (tmp_path / "t.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageReadError, match="t.jpg"):
        read_image(tmp_path / "t.jpg")


def test_missing_file_and_folders_have_clear_errors(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(UserError, match="no such folder"):
        list_images(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(UserError, match="no images found"):
        list_images(tmp_path)


def test_list_images_is_sorted_and_filters_by_extension(tmp_path):
    for name in ("b.PNG", "a.jpg", "c.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG"]


def test_paired_transform_crops_and_flips_both_images_identically():
    transform = paired_transform("resize_and_crop", load_size=40, crop_size=32)
    a = np.random.default_rng(1).integers(0, 256, (30, 30, 3), dtype=np.uint8)
    for seed in range(10):
        out = apply_seeded(transform, seed, image=a, target=a.copy())
        assert out["image"].shape == (32, 32, 3) and np.array_equal(out["image"], out["target"])
    first = apply_seeded(transform, 3, image=a, target=a)["image"]
    assert np.array_equal(first, apply_seeded(transform, 3, image=a, target=a)["image"])


def test_modes_without_a_crop_pad_to_the_generators_multiple():
    image = np.arange(30 * 50 * 3, dtype=np.uint8).reshape(30, 50, 3)
    for mode in ("none", "scale_width"):
        out = apply_seeded(paired_transform(mode, load_size=50, flip=False, multiple=16), 0, image=image,
                           target=image)
        assert out["image"].shape == out["target"].shape == (32, 64, 3)
        assert np.array_equal(out["image"][:30, :50], image)  # padded at the bottom and right, as inference does


def test_scale_width_keeps_the_aspect_ratio():
    out = apply_seeded(paired_transform("scale_width", load_size=64, flip=False), 0,
                       image=np.zeros((50, 100, 3), np.uint8), target=np.zeros((50, 100, 3), np.uint8))
    assert out["image"].shape == (32, 64, 3)


def test_sampler_resumes_exactly_where_it_stopped():
    def take(sampler, n):
        iterator = iter(sampler)
        return [next(iterator) for _ in range(n)]

    full = take(ShardedBatchSampler(10, 3, seed=5), 12)
    assert take(ShardedBatchSampler(10, 3, seed=5, start=7), 5) == full[7:]
    assert len({k.seed for batch in full for k in batch}) == 36  # a fresh augmentation seed per sample


def test_sampler_shards_each_epoch_across_ranks_without_overlap():
    ranks = [next(iter(ShardedBatchSampler(8, 2, seed=1, rank=r, world_size=4))) for r in range(4)]
    indices = [k.index for batch in ranks for k in batch]
    assert sorted(indices) == list(range(8))


def test_tiny_dataset_still_fills_a_batch():
    batch = next(iter(ShardedBatchSampler(2, 5)))
    assert len(batch) == 5 and {k.index for k in batch} == {0, 1}


def test_toy_distributions_and_mode_statistics():
    from translate.data.toy import mode_statistics, toy_distribution

    ring = toy_distribution("ring8")
    perfect = mode_statistics(ring.sample(2500, torch.Generator().manual_seed(0)), ring)
    assert perfect["modes_covered"] == 8 and perfect["high_quality"] > 0.98
    collapsed = mode_statistics(ring.mode_tensor()[:1].repeat(2500, 1), ring)
    assert collapsed["modes_covered"] == 1
    with pytest.raises(UserError, match="ring8"):
        toy_distribution("spiral")
