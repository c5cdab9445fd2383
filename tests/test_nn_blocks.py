"""The building blocks: shapes, reference-compatible layouts, and the losses' textbook values."""

import json
import math

import pytest
import torch
from torch import nn

import translate.nn as tn


def test_building_blocks_import_without_the_trainer():
    import subprocess
    import sys

    code = ("import sys, translate.nn; heavy = [m for m in ('translate.train', 'torchvision', 'kornia', 'gradio', "
            "'albumentations') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("network, shape_in, shape_out", [
    (tn.UNetGenerator(num_downs=7, ngf=8), (1, 3, 128, 128), (1, 3, 128, 128)),
    (tn.UNetGenerator(num_downs=8, ngf=4, upsample="resize"), (2, 3, 256, 256), (2, 3, 256, 256)),
    (tn.ResnetGenerator(n_blocks=2, ngf=8), (1, 3, 36, 44), (1, 3, 36, 44)),
    (tn.ResnetGenerator(n_blocks=1, ngf=8, upsample="resize", norm="batch"), (2, 3, 32, 32), (2, 3, 32, 32)),
    (tn.SRResNet(channels=8, n_blocks=2, scale=4), (1, 3, 10, 13), (1, 3, 40, 52)),
    (tn.SRResNet(channels=8, n_blocks=1, scale=3, batch_norm=True), (2, 3, 8, 8), (2, 3, 24, 24)),
    (tn.SRResNet(channels=8, n_blocks=1, scale=2), (1, 3, 8, 8), (1, 3, 16, 16)),
    (tn.PatchGAN(6, ndf=8), (1, 6, 256, 256), (1, 1, 30, 30)),
    (tn.PixelGAN(3, ndf=8, norm="instance"), (1, 3, 20, 20), (1, 1, 20, 20)),
    (tn.SRDiscriminator(ndf=8), (2, 3, 96, 96), (2, 1)),
    (tn.SRDiscriminator(ndf=8), (1, 3, 41, 77), (1, 1)),
    (tn.ConvClassifier(1, 10, ndf=8), (4, 1, 28, 28), (4, 10)),
    (tn.MLPDiscriminator(784, 10, (32, 16), input_noise=0.3, hidden_noise=0.5, weight_norm=True), (4, 1, 28, 28), (4, 10)),
    (tn.MLPGenerator(100, 784, (32,), norm="batch", output="sigmoid"), (4, 100), (4, 784)),
    (tn.MLPGenerator(100, 784, (32,), norm="batch", output="sigmoid", activation="softplus", batch_norm_scale=False,
                     weight_norm_output=True), (4, 100), (4, 784)),
    (tn.DCGANGenerator(16, 1, 32, ngf=8), (2, 16), (2, 1, 32, 32)),
])
def test_networks_produce_the_documented_shapes(network, shape_in, shape_out):
    assert network(torch.randn(shape_in)).shape == shape_out


def test_multiscale_discriminator_returns_one_map_per_scale_and_features():
    multi = tn.MultiScaleDiscriminator(lambda: tn.PatchGAN(3, ndf=4, n_layers=2), num_scales=3)
    logits, features = multi(torch.randn(1, 3, 64, 64), return_features=True)
    assert [l.shape[-1] for l in logits] == [14, 6, 2] and len(features) == 9


@pytest.mark.parametrize("listing, build", [
    ("junyanz_G_unet_256", lambda: tn.UNetGenerator(num_downs=8)),
    ("junyanz_G_unet_128", lambda: tn.UNetGenerator(num_downs=7)),
    ("junyanz_G_resnet_9blocks", lambda: tn.ResnetGenerator(n_blocks=9)),
    ("junyanz_G_resnet_6blocks", lambda: tn.ResnetGenerator(n_blocks=6)),
    ("junyanz_D_basic_batch", lambda: tn.PatchGAN(6, norm="batch")),
    ("junyanz_D_basic_instance", lambda: tn.PatchGAN(3, norm="instance")),
    ("junyanz_D_pixel_batch", lambda: tn.PixelGAN(6, norm="batch")),
    ("junyanz_D_pixel_instance", lambda: tn.PixelGAN(3, norm="instance")),
])
def test_networks_keep_the_reference_checkpoint_layout(shared, listing, build):
    expected = [(key, shape) for key, shape, _ in json.loads((shared / "interop" / f"{listing}.json").read_text())]
    actual = [(key, list(value.shape)) for key, value in build().state_dict().items()]
    assert actual == expected


