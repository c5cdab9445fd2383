"""Semi-supervised GAN on tiny synthetic data: IDX reading, the labelled subset, train/resume/eval, folders."""

import gzip
import json
import struct

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from translate.cli import main
from translate.data.classes import balanced_subset, load_class_names, load_mnist, read_idx
from translate.errors import UserError

TINY = ["--batch-size", "10", "--no-progress", "--log-every", "1", "--sample-every", "2", "--labels", "20"]


def _write_idx(path, array, compress):
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)


@pytest.fixture
def mnist(tmp_path):
    """A fake MNIST in raw/: class k is a bright bar at row 2k + 4 (train .gz, test uncompressed)."""
    raw = tmp_path / "mnist" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, count, compress in (("train", 120, True), ("t10k", 40, False)):
        labels = np.arange(count) % 10
        images = rng.integers(0, 40, (count, 28, 28))
        for image, label in zip(images, labels):
            image[2 * label + 4, 4:24] = 250
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images, compress)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, compress)
    return tmp_path / "mnist"


def test_idx_files_read_back_and_a_broken_one_is_named(mnist, tmp_path):
    images, labels = load_mnist(mnist, "test")
    assert images.shape == (40, 28, 28) and labels[:3].tolist() == [0, 1, 2]
    (tmp_path / "bad-idx").write_bytes(b"\x00\x00\x0d\x01junk")
    with pytest.raises(UserError, match="bad-idx"):
        read_idx(tmp_path / "bad-idx")


def test_labelled_subset_is_balanced_and_fixed_by_its_seed():
    labels = np.arange(1000) % 10
    subset = balanced_subset(labels, 100, 10, seed=3)
    assert np.bincount(labels[subset]).tolist() == [10] * 10
    assert np.array_equal(subset, balanced_subset(labels, 100, 10, seed=3))
    assert not np.array_equal(subset, balanced_subset(labels, 100, 10, seed=4))
    with pytest.raises(UserError, match="multiple"):
        balanced_subset(labels, 15, 10, seed=0)
    # a class too small for the labels asked: the error names it and says how many labels fit
    few_cats = np.array([0] * 12 + [1] * 30)
    with pytest.raises(UserError, match=r"class 'cat' of pets/ has 12: use --labels 24 or fewer"):
        balanced_subset(few_cats, 30, 2, seed=0, class_names=["cat", "dog"], source="pets/")


def test_class_folders_that_are_missing_or_too_few_are_told_apart(tmp_path):
    with pytest.raises(UserError, match="nothere: no such folder"):
        load_class_names(tmp_path / "nothere")
    (tmp_path / "pets.zip").write_bytes(b"PK")
    with pytest.raises(UserError, match="pets.zip: is a file, not a folder"):
        load_class_names(tmp_path / "pets.zip")
    (tmp_path / "pets" / "cat").mkdir(parents=True)
    with pytest.raises(UserError, match="pets: expected one folder per class"):
        load_class_names(tmp_path / "pets")
    (tmp_path / "pets" / "dog").mkdir()
    assert load_class_names(tmp_path / "pets") == ["cat", "dog"]


def test_real_fake_terms_are_stable_and_match_the_definition():
    logits = torch.tensor([[1.0, -2.0, 0.5], [300.0, 2.0, -1.0]])
    log_z = torch.logsumexp(logits, 1)
    z = logits[0].exp().sum()
    assert F.softplus(-log_z)[0].item() == pytest.approx(-torch.log(z / (z + 1)).item(), rel=1e-5)  # −log D(x)
    assert torch.isfinite(F.softplus(log_z)).all() and torch.isfinite(F.softplus(-log_z)).all()


def test_consistency_term_compares_two_noisy_passes_of_the_discriminator():
    from translate.nn import MLPDiscriminator, consistency_loss

    torch.manual_seed(0)
    D, x = MLPDiscriminator(784, 10, (32, 16), 0.3, 0.5, True), torch.rand(8, 784)
    D.eval()
    assert consistency_loss(D(x), D(x)).item() == 0  # without its noise D's passes agree
    D.train()
    (logits_a, (features_a,)), (logits_b, (features_b,)) = D(x, return_features=True), D(x, return_features=True)
    loss = consistency_loss(logits_a, logits_b)
    assert loss.item() == pytest.approx((logits_a.softmax(1) - logits_b.softmax(1)).pow(2).mean().item()) and loss > 0
    assert consistency_loss(logits_a, logits_a + 5).item() < 1e-12  # compares class probabilities, not raw logits
    with_features = consistency_loss(logits_a, logits_b, features_a, features_b, feature_weight=0.1)
    assert with_features.item() == pytest.approx(loss.item() + 0.1 * (features_a - features_b).pow(2).mean().item())
    assert consistency_loss(logits_a, logits_b, margin=1.0).item() == 0  # hinge at CT-GAN's M'


