"""pix2pix end to end on tiny networks and synthetic pairs: train, resume, infer any size, evaluate."""

import json

import numpy as np
import pytest
from PIL import Image

from translate.cli import main

TINY = ["--generator", "unet_128", "--ngf", "4", "--ndf", "4", "--load-size", "136", "--crop-size", "128",
        "--workers", "0", "--no-progress", "--sample-every", "2", "--log-every", "1"]


@pytest.fixture
def pairs(tmp_path):
    """A toy paired set: A is a shape mask, B the same shape in colour, side by side."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 4), ("val", 2)):
        (tmp_path / split).mkdir()
        for i in range(count):
            a = np.zeros((96, 96, 3), np.uint8)
            x, y = rng.integers(10, 60, 2)
            a[y : y + 30, x : x + 30] = 255
            b = np.where(a > 0, np.array([200, 60, 20], np.uint8), np.array([30, 30, 90], np.uint8))
            Image.fromarray(np.concatenate([a, b], 1)).save(tmp_path / split / f"{i}.png")
    return tmp_path


def test_train_resume_infer_any_size_and_eval(pairs, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "pix2pix", "--data", str(pairs), "--run", str(run), "--steps", "4", "--stop-at", "2",
                 *TINY]) == 0
    assert main(["train", "--resume", str(run)]) == 0
    assert (run / "samples" / "step_00000004.png").is_file()
    Image.fromarray(np.zeros((200, 300, 3), np.uint8)).save(tmp_path / "some_300x200.png")
    assert main(["infer", str(run), str(tmp_path / "some_300x200.png"), "--out", str(tmp_path / "out")]) == 0
    assert Image.open(tmp_path / "out" / "some_300x200.png").size == (300, 200)
    assert main(["infer", str(run), str(tmp_path / "some_300x200.png"), "--out", str(tmp_path / "small"),
                 "--max-side", "150"]) == 0
    assert Image.open(tmp_path / "small" / "some_300x200.png").size == (150, 100)
    outputs = []
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "n.png")
    for seed in ("1", "2"):  # test-time dropout: a different sample for each seed
        assert main(["infer", str(run), str(tmp_path / "n.png"), "--out", str(tmp_path / seed),
                     "--test-dropout", "--seed", seed]) == 0
        outputs.append(np.asarray(Image.open(tmp_path / seed / "n.png")))
    assert not np.array_equal(*outputs)
    # a folder stands for its images; an option for another pipeline is refused, not ignored
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("b.png", "a.jpg"):
        Image.fromarray(np.zeros((40, 52, 3), np.uint8)).save(photos / name)
    capsys.readouterr()
    assert main(["infer", str(run), str(photos), "--out", str(tmp_path / "folder")]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "folder" / name) for name in ("a.png", "b.png")]
    assert main(["infer", str(run), str(photos), "--out", str(tmp_path / "x"), "--direction", "BtoA"]) == 2
    assert "--direction does not apply to pix2pix weights" in capsys.readouterr().err
    Image.fromarray(np.zeros((40, 52, 3), np.uint8)).save(photos / "a.png")  # a.jpg's output name
    assert main(["infer", str(run), str(photos), "--out", str(tmp_path / "y")]) == 2
    assert f"{photos / 'a.jpg'} and {photos / 'a.png'} would both be written as a*.png" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()  # refused before anything was written
    assert main(["eval", str(run), "--data", str(pairs), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["pairs"] == 2 and 0 <= metrics["l1"] <= 1 and metrics["psnr"] > 0 and -1 <= metrics["ssim"] <= 1
    # one pair and no train/ beside it: no target of its own to average (the baseline once scored PSNR Infinity,
    # which is not JSON)
    (tmp_path / "alone" / "val").mkdir(parents=True)
    (pairs / "val" / "0.png").rename(tmp_path / "alone" / "val" / "0.png")
    assert main(["eval", str(run), "--data", str(tmp_path / "alone"), "--json", "--critic-steps", "0"]) == 0
    metrics = json.loads(capsys.readouterr().out, parse_constant=lambda constant: pytest.fail(f"{constant} in JSON"))
    assert metrics["pairs"] == 1 and "baseline_mean_target_psnr" not in metrics and metrics["baseline_input_psnr"] > 0


def test_a_to_b_folders_and_b_to_a_train(tmp_path):
    for side in "AB":
        (tmp_path / "data" / side).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((64, 64, 3), 40 * i + (100 if side == "B" else 0), np.uint8)).save(
                tmp_path / "data" / side / f"{i}.png")
    assert main(["train", "pix2pix", "--data", str(tmp_path / "data"), "--run", str(tmp_path / "run"), "--steps", "2",
                 "--direction", "BtoA", "--discriminator", "pixel", "--loss", "lsgan", "--gp", "r1", *TINY]) == 0


def test_fine_tuning_takes_the_architecture_from_the_init_weights(pairs, tmp_path, capsys):
    first = tmp_path / "first"
    assert main(["train", "pix2pix", "--data", str(pairs), "--run", str(first), "--steps", "1", *TINY]) == 0
    plain = ["--load-size", "136", "--crop-size", "128", "--workers", "0", "--no-progress"]  # no architecture flags
    capsys.readouterr()
    assert main(["train", "pix2pix", "--data", str(pairs), "--init", str(first), "--run",
                 str(tmp_path / "tuned"), "--steps", "1", *plain]) == 0
    said = capsys.readouterr().err
    assert "its architecture, where the command line does not say: generator=unet_128 ngf=4 ndf=4" in said
    options = json.loads((tmp_path / "tuned" / "options.json").read_text())["options"]
    assert (options["generator"], options["ngf"], options["ndf"]) == ("unet_128", 4, 4)
    # what the command line says wins, and a mismatch is one line that says what to do
    assert main(["train", "pix2pix", "--data", str(pairs), "--init", str(first), "--run",
                 str(tmp_path / "wider"), "--steps", "1", "--ngf", "8", *plain]) == 2
    assert "leave the architecture options off the command line" in capsys.readouterr().err


def test_preprocess_none_pads_images_to_what_the_u_net_fits(pairs, tmp_path):
    # 96×96 pairs and a U-Net that needs multiples of 128: padded as at inference, not a size error
    assert main(["train", "pix2pix", "--data", str(pairs), "--run", str(tmp_path / "run"), "--steps", "2",
                 "--preprocess", "none", "--batch-size", "2", *TINY]) == 0