def test_minimax_and_nonsaturating_share_d_but_not_g():
    real, fake = torch.zeros(4, 1), torch.zeros(4, 1)
    minimax, nonsat = tn.adversarial_loss("minimax"), tn.adversarial_loss("nonsaturating")
    assert minimax.discriminator(real, fake).item() == pytest.approx(2 * math.log(2))
    assert nonsat.discriminator(real, fake).item() == pytest.approx(2 * math.log(2))
    confident = torch.full((4, 1), -10.0)  # D rejects the fakes: minimax's gradient vanishes, not the other
    fake_logits = confident.clone().requires_grad_(True)
    minimax.generator(fake_logits).backward()
    small = fake_logits.grad.abs().max().item()
    fake_logits.grad = None
    nonsat.generator(fake_logits).backward()
    assert small < 1e-3 < fake_logits.grad.abs().max().item()


def test_one_sided_label_smoothing_moves_the_real_target_only():
    smooth = tn.adversarial_loss("nonsaturating", real_label=0.9)
    logits = torch.linspace(-5, 5, 2001).view(-1, 1).requires_grad_(True)
    per_point = smooth.discriminator(logits, torch.full_like(logits, -50.0)) * logits.numel()
    gradient, = torch.autograd.grad(per_point, logits)
    best = logits[gradient.abs().argmin()].item()
    assert torch.sigmoid(torch.tensor(best)).item() == pytest.approx(0.9, abs=0.01)


@pytest.mark.parametrize("name", list(tn.ADVERSARIAL_LOSSES))
def test_every_loss_prefers_a_discriminator_that_separates(name):
    loss = tn.adversarial_loss(name)
    good = loss.discriminator(torch.full((8, 1), 3.0), torch.full((8, 1), -3.0))
    bad = loss.discriminator(torch.full((8, 1), -3.0), torch.full((8, 1), 3.0))
    assert good < bad
    assert loss.generator(torch.full((8, 1), 3.0), torch.zeros(8, 1)) < loss.generator(torch.full((8, 1), -3.0), torch.zeros(8, 1))


def test_losses_average_over_multiscale_outputs():
    loss = tn.adversarial_loss("lsgan")
    maps = [torch.ones(1, 1, 4, 4), torch.zeros(1, 1, 2, 2)]
    assert loss.generator(maps).item() == pytest.approx((0.0 + 0.5) / 2)


def test_gradient_penalties_of_a_linear_critic_have_closed_forms():
    critic = nn.Linear(5, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[3.0, 0.0, 4.0, 0.0, 0.0]]))  # ‖w‖ = 5
    real, fake = torch.randn(16, 5), torch.randn(16, 5)
    assert tn.wgan_gp_penalty(critic, real, fake).item() == pytest.approx((5 - 1) ** 2)
    assert tn.dragan_penalty(critic, real).item() == pytest.approx(16.0)
    assert tn.r1_penalty(critic, real).item() == pytest.approx(0.5 * 25)


def test_gradient_penalty_backpropagates_into_the_critic():
    critic = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    tn.wgan_gp_penalty(critic, torch.randn(4, 2), torch.randn(4, 2)).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in critic[0].parameters())


def test_weight_clipping_bounds_every_parameter():
    critic = nn.Linear(4, 4)
    tn.clip_weights_(critic, 0.01)
    assert all(p.abs().max() <= 0.01 for p in critic.parameters())