def test_data_dependent_init_standardises_each_weight_normalised_layer():
    from translate.nn import MLPDiscriminator

    torch.manual_seed(0)
    network = MLPDiscriminator(64, 10, (32, 16), hidden_noise=0.5, weight_norm=True, activation="relu",
                               train_hidden_scale=False).train()
    x = torch.rand(500, 64) * 3
    network.initialise_from_data(x)
    first = network.body[0](x)  # the first layer sees no noise: its pre-activations are exactly standardised
    assert first.mean(0).abs().max() < 1e-4 and (first.std(0, correction=0) - 1).abs().max() < 1e-4
    hidden_scale = network.body[0].parametrizations.weight.original0
    assert not hidden_scale.requires_grad and network.head.parametrizations.weight.original0.requires_grad


def test_longer_directions_keep_the_weights_and_slow_adams_turn():
    from translate.nn import MLPDiscriminator

    def build(direction_std):
        torch.manual_seed(0)
        return MLPDiscriminator(64, 10, (32, 16), weight_norm=True, direction_std=direction_std).eval()

    default, lengthened, x = build(0.0), build(0.3), torch.rand(8, 64)
    assert torch.allclose(default(x), lengthened(x), atol=1e-6)  # the same function at init
    lengths = lengthened.body[0].parametrizations.weight.original1.norm(dim=1)
    assert torch.allclose(lengths, torch.full_like(lengths, 0.3 * 64**0.5))  # as if drawn from N(0, 0.3²): 2.4, not 0.58
    turned = []
    for network in (default, lengthened):  # one Adam step of the same size turns the longer direction less
        optimizer = torch.optim.Adam(network.parameters(), lr=0.01)
        before = network.body[0].weight.detach().clone()
        network(x).logsumexp(1).mean().backward()
        optimizer.step()
        turned.append((network.body[0].weight.detach() - before).norm().item())
    assert turned[1] < turned[0] / 2


def test_sample_score_rewards_confident_and_varied_samples_only():
    from translate.pipelines.semisup import sample_score

    assert sample_score(torch.eye(10).repeat(5, 1)) == pytest.approx(10, rel=1e-4)  # sure of each, all classes
    assert sample_score(torch.full((50, 10), 0.1)) == pytest.approx(1, rel=1e-4)  # the judge can't tell
    assert sample_score(torch.eye(10)[[3] * 50]) == pytest.approx(1, rel=1e-4)  # sure, but all one digit
    assert 1 < sample_score(torch.eye(10)[[3, 4] * 25]) == pytest.approx(2, rel=1e-4)


def test_every_batch_cycles_through_the_labelled_set(mnist):
    from translate.data.sampling import SampleKey
    from translate.pipelines.semisup import SemiSupervisedData

    images, labels = load_mnist(mnist, "train")
    labelled = balanced_subset(labels, 20, 10, seed=0)
    data = SemiSupervisedData(images, labels, labelled)
    batch = data.__getitems__([SampleKey(i, 100 + i) for i in range(40)])
    assert batch["x"].shape == (40, 1, 28, 28) and batch["x"].max() <= 1
    assert np.bincount(batch["yl"].numpy(), minlength=10).tolist() == [4] * 10  # each labelled image twice
    again = data.__getitems__([SampleKey(i, 100 + i) for i in range(40)])
    assert torch.equal(batch["xl"], again["xl"]) and torch.equal(batch["x2"], again["x2"])  # resumable


