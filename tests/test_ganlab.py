"""The GAN lab: the theory the blocks must reproduce, and the toy runs users start with."""

import json
import re

import numpy as np
import pytest
import torch

from translate.cli import main
from translate.pipelines.ganlab import bilinear_game, fit_discriminator, optimal_discriminator


def gaussian(mean, std):
    density = lambda x: torch.exp(-((x - mean) ** 2) / (2 * std**2)) / (std * (2 * torch.pi) ** 0.5)  # noqa: E731
    sample = lambda n: mean + std * torch.randn(n, 1)  # noqa: E731
    return density, sample


def test_a_converged_discriminator_matches_p_data_over_p_data_plus_p_model():
    p_data, sample_data = gaussian(0.0, 1.0)
    p_model, sample_model = gaussian(1.5, 0.7)
    torch.manual_seed(0)
    discriminator = fit_discriminator(sample_data, sample_model, steps=1500)
    grid = torch.linspace(-2.0, 3.0, 201).view(-1, 1)  # where both densities have mass
    with torch.no_grad():
        learned = torch.sigmoid(discriminator(grid))
    error = (learned - optimal_discriminator(p_data, p_model)(grid)).abs().max().item()
    assert error <= 0.05


def test_simultaneous_gradient_steps_on_xy_spiral_outward():
    radii = bilinear_game("simultaneous", steps=200, lr=0.1)
    assert radii[-1] > 2 * radii[0]
    assert radii[1] == pytest.approx(radii[0] * (1 + 0.1**2) ** 0.5)  # × √(1 + η²) each step


@pytest.mark.parametrize("method", ["alternating", "extragradient"])
def test_alternating_and_extragradient_steps_do_not_grow(method):
    radii = bilinear_game(method, steps=2000, lr=0.1)
    assert max(radii) < 1.2 * radii[0]
    if method == "extragradient":
        assert radii[-1] < 0.5 * radii[0]


def test_nonsaturating_with_wgan_gp_covers_the_ring(tmp_path, capsys):
    # The headline run: translate train ganlab --data ring8 --run R --steps 2000 --loss nonsaturating --gp wgan-gp
    run = tmp_path / "R"
    assert main(["train", "ganlab", "--data", "ring8", "--run", str(run), "--steps", "2000", "--loss", "nonsaturating",
                 "--gp", "wgan-gp", "--no-progress"]) == 0
    printed = capsys.readouterr()
    assert "modes_covered=" in printed.out
    assert "step 100/2000 " in printed.err and "s/step, about " in printed.err  # no bar: a line per log interval
    assert re.search(r"step 2000/2000 .*, about 0 s left\)", printed.err)  # the time left, at the last interval's pace
    assert main(["eval", str(run), "--data", "ring8", "--json"]) == 0
    printed = capsys.readouterr()
    metrics = json.loads(printed.out)  # stdout is the JSON line alone, ready for `| jq`
    assert metrics["modes_covered"] >= 7, metrics
    assert "modes_covered: " in printed.err


def test_a_collapsed_generator_scores_badly(tmp_path, capsys):
    run = tmp_path / "R"
    assert main(["train", "ganlab", "--data", "ring8", "--run", str(run), "--steps", "3", "--hidden", "8",
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--data", "ring8", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["modes_covered"] <= 2 and metrics["high_quality"] < 0.2


def test_infer_writes_samples_and_export_matches_onnxruntime(tmp_path, capsys):
    import onnxruntime

    import translate

    run = tmp_path / "R"
    assert main(["train", "ganlab", "--data", "gaussian1d", "--run", str(run), "--steps", "20", "--hidden", "16",
                 "--generator-norm", "batch", "--no-progress"]) == 0
    assert main(["infer", str(run), "500", "--out", str(tmp_path / "out")]) == 0
    rows = (tmp_path / "out" / "samples.csv").read_text().splitlines()
    assert len(rows) == 500 and len(rows[0].split(",")) == 1
    assert (tmp_path / "out" / "samples.png").is_file()
    assert main(["export", str(run), "--onnx", str(tmp_path / "g.onnx")]) == 0
    session = onnxruntime.InferenceSession(str(tmp_path / "g.onnx"))
    z = np.random.default_rng(0).standard_normal((9, 2)).astype(np.float32)
    expected = translate.load(run)(torch.from_numpy(z)).detach().numpy()
    assert np.abs(session.run(None, {"input": z})[0] - expected).max() <= 1e-4


def test_virtual_batch_norm_generator_trains_and_reloads(tmp_path):
    import translate

    run = tmp_path / "R"
    assert main(["train", "ganlab", "--data", "ring8", "--run", str(run), "--steps", "5", "--hidden", "16",
                 "--generator-norm", "virtual", "--minibatch-discrimination", "--feature-matching",
                 "--spectral-norm", "--no-progress"]) == 0
    generator = translate.load(run)
    z = torch.randn(3, 2)
    assert torch.allclose(generator(z), torch.cat([generator(z[i : i + 1]) for i in range(3)]), atol=1e-6)


def test_bad_inputs_to_infer_and_eval_give_one_line_errors(tmp_path, capsys):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    assert main(["infer", str(broken), "3", "--out", str(tmp_path)]) == 2
    assert main(["eval", "no-such-weights", "--data", "ring8"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and "broken.pt" in errors[0] and "no-such-weights" in errors[1]