def test_instance_noise_anneals_to_zero():
    noise = tn.InstanceNoise(0.5, anneal_steps=100)
    x = torch.zeros(1000)
    assert noise(x, 0).std().item() == pytest.approx(0.5, rel=0.1)
    assert noise.sigma_at(50) == pytest.approx(0.25)
    assert torch.equal(noise(x, 100), x)


def test_feature_matching_is_zero_for_matching_statistics_and_positive_otherwise():
    a = [torch.randn(64, 8)]
    assert tn.feature_matching_loss(a, [a[0][torch.randperm(64)]]).item() == pytest.approx(0.0, abs=1e-10)
    assert tn.feature_matching_loss(a, [a[0] + 1]).item() == pytest.approx(1.0)


def test_total_variation_of_a_flat_image_is_zero():
    assert tn.total_variation(torch.ones(2, 3, 8, 8)).item() == 0.0
    assert tn.total_variation(torch.rand(2, 3, 8, 8)).item() > 0


def test_perceptual_loss_needs_a_local_file_and_says_where_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="vgg19-dcbb9e9d.pth"):
        tn.PerceptualLoss(tmp_path / "missing.pth")


def test_perceptual_loss_refuses_other_files_in_one_line(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"junk.pth: not a readable weights file \(not a PyTorch file"):
        tn.PerceptualLoss(tmp_path / "junk.pth")
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "other.pth")  # VGG19's key, another shape
    with pytest.raises(ValueError, match="other.pth: not torchvision's VGG19 weights.*vgg19-dcbb9e9d.pth$"):
        tn.PerceptualLoss(tmp_path / "other.pth")


def test_perceptual_loss_loads_torchvision_format_weights(tmp_path):
    from torchvision.models import vgg19

    torch.save(vgg19(weights=None).state_dict(), tmp_path / "vgg19.pth")
    loss = tn.PerceptualLoss(tmp_path / "vgg19.pth", layer="relu2_2")
    x = torch.rand(1, 3, 32, 32)
    assert loss(x, x).item() == 0.0 and loss(x, torch.rand(1, 3, 32, 32)).item() > 0


def test_image_pool_returns_new_images_until_full_then_mixes_history():
    pool = tn.ImagePool(size=4)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)
    torch.manual_seed(0)
    out = pool.query(torch.full((64, 1, 1, 1), 9.0))
    from_history = (out != 9.0).sum().item()
    assert 0 < from_history <= 4  # only the 4 stored images can come back
    restored = tn.ImagePool()
    restored.load_state_dict(pool.state_dict())
    assert len(restored.images) == 4


def test_historical_averaging_penalises_distance_from_the_running_mean():
    net = nn.Linear(1, 1, bias=False)
    history = tn.HistoricalAveraging(net)
    assert history.penalty().item() == 0.0
    with torch.no_grad():
        net.weight += 2.0
    history.update()  # average of (w, w + 2) is w + 1
    assert history.penalty().item() == pytest.approx(1.0)


def test_ema_uses_swa_utils_and_follows_the_decay_formula():
    net = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(0.0)
    ema = tn.exponential_moving_average(net, decay=0.9)
    assert isinstance(ema, torch.optim.swa_utils.AveragedModel)
    with torch.no_grad():
        net.weight.fill_(1.0)
    ema.update_parameters(net)  # the first update copies
    with torch.no_grad():
        net.weight.fill_(2.0)
    ema.update_parameters(net)
    assert ema.module.weight.item() == pytest.approx(0.9 * 1.0 + 0.1 * 2.0)