def test_train_resume_eval_and_sample(mnist, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "semisup", "--data", str(mnist), "--run", str(run), "--steps", "4", "--stop-at", "2",
                 *TINY]) == 0
    assert main(["train", "--resume", str(run)]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(mnist), "--json", "--baseline-steps", "5", "--judge-steps", "3"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["test_images"] == 40 and 0 <= metrics["test_errors"] <= 40
    assert len(metrics["per_class_accuracy"]) == 10 and "supervised_baseline_errors" in metrics
    assert len(metrics["hidden_activation_std"]) == 5 and all(s > 0 for s in metrics["hidden_activation_std"])
    confused = [int(line.split(": ")[1]) for line in metrics["top_confusions"]]
    assert confused == sorted(confused, reverse=True) and sum(confused) <= metrics["test_errors"]
    assert 1 <= metrics["sample_score"] <= 10 and metrics["samples_judged"] == 10000
    assert sum(metrics["sample_class_fractions"]) == pytest.approx(1, abs=1e-3) and 0 <= metrics["judge_test_errors"] <= 40
    assert main(["infer", str(run), "sample", "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "samples.png").is_file()
    capsys.readouterr()
    assert main(["train", "semisup", "--data", str(mnist), "--run", str(tmp_path / "ct"), "--steps", "2",
                 "--consistency-weight", "1", "--entropy-weight", "0.5", "--entropy-rampup", "0.5", *TINY]) == 0
    logged = capsys.readouterr().out
    assert "d_consistency=" in logged  # CT-GAN's term is trained and logged
    entropies = [float(word.split("=")[1]) for word in logged.split() if word.startswith("d_entropy=")]
    assert entropies and all(0 < h <= np.log(10) for h in entropies)  # of 10 real classes, in nats
    assert main(["train", "semisup", "--data", str(mnist), "--run", str(tmp_path / "mt"), "--steps", "2",
                 "--consistency-weight", "1", "--consistency-target", "ema", *TINY]) == 0
    assert "d_consistency=" in capsys.readouterr().out  # against the averaged D (Mean Teacher)
    assert main(["train", "semisup", "--data", str(mnist), "--run", str(tmp_path / "mt0"), "--steps", "2",
                 "--consistency-target", "ema", "--ema-decay", "0", *TINY]) == 2  # no average to be the teacher
    assert "--consistency-target ema compares D with its running average" in capsys.readouterr().err


def test_mean_teacher_target_is_a_noisy_pass_of_the_average_that_leaves_its_statistics_alone():
    from types import SimpleNamespace

    from translate.nn import ConvClassifier
    from translate.nn.tricks import exponential_moving_average
    from translate.pipelines.semisup import SemiSupervised

    torch.manual_seed(0)
    average = exponential_moving_average(ConvClassifier(3, 4, 8, 2, input_noise=0.3, dropout=0.2), 0.999).eval()
    pipeline = SimpleNamespace(_trainer=SimpleNamespace(ema={"D": average}))
    before = [buffer.clone() for buffer in average.module.buffers()]
    x = torch.rand(6, 3, 32, 32)
    first, second = (SemiSupervised._teacher_logits(pipeline, x) for _ in range(2))
    assert first.shape == (6, 4) and not torch.equal(first, second)  # the teacher's own noise is on
    assert not first.requires_grad and not average.module.training  # no gradient; the scoring copy stays in eval mode
    assert all(torch.equal(a, b) for a, b in zip(before, average.module.buffers()))  # batch norm's statistics kept


def test_entropy_weight_ramps_up_over_the_asked_fraction_of_the_run(mnist):
    from types import SimpleNamespace

    from translate.pipelines.semisup import SemiSupervised, SemiSupervisedOptions

    def weights(**changes):
        pipeline = SemiSupervised(SemiSupervisedOptions(labels=20, entropy_weight=0.1, **changes), str(mnist),
                                  torch.device("cpu"))
        pipeline._trainer = SimpleNamespace(total_steps=300)  # the length of the run is all the schedule reads
        return [pipeline.entropy_weight_at(step) for step in (0, 50, 99, 100, 299)]

    assert weights() == [0.1] * 5  # no ramp-up: the full weight from the first step
    ramped = weights(entropy_rampup=1 / 3)  # over the first 100 of 300 steps
    assert ramped[0] == pytest.approx(0.1 * np.exp(-5)) and ramped[1] == pytest.approx(0.1 * np.exp(-5 / 4))
    assert ramped[0] < ramped[1] < ramped[2] < 0.1 and ramped[3:] == [0.1, 0.1]
    assert weights(entropy_start=1 / 3) == [0, 0, 0, 0.1, 0.1]  # off for the first 100 of 300 steps

    def trained(name, *flags):
        assert main(["train", "semisup", "--data", str(mnist), "--run", str(mnist.parent / name), "--steps", "3",
                     *flags, *TINY]) == 0
        return torch.load(mnist.parent / name / "checkpoint.pt", weights_only=True)["networks"]["D"]

    # until its start the term is only logged: the run is the same as without it, so a late start can branch off one
    plain, not_started, started = (trained("plain"), trained("late", "--entropy-weight", "9", "--entropy-start", "1"),
                                   trained("on", "--entropy-weight", "9"))
    assert all(torch.equal(plain[key], not_started[key]) for key in plain)
    assert not all(torch.equal(plain[key], started[key]) for key in plain)
    assert main(["train", "semisup", "--data", str(mnist), "--run", str(mnist.parent / "r"), "--steps", "1",
                 "--entropy-weight", "0.1", "--entropy-rampup", "1.5", *TINY]) == 2  # a fraction of the run
    assert main(["train", "semisup", "--data", str(mnist), "--run", str(mnist.parent / "r"), "--steps", "1",
                 "--entropy-weight", "0.1", "--entropy-start", "-0.5", *TINY]) == 2


def test_relative_hidden_noise_reaches_every_hidden_noise_layer_and_is_saved(mnist):
    from translate.nn import GaussianNoise
    from translate.pipelines.semisup import SemiSupervisedOptions, build_networks

    discriminator, _ = build_networks(SemiSupervisedOptions(num_classes=10, relative_hidden_noise=0.3))
    noises = [module for module in discriminator.modules() if isinstance(module, GaussianNoise)]
    assert [(n.sigma, n.relative_sigma) for n in noises] == [(0.3, 0.0)] + [(0.5, 0.3)] * 5  # the input's stays absolute
    run = mnist.parent / "relative"
    assert main(["train", "semisup", "--data", str(mnist), "--run", str(run), "--steps", "2",
                 "--relative-hidden-noise", "0.3", *TINY]) == 0
    assert json.loads((run / "options.json").read_text())["options"]["relative_hidden_noise"] == 0.3
    assert main(["train", "semisup", "--data", str(mnist), "--run", str(mnist.parent / "r"), "--steps", "1",
                 "--relative-hidden-noise", "-0.3", *TINY]) == 2


def test_a_run_saved_before_the_added_terms_resumes_without_them():
    from translate.pipelines.semisup import SemiSupervisedOptions
    from translate.train.options import from_dict

    assert SemiSupervisedOptions().consistency_weight is None  # auto since 2026-12-04 (on since 2026-11-24)
    older = from_dict(SemiSupervisedOptions, {"labels": 100})  # an options.json from before the options existed
    assert (older.consistency_weight, older.entropy_weight, older.entropy_start, older.label_smoothing) == (0.0,) * 4
    constant = from_dict(SemiSupervisedOptions, {"labels": 100, "entropy_weight": 0.1})  # before --entropy-start
    assert (constant.entropy_weight, constant.entropy_start) == (0.1, 0.0)
    assert from_dict(SemiSupervisedOptions, {"consistency_weight": 1.0}).consistency_weight == 1.0  # saved: kept


def test_auto_set_up_follows_the_labels_per_class_and_is_saved_with_the_run(mnist, capsys):
    from translate.pipelines.semisup import SemiSupervised, SemiSupervisedOptions

    def resolved(**given):
        pipeline = SemiSupervised(SemiSupervisedOptions(**given), str(mnist), torch.device("cpu"))
        pipeline.build()
        return pipeline.options.lr, pipeline.options.consistency_weight

    assert resolved(labels=50) == (0.001, 1.0)  # 5 per class: today's defaults
    assert resolved(labels=40) == (0.003, 0.0)  # 4 per class: lr 0.003 without the term, as for 2 per class
    assert resolved(labels=20, lr=0.001) == (0.001, 0.0)  # what is given is kept
    assert resolved(labels=20, consistency_weight=0.5) == (0.003, 0.5)
    run = mnist.parent / "auto"
    assert main(["train", "semisup", "--data", str(mnist), "--run", str(run), "--steps", "1",
                 *TINY]) == 0
    saved = json.loads((run / "options.json").read_text())["options"]
    assert (saved["lr"], saved["consistency_weight"]) == (0.003, 0.0)  # the values, not auto, so resume keeps them
    assert "fewer than 5 per class: --lr 0.003 --consistency-weight 0" in capsys.readouterr().err
    # labels that cannot be split evenly are told as such, with no set-up chosen for them first
    assert main(["train", "semisup", "--data", str(mnist), "--run", str(mnist.parent / "odd"), "--steps", "1",
                 *TINY, "--labels", "7"]) == 2
    told = capsys.readouterr().err
    assert "positive multiple of 10" in told and "fewer than 5 per class" not in told


def test_generator_has_its_own_adam_settings_when_asked(mnist):
    from translate.pipelines.semisup import SemiSupervised, SemiSupervisedOptions

    def adam_settings(**changes):
        pipeline = SemiSupervised(SemiSupervisedOptions(labels=20, **changes), str(mnist), torch.device("cpu"))
        pipeline.build()
        return {name: (group["lr"], group["betas"], group["eps"]) for name, optimizer in pipeline.optimizers().items()
                for group in optimizer.param_groups}

    assert adam_settings() == {"D": (0.003, (0.5, 0.999), 1e-8), "G": (0.003, (0.5, 0.999), 1e-8)}  # 2 per class
    assert adam_settings(lr=0.003, generator_lr=0.001, generator_beta1=0.0, beta2=0.9999, adam_epsilon=1e-4) == {
        "D": (0.003, (0.5, 0.9999), 1e-4), "G": (0.001, (0.0, 0.9999), 1e-4)}  # the Bad GAN code's, Theano's ε
    for bad in ({"beta2": 1.0}, {"generator_beta1": -0.1}, {"generator_lr": -1.0}, {"adam_epsilon": 0.0}):
        with pytest.raises(UserError):
            adam_settings(**bad)


def test_class_folders_with_the_conv_variant_and_minibatch_objective(tmp_path):
    rng = np.random.default_rng(0)
    for name, colour in (("red", (200, 30, 30)), ("blue", (30, 30, 200))):
        (tmp_path / "folders" / name).mkdir(parents=True)
        for i in range(6):
            image = np.clip(np.array(colour) + rng.integers(-20, 20, (40, 50, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(image).save(tmp_path / "folders" / name / f"{i}.png")
    assert main(["train", "semisup", "--data", str(tmp_path / "folders"), "--run", str(tmp_path / "r"), "--steps", "2",
                 "--network", "conv", "--image-size", "32", "--channels", "3", "--labels", "4", "--batch-size", "4",
                 "--generator-objective", "minibatch", "--consistency-weight", "1", "--no-progress"]) == 0
    assert main(["train", "semisup", "--data", str(tmp_path / "folders"), "--run", str(tmp_path / "mt"), "--steps", "2",
                 "--network", "conv", "--image-size", "32", "--channels", "3", "--labels", "4", "--batch-size", "4",
                 "--consistency-weight", "1", "--consistency-target", "ema", "--no-progress"]) == 0
    assert main(["train", "semisup", "--data", str(tmp_path / "folders"), "--run", str(tmp_path / "r2"), "--steps", "1",
                 "--network", "conv", "--image-size", "32", "--channels", "3", "--labels", "4", "--data-init"]) == 2
    assert main(["train", "semisup", "--data", str(tmp_path / "folders"), "--run", str(tmp_path / "r2"), "--steps", "1",
                 "--network", "conv", "--image-size", "32", "--channels", "3", "--labels", "4",
                 "--direction-std", "0.1"]) == 2  # the conv D has no weight norm to lengthen
    assert main(["train", "semisup", "--data", str(tmp_path / "folders"), "--run", str(tmp_path / "r2"), "--steps", "1",
                 "--network", "conv", "--image-size", "32", "--channels", "3", "--labels", "4",
                 "--relative-hidden-noise", "0.3"]) == 2  # the conv D has no hidden noise layers
    assert main(["train", "semisup", "--data", str(tmp_path / "folders"), "--run", str(tmp_path / "r3"), "--steps", "1",
                 "--network", "conv", "--image-size", "32", "--channels", "3", "--labels", "4",
                 "--consistency-weight", "-1"]) == 2  # a one-line error, not a silently disabled term
    assert main(["train", "semisup", "--data", str(tmp_path / "folders"), "--run", str(tmp_path / "r4"), "--steps", "1",
                 "--network", "conv", "--image-size", "32", "--channels", "3", "--labels", "4",
                 "--entropy-weight", "-1"]) == 2


def test_class_folders_in_colour_or_larger_than_they_are_read_are_told(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for name, colour in (("red", (200, 30, 30)), ("blue", (30, 30, 200))):
        (tmp_path / "colour" / name).mkdir(parents=True)
        (tmp_path / "large" / name).mkdir(parents=True)
        for i in range(3):
            image = np.clip(np.array(colour) + rng.integers(-20, 20, (20, 30, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(image).save(tmp_path / "colour" / name / f"{i}.png")
            Image.fromarray(rng.integers(0, 255, (80, 70), dtype=np.uint8)).save(tmp_path / "large" / name / f"{i}.png")

    def told(folder, *flags):
        run = tmp_path / "runs" / "-".join((folder, *flags))
        assert main(["train", "semisup", "--data", str(tmp_path / folder), "--run", str(run),
                     "--steps", "1", "--labels", "2", "--batch-size", "4", "--no-progress", *flags]) == 0
        return [line for line in capsys.readouterr().err.splitlines() if "read here as" in line]

    assert told("colour") == [f"semisup: {tmp_path / 'colour' / 'blue' / '0.png'} is a 30×20 colour image, read here "
                              "as gray 28×28: give --channels 3 to keep the colour"]
    assert told("colour", "--channels", "3") == []
    assert told("large") == [f"semisup: {tmp_path / 'large' / 'blue' / '0.png'} is a 70×80 image, read here as gray "
                             "28×28: give --network conv --image-size 64 to keep more detail"]
    assert told("large", "--network", "conv", "--image-size", "32") == [
        f"semisup: {tmp_path / 'large' / 'blue' / '0.png'} is a 70×80 image, read here as gray 32×32: give "
        "--image-size 64 to keep more detail"]
    assert told("large", "--network", "conv", "--image-size", "64") == []


def _digit_folders(mnist, root, classes):
    """The fake MNIST's training digits of `classes` as class folders of PNGs (a user's own domain)."""
    images, labels = load_mnist(str(mnist), "train")
    for i, (image, label) in enumerate(zip(images, labels)):
        if label in classes:
            (root / str(label)).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(root / str(label) / f"{i}.png")
    return root


def test_a_test_folder_is_labelled_by_the_training_classes_names(mnist, tmp_path, capsys):
    """test/ holding only some classes must not shift the labels: class k is the k-th training folder."""
    data = tmp_path / "folders"
    _digit_folders(mnist, data / "train", (0, 1, 2))
    _digit_folders(mnist, data / "test", (2,))  # test/2 alone: its label is 2, not 0
    run = tmp_path / "run"
    assert main(["train", "semisup", "--data", str(data), "--run", str(run), "--steps", "1", "--labels", "3",
                 "--batch-size", "10", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(data), "--json", "--baseline-steps", "0", "--judge-steps", "0"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["per_class_accuracy"][:2] == [None, None] and metrics["per_class_accuracy"][2] is not None
    _digit_folders(mnist, tmp_path / "other", (3,))
    (tmp_path / "other" / "3").rename(data / "test" / "9")  # a class the classifier never saw
    assert main(["eval", str(run), "--data", str(data), "--json", "--baseline-steps", "0", "--judge-steps", "0"]) == 2
    assert "class folder 9 is not one of the training classes (0, 1, 2)" in capsys.readouterr().err
    # the test/ folder itself: it has no test/ inside, and the supervised baseline would take it for train/
    assert main(["eval", str(run), "--data", str(data / "test"), "--json", "--judge-steps", "0"]) == 2
    assert "give the folder that holds train/ and test/" in capsys.readouterr().err
    # a mistyped --data: no such folder, not "no test/ folder"
    assert main(["eval", str(run), "--data", str(tmp_path / "petz"), "--json", "--judge-steps", "0"]) == 2
    assert f"{tmp_path / 'petz'}: no such folder" in capsys.readouterr().err


def test_predictions_and_eval_name_the_class_folders_saved_with_the_weights(mnist, tmp_path, capsys):
    import csv

    data = tmp_path / "pets"
    for split in ("train", "test"):
        _digit_folders(mnist, data / split, (0, 1, 2))
        for digit, name in ((0, "cat"), (1, "dog"), (2, "fish, striped")):  # a comma: the CSV must quote it
            (data / split / str(digit)).rename(data / split / name)
    run = tmp_path / "run"
    assert main(["train", "semisup", "--data", str(data), "--run", str(run), "--steps", "1", "--labels", "3",
                 "--batch-size", "10", "--no-progress"]) == 0
    names = ["cat", "dog", "fish, striped"]
    assert json.loads((run / "model.json").read_text())["class_names"] == names
    assert main(["infer", str(run), str(data / "test" / "dog"), "--out", str(tmp_path / "out")]) == 0
    rows = list(csv.DictReader((tmp_path / "out" / "predictions.csv").open()))
    assert len(rows) == len(list((data / "test" / "dog").iterdir()))
    assert all(row["class_name"] == names[int(row["class"])] for row in rows)
    # the weights know their classes: a folder holding test/ alone is labelled by them
    (tmp_path / "elsewhere").mkdir()
    (data / "test").rename(tmp_path / "elsewhere" / "test")
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(tmp_path / "elsewhere"), "--json", "--baseline-steps", "0",
                 "--judge-steps", "0"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["class_names"] == names and len(metrics["per_class_accuracy"]) == 3
    assert all(line.split("->")[0] in names for line in metrics["top_confusions"])


def test_fine_tuning_on_fewer_classes_keeps_the_body_and_starts_the_head_fresh(mnist, tmp_path, capsys):
    from translate.pipelines.semisup import SemiSupervised, SemiSupervisedOptions
    from translate.train import Trainer, TrainerOptions
    from translate.weights import load_weights

    assert main(["train", "semisup", "--data", str(mnist), "--run", str(tmp_path / "ten"), "--steps", "1", *TINY]) == 0
    three = _digit_folders(mnist, tmp_path / "three", (0, 1, 2))
    trainer = Trainer(SemiSupervised, SemiSupervisedOptions(labels=3), TrainerOptions(
        steps=1, progress=False, init=str(tmp_path / "ten")), str(three))
    assert "D's head starts fresh (the data has another number of classes than the weights)" in capsys.readouterr().err
    initial = load_weights(tmp_path / "ten").networks
    fine_tuned = trainer.raw["D"].state_dict()
    for key, value in initial["D"].state_dict().items():
        if key.startswith("head."):
            assert fine_tuned[key].shape[0] == 3
        else:
            assert torch.equal(fine_tuned[key], value), key
    assert all(torch.equal(trainer.raw["G"].state_dict()[k], v) for k, v in initial["G"].state_dict().items())


@pytest.mark.parametrize("network", ["mlp", "conv"])
def test_export_writes_the_classifier_and_onnxruntime_agrees(mnist, tmp_path, network):
    import onnxruntime

    from translate.weights import load_weights

    run = tmp_path / network
    size = ["--image-size", "32"] if network == "conv" else []
    # the conv D needs 32 or 64 px: MNIST's digits resized from class folders
    data = _digit_folders(mnist, tmp_path / "digits", range(10)) if network == "conv" else mnist
    assert main(["train", "semisup", "--data", str(data), "--run", str(run), "--steps", "1", "--network", network,
                 *size, *TINY]) == 0
    assert main(["export", str(run), "--onnx", str(tmp_path / "d.onnx")]) == 0
    side = 32 if network == "conv" else 28
    images = np.random.default_rng(0).random((3, 1, side, side), dtype=np.float32)
    logits = onnxruntime.InferenceSession(str(tmp_path / "d.onnx")).run(None, {"input": images})[0]
    expected = load_weights(run).networks["D"].eval()(torch.from_numpy(images)).detach().numpy()
    assert logits.shape == (3, 10) and np.abs(logits - expected).max() <= 1e-4


def test_bench_reports_mean_and_spread_over_seeds(mnist, capsys):
    assert main(["bench", "semisup", "--data", str(mnist), "--labels", "20", "--seeds", "2", "--steps", "2",
                 "--jobs", "2", "--first-seed", "3", "--precision", "bf16", "--consistency-weight", "0",
                 "--ema-decay", "0.9999", "--generator-beta1", "0", "--no-weight-norm"]) == 0
    out = capsys.readouterr().out
    # the variant, in any of `translate train semisup`'s options, is in the header
    assert ("EMA 0.9999 of D; --consistency-weight 0 --generator-beta1 0 --no-weight-norm); bf16; seeds 3..4"
            in out)
    row = [line for line in out.splitlines() if line.startswith("| 20 |")]
    assert len(row) == 1 and "1677 ± 452" in row[0]


def test_bench_scores_several_averages_of_one_trajectory(mnist, capsys):
    common = ["bench", "semisup", "--data", str(mnist), "--labels", "20", "--seeds", "1", "--steps", "3"]
    assert main([*common, "--ema-decay", "0.9", "0.5", "--score-every", "1"]) == 0
    out = capsys.readouterr().out
    assert "EMA 0.9, 0.5 of D" in out
    for step in (1, 2, 3):  # each average scored along the way, with its largest confusion
        assert len([line for line in out.splitlines() if f"seed 0, step {step}: EMA 0.9 " in line
                    and "; EMA 0.5 " in line and "->" in line]) == 1
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in out.splitlines()
            if line.startswith("| 20, EMA")}
    assert set(rows) == {"20, EMA 0.9", "20, EMA 0.5"}
    # the extra average leaves training alone: the first decay scores as it does when it is the only one
    assert main([*common, "--ema-decay", "0.9"]) == 0
    alone = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 20 |")]
    assert alone[0].split("|")[2].strip() == rows["20, EMA 0.9"]


def test_bench_scores_finished_runs(mnist, tmp_path, capsys):
    runs = []
    for seed in ("0", "1"):
        runs.append(str(tmp_path / f"run{seed}"))
        assert main(["train", "semisup", "--data", str(mnist), "--run", runs[-1], "--steps", "2", "--seed", seed,
                     "--subset-seed", seed, *TINY]) == 0
    capsys.readouterr()
    assert main(["bench", "semisup", "--data", str(mnist), "--runs", *runs]) == 0
    out = capsys.readouterr().out
    assert out.count("test errors (20 labels") == 2
    row = [line for line in out.splitlines() if line.startswith("| 20 |")]
    assert len(row) == 1 and "| 2 |" in row[0]


def test_hidden_activation_std_follows_the_weight_norm_scale():
    """The diagnostic that shows D outgrowing its noise: doubling the first layer's scale doubles its spread."""
    from translate.nn import MLPDiscriminator
    from translate.pipelines.semisup import _hidden_activation_std

    torch.manual_seed(0)
    discriminator = MLPDiscriminator(784, 10, (32, 16), 0.3, 0.5, weight_norm=True, activation="relu")
    images = np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    with torch.no_grad():
        discriminator.body[1].bias.zero_()
        before = _hidden_activation_std(discriminator, images)
        discriminator.body[1].parametrizations.weight.original0.mul_(2)
        after = _hidden_activation_std(discriminator, images)
    assert len(before) == 2 and after[0] == pytest.approx(2 * before[0], rel=1e-2)


def test_top_confusions_counts_the_most_frequent_mistakes_first():
    from translate.pipelines.semisup import _top_confusions

    labels = np.array([7, 7, 7, 1, 1, 4, 3])
    predicted = np.array([2, 2, 2, 1, 0, 9, 3])
    digits = [str(k) for k in range(10)]
    assert _top_confusions(predicted, labels, digits) == ["7->2: 3", "1->0: 1", "4->9: 1"]
    assert _top_confusions(labels, labels, digits) == []


def test_a_digit_drawn_anywhere_is_sized_and_centred_as_mnists():
    import cv2

    from translate.data.classes import as_mnist_digit

    def ring(centre, axes):  # a "0" drawn on the demo's 280×280 canvas, light ink on dark
        canvas = np.zeros((280, 280), np.uint8)
        cv2.ellipse(canvas, centre, axes, 0, 0, 360, 255, thickness=max(2, axes[0] // 4))
        return canvas

    small_in_a_corner = as_mnist_digit(ring((40, 50), (20, 30)))
    one = np.zeros((280, 280), np.uint8)
    one[40:240, 130:150] = 255  # 2 pixels wide once scaled: an N×2 array that cv2.moments would take for points
    for digit in (small_in_a_corner, as_mnist_digit(ring((140, 140), (80, 120))), as_mnist_digit(one)):
        rows, columns = np.flatnonzero((digit > 0).any(1)), np.flatnonzero((digit > 0).any(0))
        assert digit.shape == (28, 28) and digit.dtype == np.uint8
        assert max(rows[-1] - rows[0], columns[-1] - columns[0]) + 1 == 20  # fits MNIST's 20×20 box
        moments = cv2.moments(digit.astype(np.float32))
        assert abs(moments["m10"] / moments["m00"] - 14) <= 0.5 and abs(moments["m01"] / moments["m00"] - 14) <= 0.5
    # where on the canvas it was drawn makes no difference at all
    assert np.array_equal(small_in_a_corner, as_mnist_digit(ring((230, 200), (20, 30))))
    assert as_mnist_digit(np.zeros((280, 280))) is None


def test_a_bold_digit_cropped_to_its_ink_keeps_its_polarity():
    import cv2

    from translate.data.classes import as_mnist_digit

    canvas = np.zeros((280, 280), np.uint8)
    cv2.ellipse(canvas, (140, 140), (50, 80), 0, 0, 360, 255, thickness=40)  # a bold "0", light on dark
    rows, columns = np.flatnonzero(canvas.any(1)), np.flatnonzero(canvas.any(0))
    tight = canvas[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1]
    assert tight.mean() > 127  # mostly ink: the crop's mean alone would call it dark ink on light paper
    expected = as_mnist_digit(canvas)
    assert np.array_equal(as_mnist_digit(tight), expected)
    assert np.array_equal(as_mnist_digit(255 - tight), expected)  # the same crop scanned dark on paper


def test_bench_drawn_digits_reads_test_digits_redrawn_on_the_canvas(mnist, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "semisup", "--data", str(mnist), "--run", str(run), "--steps", "2", *TINY]) == 0
    capsys.readouterr()
    assert main(["bench", "drawn-digits", "--weights", str(run), "--data", str(mnist), "--count", "4"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "%" in line]
    assert len(rows) == 7 and rows[0].startswith("| MNIST's own 28×28 |")


def test_weights_trained_on_mnist_read_any_digit_file_as_an_mnist_digit(mnist, tmp_path, capsys):
    import csv

    import cv2

    run = tmp_path / "run"
    assert main(["train", "semisup", "--data", str(mnist), "--run", str(run), "--steps", "2", *TINY]) == 0
    assert json.loads((run / "model.json").read_text())["mnist_digits"] is True
    # a "7" in black ink on white paper, small in a corner of a large scan: only resized, it read as a 0
    paper = np.full((600, 450, 3), 255, np.uint8)
    cv2.line(paper, (30, 30), (110, 30), (0, 0, 0), 10)
    cv2.line(paper, (110, 30), (60, 150), (0, 0, 0), 10)
    Image.fromarray(paper).save(tmp_path / "seven.png")
    assert main(["infer", "semisup-mnist100", str(tmp_path / "seven.png"), "--out", str(tmp_path / "out")]) == 0
    row = next(csv.DictReader(open(tmp_path / "out" / "predictions.csv")))
    assert row["class"] == row["class_name"] == "7"
    Image.fromarray(np.full((50, 50), 255, np.uint8)).save(tmp_path / "blank.png")
    capsys.readouterr()
    assert main(["infer", "semisup-mnist100", str(tmp_path / "blank.png"), "--out", str(tmp_path / "out")]) != 0
    assert "blank.png: no digit in it" in capsys.readouterr().err


def test_pull_away_term_is_zero_for_orthogonal_features_and_one_for_parallel_ones(mnist):
    from translate.nn import pull_away_term

    assert pull_away_term(torch.eye(4)).item() == pytest.approx(0.0)
    assert pull_away_term(torch.ones(4, 3) * torch.tensor([[1.0], [2.0], [3.0], [4.0]])).item() == pytest.approx(1.0)
    # two of three pairs orthogonal, one at 45°: cos² ½ on 2 of the 6 ordered pairs
    assert pull_away_term(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])).item() == pytest.approx(4 / 6 * 0.5)
    run = mnist.parent / "pull_away"
    assert main(["train", "semisup", "--data", str(mnist), "--run", str(run), "--steps", "2", "--pull-away-weight",
                 "1", *TINY]) == 0
    assert json.loads((run / "options.json").read_text())["options"]["pull_away_weight"] == 1.0
    assert main(["train", "semisup", "--data", str(mnist), "--run", str(mnist.parent / "p"), "--steps", "1",
                 "--pull-away-weight", "-1", *TINY]) == 2
    assert main(["train", "semisup", "--data", str(mnist), "--run", str(mnist.parent / "m"), "--steps", "1",
                 "--pull-away-weight", "1", "--generator-objective", "minibatch", *TINY]) == 2


def test_label_smoothing_reaches_the_labelled_loss_and_is_checked(mnist):
    def trained(name, *flags):
        assert main(["train", "semisup", "--data", str(mnist), "--run", str(mnist.parent / name), "--steps", "2",
                     *flags, *TINY]) == 0
        return torch.load(mnist.parent / name / "checkpoint.pt", weights_only=True)["networks"]["D"]

    plain, none = trained("plain"), trained("none", "--label-smoothing", "0")
    smoothed = trained("ls", "--label-smoothing", "0.1")
    assert all(torch.equal(plain[key], none[key]) for key in plain)  # 0 is the paper's set-up, step for step
    assert not all(torch.equal(plain[key], smoothed[key]) for key in plain)
    assert json.loads((mnist.parent / "ls" / "options.json").read_text())["options"]["label_smoothing"] == 0.1
    for bad in ("1", "-0.1"):
        assert main(["train", "semisup", "--data", str(mnist), "--run", str(mnist.parent / "bad"), "--steps", "1",
                     "--label-smoothing", bad, *TINY]) == 2
