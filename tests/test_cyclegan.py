"""CycleGAN on tiny networks and synthetic unpaired folders: data, train, resume, both directions, eval."""

import json

import numpy as np
import pytest
from PIL import Image

from translate.cli import main
from translate.data.sampling import SampleKey
from translate.data.unpaired import UnpairedImages
from translate.errors import UserError
from translate.pipelines.cyclegan import LABEL_PALETTE, label_accuracy

TINY = ["--generator", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--load-size", "36", "--crop-size", "32",
        "--workers", "0", "--no-progress", "--log-every", "1", "--sample-every", "2", "--pool-size", "2"]


def _label_map(rng, size=48):
    image = np.zeros((size, size, 3), np.uint8)
    x, y = rng.integers(4, size - 20, 2)
    image[y:y + 16, x:x + 16] = LABEL_PALETTE[1]
    image[y:y + 16, x:x + 2] = LABEL_PALETTE[2]
    return image


@pytest.fixture
def unpaired(tmp_path):
    """trainA: label maps (one gray, one RGBA, odd sizes); trainB: 'atlas' tiles; val: aligned pairs."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for folder in ("trainA", "trainB", "val"):
        (root / folder).mkdir(parents=True)
    for i in range(3):
        Image.fromarray(_label_map(rng)).save(root / "trainA" / f"{i}.png")
    Image.fromarray(_label_map(rng, 40)[..., 0]).save(root / "trainA" / "gray.png")
    Image.fromarray(np.dstack([_label_map(rng, 50), np.full((50, 50), 255, np.uint8)])).save(root / "trainA" / "rgba.png")
    for i in range(5):
        Image.fromarray(rng.integers(150, 230, (48 + i, 48, 3), dtype=np.uint8)).save(root / "trainB" / f"{i}.jpg")
    for i in range(2):
        a = _label_map(rng)
        b = np.where(a.sum(2, keepdims=True) > 0, 120, 210).astype(np.uint8).repeat(3, 2)
        Image.fromarray(np.concatenate([a, b], 1)).save(root / "val" / f"{i}.png")
    return root


def test_each_side_is_augmented_on_its_own(unpaired):
    data = UnpairedImages(unpaired, crop_size=32, load_size=36)
    assert len(data) == 5  # the larger side
    sample = data[SampleKey(0, 3)]
    assert sample["A"].shape == sample["B"].shape == (3, 32, 32)
    serial = UnpairedImages(unpaired, serial=True, crop_size=32, load_size=36)
    assert serial.files_b[6 % 5] == serial.files_b[1]


def test_an_empty_side_is_a_clear_error(tmp_path):
    (tmp_path / "trainA").mkdir()
    (tmp_path / "trainB").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "trainA" / "x.png")
    with pytest.raises(UserError, match="no domain B images found"):
        UnpairedImages(tmp_path)
    with pytest.raises(UserError, match="--data-b"):
        UnpairedImages(tmp_path / "trainA")


def test_a_broken_image_read_by_a_worker_process_is_one_line(unpaired, tmp_path, capsys):
    """torch re-raises a worker's error with the worker's traceback as its message; the user sees only ours."""
    (unpaired / "trainB" / "3.jpg").write_bytes(b"not a jpeg")
    options = [*TINY, "--workers", "2", "--steps", "5", "--batch-size", "5"]  # the last --workers wins
    assert main(["train", "cyclegan", "--data", str(unpaired), "--run", str(tmp_path / "run"), *options]) == 2
    stderr = capsys.readouterr().err
    error = stderr.strip().splitlines()[-1]
    assert "Traceback" not in stderr
    assert error.startswith("error: ") and (f"not a readable image (cannot identify image file "
                                            f"'{unpaired / 'trainB' / '3.jpg'}'); re-save it as PNG or JPEG, "
                                            "or remove it") in error


def test_preprocess_none_trains_on_mixed_sizes_one_image_at_a_time(unpaired, tmp_path, capsys):
    """Each image keeps its size, padded to the generator's multiple; the image pool and the sample grid
    take images of several sizes; a batch of several sizes is refused in one line."""
    run = tmp_path / "run"
    assert main(["train", "cyclegan", "--data", str(unpaired), "--run", str(run), "--steps", "8", "--preprocess",
                 "none", *TINY]) == 0
    assert (run / "samples" / "step_00000008.png").is_file()
    capsys.readouterr()
    assert main(["train", "cyclegan", "--data", str(unpaired), "--run", str(tmp_path / "batched"), "--steps", "4",
                 "--preprocess", "none", "--batch-size", "5", *TINY]) == 2
    assert "a batch mixes image sizes" in capsys.readouterr().err


def test_train_resume_both_directions_and_eval(unpaired, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "cyclegan", "--data", str(unpaired), "--run", str(run), "--steps", "4", "--stop-at", "2",
                 *TINY]) == 0
    assert main(["train", "--resume", str(run)]) == 0
    assert (run / "samples" / "step_00000004.png").is_file()
    Image.fromarray(np.zeros((30, 45, 3), np.uint8)).save(tmp_path / "odd.png")
    for direction in ("AtoB", "BtoA"):
        assert main(["infer", str(run), str(tmp_path / "odd.png"), "--out", str(tmp_path / "out"),
                     "--direction", direction]) == 0
        assert Image.open(tmp_path / "out" / f"odd_{direction}.png").size == (45, 30)
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(unpaired / "val"), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["pairs"] == 2 and 0 <= metrics["BtoA_label_accuracy"] <= 1 and metrics["AtoB_psnr"] > 0
    assert 0 < metrics["baseline_all_ground_label_accuracy"] < 1  # synthetic maps hold ground and footprints


def test_two_folders_and_fine_tuning_from_a_run(unpaired, tmp_path):
    first = tmp_path / "first"
    assert main(["train", "cyclegan", "--data", str(unpaired), "--run", str(first), "--steps", "1", *TINY]) == 0
    from apps.cyclegan_app import demo, translate_both_ways

    translated, reconstructed = translate_both_ways(np.zeros((30, 41), np.uint8), "BtoA", str(first))
    assert translated.shape == reconstructed.shape == (30, 41, 3)
    assert demo(str(first)) is not None
    assert main(["train", "cyclegan", "--data", str(unpaired / "trainA"), "--data-b", str(unpaired / "trainB"),
                 "--init", str(first), "--run", str(tmp_path / "tuned"), "--steps", "1", "--serial", *TINY]) == 0


def test_label_accuracy_counts_palette_classes():
    rng = np.random.default_rng(1)
    truth = _label_map(rng)
    assert label_accuracy(truth, truth) == 1.0
    swapped = truth.copy()
    ground, footprint = (truth == 0).all(2), (truth == LABEL_PALETTE[1]).all(2)
    swapped[ground], swapped[footprint] = LABEL_PALETTE[1], 0
    assert label_accuracy(swapped, truth) == pytest.approx(1 - ground.mean() - footprint.mean())