def test_ema_warmup_averages_a_short_run_over_its_own_steps_and_a_long_one_at_the_decay():
    net = nn.Linear(1, 1, bias=False)
    plain, warmed = tn.exponential_moving_average(net, 0.999), tn.exponential_moving_average(net, 0.999, warmup=True)
    for step in range(300):  # the weight moves from 0 to 1 after the first step and stays there
        with torch.no_grad():
            net.weight.fill_(float(step > 0))
        plain.update_parameters(net), warmed.update_parameters(net)
    assert plain.module.weight.item() == pytest.approx(1 - 0.999**299)  # still ¾ the starting weight
    assert warmed.module.weight.item() == pytest.approx(1 - 2 / 11 * math.prod(
        min(0.999, (1 + n) / (10 + n)) for n in range(2, 300)))
    assert warmed.module.weight.item() > 0.99
    for averaged in (plain, warmed):  # past n ≈ 9000 both decay at 0.999
        averaged.n_averaged.fill_(20000)
        before = averaged.module.weight.item()
        with torch.no_grad():
            net.weight.fill_(2.0)
        averaged.update_parameters(net)
        assert averaged.module.weight.item() == pytest.approx(0.999 * before + 0.001 * 2.0)


def test_minibatch_discrimination_sees_a_collapsed_batch():
    layer = tn.MinibatchDiscrimination(4, num_kernels=3, kernel_dim=2)
    collapsed = layer(torch.ones(8, 4))[:, 4:]
    diverse = layer(torch.randn(8, 4) * 10)[:, 4:]
    assert collapsed.shape == (8, 3) and collapsed.mean() > diverse.mean()


def test_relative_gaussian_noise_grows_with_each_features_spread_and_is_off_in_eval():
    torch.manual_seed(0)
    x = torch.randn(20000, 2) * torch.tensor([1.0, 10.0])  # a narrow feature and a wide one
    noisy = tn.GaussianNoise(0.5, relative_sigma=0.3).train()(x)
    expected = torch.tensor([0.5**2 + 0.3**2, 0.5**2 + 3.0**2]).sqrt()  # sqrt(σ² + (0.3·std)²)
    assert torch.allclose((noisy - x).std(0), expected, rtol=0.03)
    assert torch.equal(tn.GaussianNoise(0.5, relative_sigma=0.3).eval()(x), x)
    assert torch.allclose((tn.GaussianNoise(0.5).train()(x) - x).std(0), torch.tensor([0.5, 0.5]), rtol=0.03)


def test_virtual_batch_norm_makes_each_output_independent_of_the_rest_of_the_batch():
    torch.manual_seed(0)
    net = tn.WithReferenceBatch(nn.Sequential(nn.Linear(3, 5), tn.VirtualBatchNorm(5, 16)), torch.randn(16, 3))
    x = torch.randn(4, 3)
    alone = torch.cat([net(x[i : i + 1]) for i in range(4)])
    assert torch.allclose(net(x), alone, atol=1e-6)
    assert torch.allclose(tn.VirtualBatchNorm(5, 16)(torch.randn(20, 5))[:16].mean(0), torch.zeros(5), atol=1e-5)


def test_spectral_norm_bounds_the_largest_singular_value():
    layer = tn.apply_spectral_norm(nn.Sequential(nn.Linear(8, 8)))[0]
    with torch.no_grad():
        layer.parametrizations.weight.original.mul_(10)
    layer.train()
    for _ in range(20):
        layer(torch.randn(2, 8))
    assert torch.linalg.matrix_norm(layer.weight, ord=2).item() == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("kind", ["normal", "xavier", "kaiming", "orthogonal"])
def test_initialisers_reset_weights_and_zero_biases(kind):
    net = tn.init_weights(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)), kind, gain=0.02)
    assert net[0].bias.abs().max() == 0 and net[0].weight.std() > 0
    if kind == "normal":
        assert net[0].weight.std().item() == pytest.approx(0.02, rel=0.3)


def test_unknown_names_fail_with_the_list_of_choices():
    with pytest.raises(ValueError, match="choose one of"):
        tn.adversarial_loss("vanilla2")
    with pytest.raises(ValueError, match="batch, instance, none"):
        tn.norm_layer("group", 4)
