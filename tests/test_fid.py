"""FID/KID: the distances against closed forms, and loading local Inception-v3 files of both layouts
(random weights made here: no real Inception file may be downloaded in tests)."""

import json

import pytest
import torch
import torch.nn.functional as F

from translate.cli import main
from translate.errors import UserError
from translate.fid import (_ExcludePaddingFromAverage, _MaxPoolBranch, frechet_distance,
                           frechet_distance_from_statistics, inception_features, kernel_inception_distance,
                           load_inception)
from tests.test_cyclegan import TINY as CYCLE_TINY
from tests.test_cyclegan import unpaired  # noqa: F401  (a fixture)
from tests.test_pix2pix import TINY, pairs  # noqa: F401  (a fixture)


@pytest.fixture(scope="module")
def inception_files(tmp_path_factory):
    """torchvision's layout (1000 classes, aux head) and pytorch-fid's (1008 classes, no aux head)."""
    from torchvision.models import inception_v3

    folder = tmp_path_factory.mktemp("inception")
    torch.manual_seed(0)
    torch.save(inception_v3(weights=None, init_weights=False).state_dict(), folder / "inception_v3_google.pth")
    torch.save(inception_v3(weights=None, init_weights=False, aux_logits=False, num_classes=1008).state_dict(),
               folder / "pt_inception-2015-12-05.pth")
    return folder / "inception_v3_google.pth", folder / "pt_inception-2015-12-05.pth"


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    mean_a, mean_b = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    var_a, var_b = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([4.0, 1.0, 0.25])
    expected = ((mean_a - mean_b) ** 2).sum() + (var_a + var_b - 2 * (var_a * var_b).sqrt()).sum()
    assert frechet_distance_from_statistics(mean_a, torch.diag(var_a), mean_b, torch.diag(var_b)) == \
        pytest.approx(float(expected), abs=1e-9)


def test_distances_are_near_zero_for_one_distribution_and_grow_with_a_shift():
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(400, 8, generator=generator, dtype=torch.float64) for _ in range(2))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(a, b) < 0.2 < frechet_distance(a, b + 1.0)
    same, same_spread = kernel_inception_distance(a, b, subsets=20, subset_size=200)
    shifted, _ = kernel_inception_distance(a, b + 1.0, subsets=20, subset_size=200)
    assert abs(same) < 3 * same_spread + 1e-3 and shifted > 10 * abs(same)


def test_fid_network_pooling_wrappers_equal_the_pools_they_stand_for():
    x = torch.randn(2, 5, 9, 7)
    identity = torch.nn.Identity()
    padded_average = F.avg_pool2d(x, 3, stride=1, padding=1)
    assert torch.allclose(_ExcludePaddingFromAverage(identity)(padded_average),
                          F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False), atol=1e-6)
    block = torch.nn.Sequential()
    branch = _MaxPoolBranch(identity, block)
    block(x)  # the pre-hook keeps the block's input
    assert torch.equal(branch(padded_average), F.max_pool2d(x, 3, stride=1, padding=1))


def test_both_inception_layouts_load_strictly_and_give_2048_features(inception_files):
    images = [torch.rand(3, 40, 56) for _ in range(3)]
    for path in inception_files:
        features = inception_features(load_inception(path), images)
        assert features.shape == (3, 2048) and torch.isfinite(features).all()


def test_bad_inception_files_get_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        load_inception(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="not a readable"):
        load_inception(tmp_path / "junk.pth")
    torch.save({"weight": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(UserError, match="not an Inception-v3"):
        load_inception(tmp_path / "other.pth")


def test_pix2pix_eval_reports_fid_and_kid(inception_files, pairs, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "pix2pix", "--data", str(pairs), "--run", str(run), "--steps", "1", *TINY]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(pairs), "--json", "--critic-steps", "0",
                 "--inception", str(inception_files[1])]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["fid"] >= 0 and "kid" in metrics and metrics["kid_std"] >= 0


def test_cyclegan_eval_reports_fid_and_kid_for_a_to_b(inception_files, unpaired, tmp_path, capsys):
    run = tmp_path / "cg"
    assert main(["train", "cyclegan", "--data", str(unpaired), "--run", str(run), "--steps", "1", *CYCLE_TINY]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(unpaired / "val"), "--json", "--critic-steps", "0",
                 "--inception", str(inception_files[0])]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["AtoB_fid"] >= 0 and "AtoB_kid" in metrics and "BtoA_label_accuracy" in metrics
