"""Paired data for pix2pix: both layouts, both directions, identical augmentation, clear errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from translate.data.paired import PairedImages, find_pairs, is_blank, read_pair
from translate.data.sampling import SampleKey
from translate.errors import UserError


def gradient(h, w, channel):
    image = np.zeros((h, w, 3), np.uint8)
    image[..., channel] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    return image


@pytest.fixture
def aligned(tmp_path):
    (tmp_path / "train").mkdir()
    for i in range(3):
        a, b = gradient(32, 32, 0), gradient(32, 32, 2)
        a[0, 0] = i  # tell the files apart
        Image.fromarray(np.concatenate([a, b], 1)).save(tmp_path / "train" / f"{i}.png")
    return tmp_path


def test_aligned_pairs_split_into_halves_in_either_direction(aligned):
    source = find_pairs(aligned)[0]
    a, b = read_pair(source)
    assert a.shape == b.shape == (32, 32, 3) and a[..., 0].max() == 255 and b[..., 2].max() == 255
    b_first, a_second = read_pair(source, "BtoA")
    assert np.array_equal(b_first, b) and np.array_equal(a_second, a)


def test_a_and_b_folders_are_matched_by_name(tmp_path):
    for side in "AB":
        (tmp_path / side).mkdir()
        for name in ("x", "y"):
            Image.fromarray(gradient(8, 8, 0)).save(tmp_path / side / f"{name}.{'png' if side == 'A' else 'jpg'}")
    assert [s.name for s in find_pairs(tmp_path)] == ["x", "y"]
    Image.fromarray(gradient(8, 8, 0)).save(tmp_path / "A" / "lonely.png")
    with pytest.raises(UserError, match=r"1 file has no partner of the same name \(A/lonely\); rename or remove it$"):
        find_pairs(tmp_path)
    with pytest.raises(UserError, match="lonely.png: is a file \\(expected a folder of aligned"):
        find_pairs(tmp_path / "A" / "lonely.png")


def test_dataset_crops_and_flips_the_pair_identically(aligned):
    dataset = PairedImages(aligned, load_size=40, crop_size=24)
    for seed in range(8):
        sample = dataset[SampleKey(1, seed)]
        assert sample["A"].shape == sample["B"].shape == (3, 24, 24)
        # A's red ramp and B's blue ramp must have been flipped together
        assert torch.equal(sample["A"][0].argmax(1), sample["B"][2].argmax(1))


def test_blank_inputs_can_be_skipped(tmp_path):
    (tmp_path / "A").mkdir(), (tmp_path / "B").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "A" / "blank.png")
    Image.fromarray(gradient(8, 8, 1)).save(tmp_path / "A" / "drawn.png")
    for name in ("blank", "drawn"):
        Image.fromarray(gradient(8, 8, 0)).save(tmp_path / "B" / f"{name}.png")
    dataset = PairedImages(tmp_path, skip_blank_inputs=True, load_size=8, crop_size=8)
    assert [s.name for s in dataset.sources] == ["drawn"] and [s.name for s in dataset.skipped] == ["blank"]
    assert is_blank(np.full((4, 4, 3), 7, np.uint8)) and not is_blank(gradient(4, 4, 0))


def test_mismatched_sizes_are_resized_or_reported(tmp_path):
    (tmp_path / "A").mkdir(), (tmp_path / "B").mkdir()
    Image.fromarray(gradient(16, 16, 0)).save(tmp_path / "A" / "p.png")
    Image.fromarray(gradient(20, 24, 0)).save(tmp_path / "B" / "p.png")
    assert PairedImages(tmp_path, load_size=16, crop_size=16)[0]["B"].shape == (3, 16, 16)
    with pytest.raises(UserError, match="differ in size"):
        PairedImages(tmp_path, preprocess="none")[0]


def test_odd_width_aligned_file_is_reported(tmp_path):
    Image.fromarray(gradient(8, 9, 0)).save(tmp_path / "odd.png")
    with pytest.raises(UserError, match="even width"):
        read_pair(find_pairs(tmp_path)[0])


def test_brooklyn1887_train_split_is_read_in_place(shared):
    root = shared / "datasets" / "brooklyn1887"
    if not root.is_dir():
        pytest.skip("brooklyn1887 is not in ../shared/datasets")
    dataset = PairedImages(root)
    assert len(dataset) == 241
    sample = dataset[SampleKey(0, 0)]
    assert sample["A"].shape == (3, 256, 256) and -1 <= sample["A"].min() and sample["B"].max() <= 1
