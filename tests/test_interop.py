"""Generators saved by pytorch-CycleGAN-and-pix2pix (bare state_dicts) load strictly and run."""

import json

import pytest
import torch
from PIL import Image

from translate.cli import main
from translate.errors import UserError
from translate.interop import describe_reference_generator, load_reference_generator
from translate.nn import ResnetGenerator, UNetGenerator


@pytest.mark.parametrize("network, name, norm, dropout", [
    (UNetGenerator(num_downs=7, ngf=4), "unet_128", "batch", True),
    (UNetGenerator(num_downs=8, ngf=4, norm="instance"), "unet_256", "instance", True),
    (ResnetGenerator(n_blocks=6, ngf=4), "resnet_6blocks", "instance", False),
    (ResnetGenerator(n_blocks=9, ngf=4, norm="batch", dropout=True), "resnet_9blocks", "batch", True),
    (ResnetGenerator(n_blocks=2, ngf=4, in_channels=1, norm="none"), "resnet_2blocks", "none", False),
])
def test_architecture_is_read_back_from_the_keys(tmp_path, network, name, norm, dropout):
    torch.save(network.state_dict(), tmp_path / "latest_net_G.pth")
    loaded, description = load_reference_generator(tmp_path / "latest_net_G.pth")
    assert (description.name, description.norm, description.ngf) == (name, norm, 4)
    assert description.kind == "unet" or description.dropout == dropout
    x = torch.rand(1, description.in_channels, 256, 256) * 2 - 1
    network.eval()
    assert torch.equal(loaded(x), network(x))


@pytest.mark.parametrize("listing, name", [("junyanz_G_unet_256", "unet_256"), ("junyanz_G_unet_128", "unet_128"),
                                           ("junyanz_G_resnet_9blocks", "resnet_9blocks"),
                                           ("junyanz_G_resnet_6blocks", "resnet_6blocks")])
def test_reference_key_listings_load_strictly_and_run(shared, tmp_path, listing, name):
    entries = json.loads((shared / "interop" / f"{listing}.json").read_text())
    generator = torch.Generator().manual_seed(0)
    state = {key: (torch.randn(shape, generator=generator) * 0.02 if dtype == "float32"
                   else torch.zeros(shape, dtype=torch.int64)) for key, shape, dtype in entries}
    for key in state:
        if key.endswith("running_var"):
            state[key] = torch.ones_like(state[key])
    torch.save(state, tmp_path / "latest_net_G.pth")
    network, description = load_reference_generator(tmp_path / "latest_net_G.pth")
    assert description.name == name
    out = network(torch.rand(1, 3, 256, 256) * 2 - 1)
    assert out.shape == (1, 3, 256, 256) and out.abs().max() <= 1


def test_other_files_are_refused_with_a_reason(tmp_path):
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(UserError, match="not a pytorch-CycleGAN-and-pix2pix generator"):
        load_reference_generator(tmp_path / "other.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(UserError, match="not a readable checkpoint"):
        load_reference_generator(tmp_path / "junk.pth")
    with pytest.raises(UserError):
        describe_reference_generator({})


class PickledModule(torch.nn.Module):  # saved whole, as some projects do: weights_only refuses it
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 1)


def _broken_checkpoint(path, kind):
    if kind == "module":
        torch.save(PickledModule(), path)
    elif kind == "cut short":
        torch.save({"conv.weight": torch.zeros(1000)}, path)
        path.write_bytes(path.read_bytes()[:500])
    else:
        path.write_bytes({"empty": b"", "junk": b"junk"}[kind])


@pytest.mark.parametrize("kind, reason", [
    ("empty", "the file is empty or cut short"), ("cut short", "the file is empty or cut short"),
    ("junk", "not a PyTorch file, or a damaged one"),
    ("module", "it holds a pickled Python object (test_interop.PickledModule), not only tensors: load it in the "
               "project that wrote it and save its state_dict() instead")])
def test_unreadable_checkpoints_say_why_in_one_line(tmp_path, capsys, kind, reason):
    path = tmp_path / "latest_net_G.pth"
    _broken_checkpoint(path, kind)
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    assert main(["infer", str(path), str(tmp_path / "x.png"), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert error == f"error: {path}: not a readable checkpoint ({reason})" or (
        kind == "junk" and error.startswith(f"error: {path}: not a readable checkpoint ({reason}: ")), error


def test_translate_infer_runs_a_reference_checkpoint_on_any_size(tmp_path):
    import numpy as np

    torch.save(UNetGenerator(num_downs=7, ngf=4).state_dict(), tmp_path / "latest_net_G.pth")
    Image.fromarray(np.zeros((70, 90, 3), np.uint8)).save(tmp_path / "photo.jpg")
    assert main(["infer", str(tmp_path / "latest_net_G.pth"), str(tmp_path / "photo.jpg"), "--out", str(tmp_path)]) == 0
    assert Image.open(tmp_path / "photo.png").size == (90, 70)


def test_a_cyclegan_checkpoint_folder_loads_both_directions(tmp_path):
    from translate.weights import load_weights

    g_a, g_b = ResnetGenerator(n_blocks=9, ngf=4), ResnetGenerator(n_blocks=9, ngf=4)
    torch.save(g_a.state_dict(), tmp_path / "latest_net_G_A.pth")
    torch.save(g_b.state_dict(), tmp_path / "latest_net_G_B.pth")
    loaded = load_weights(tmp_path)
    assert loaded.pipeline.name == "cyclegan" and loaded.options.generator == "resnet_9blocks"
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    assert torch.equal(loaded.networks["G_B"](x), g_b.eval()(x))
    single = load_weights(tmp_path / "latest_net_G_B.pth")  # one direction alone, as the zoo ships them
    assert single.pipeline.name == "pix2pix"
