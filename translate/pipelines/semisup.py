"""Semi-supervised GAN (Salimans et al. 2016, "Improved Techniques for Training GANs", §5).

The discriminator is a K-class classifier whose fake class is implicit: with logits l_k(x) and
Z(x) = Σ_k exp l_k(x), D(x) = Z(x) / (Z(x) + 1) is the probability that x is real. Its loss is the
cross-entropy on a labelled batch plus the real/fake terms on unlabelled and generated batches,
written with logsumexp and softplus:  −log D(x) = softplus(−log Z(x)),  −log(1 − D(G(z))) = softplus(log Z(G(z))).
The generator matches the mean of D's last hidden features on real data (feature matching), or, as the
paper's alternative, is trained against D with minibatch discrimination (better samples, worse
classification). Defaults are the paper's MNIST set-up as its code (openai/improved-gan) has it:
D 784-1000-500-250-250-250-10 with Gaussian noise (σ 0.3 on the input, 0.5 after each layer) and weight
normalisation, feature matching on the last hidden layer before its noise; G 100-500-500-784 with batch
norm and a sigmoid output; every batch of 100 holds each of the 100 labelled digits once; Adam 0.001
β1 0.5 (the rate of the code's original MNIST script; its later one uses 0.003), batch 100, linear decay
over the last third; Polyak averaging (--ema-decay) of D. Where our
defaults differ from that code (leaky ReLU, learned hidden weight-norm scales, no data-dependent init,
ReLU G with plain batch norm, torch's shorter initial weight-norm directions) the code's choice is an option;
BENCHMARKS.md says why. One addition to the paper is on by default: `--consistency-weight 1`, CT-GAN's term
(Wei et al. 2018) that asks two noisy passes of D over the same unlabelled batch for the same class probabilities
(`--consistency-weight 0` gives the paper's set-up). With fewer than 5 labels per class the defaults are instead
the code's later set-up, lr 0.003 without the term: with 2 or 3 per class the term often held two digits in one class
on MNIST. Off by default: `--entropy-weight`, entropy minimisation
(Grandvalet & Bengio 2005; Dai et al. 2017 add it to this GAN) that asks D to be sure of a class for each unlabelled image;
`--entropy-rampup` raises its weight from near 0 over the first part of the run (Laine & Aila 2017), and
`--entropy-start` switches it on only late in the run. `--consistency-target ema` asks D to agree with its running average
instead of a second pass of itself (Mean Teacher, Tarvainen & Valpola 2017). `--pull-away-weight` adds the pull-away
term (Zhao et al. 2017) to G's loss so that its samples spread out in D's features, one of the ways Dai et al. 2017
raise G's entropy. `--label-smoothing` softens the labelled cross-entropy's targets (Szegedy et al. 2016).

    translate train semisup --data ../shared/datasets/MNIST --labels 100 --run runs/ss100
    translate eval runs/ss100 --data ../shared/datasets/MNIST --json
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.data import Dataset

from ..data.classes import (as_mnist_digit, balanced_subset, image_losing_detail, is_colour, is_mnist, load_class_folders,
                            load_class_names, load_mnist)
from ..data.images import read_image, save_image
from ..errors import UserError
from ..nn import (ConvClassifier, DCGANGenerator, MLPDiscriminator, MLPGenerator, consistency_loss,
                  feature_matching_loss, pull_away_term)
from ..train import Pipeline, adam, option


# Below this many labels per class the auto set-up is the code's later one, lr 0.003 without the consistency term:
# with 2 per class on MNIST, lr 0.001 with the term had put two digits in one class by 20000 steps on each of seeds
# 0-2 (seed 0 ended at 1321 test errors; seed 3 had no such mistake either way), and the term did so at lr 0.003 too;
# lr 0.003 without it was less wrong on seeds 0-2 and ended seeds 0-2 at 132, 135 and 502. With 3 per class the term
# mixed up whole classes by 20000 steps on both seeds screened, lr 0.003 without it on neither; with 4 per class both
# set-ups did on 2 seeds of 3; with 5 per class lr 0.001 with the term did better (107 against 231, one seed) (BENCHMARKS.md).
FEW_LABELS_PER_CLASS = 5


@dataclass
class SemiSupervisedOptions:
    # what runs saved before these options existed trained with (their options.json lacks the key), kept on resume
    absent_in_older_runs: ClassVar[dict] = {"consistency_weight": 0.0, "entropy_weight": 0.0, "entropy_start": 0.0,
                                            "consistency_target": "noisy_pass", "label_smoothing": 0.0}

    labels: int = option(100, "labelled examples used (balanced: labels / K per class); the rest stay unlabelled")
    subset_seed: int = option(0, "seed that picks the labelled subset (saved with the run)")
    network: str = option("mlp", "mlp: the paper's MNIST networks; conv: small conv nets for larger images",
                          choices=("mlp", "conv"))
    image_size: int = option(28, "class folders: images are resized to this square size")
    channels: int = option(1, "class folders: 1 (gray) or 3 (colour)", choices=(1, 3))
    num_classes: int = option(0, "K (0: from the data)")
    latent_dim: int = option(100, "generator input size (uniform noise)")
    input_noise: float = option(0.3, "σ of Gaussian noise on D's input")
    # with learned weight-norm scales D outgrows either σ alike: 1.0 ended seed 0 at 90 test errors against 89, with D's
    # hidden activations twice as large (BENCHMARKS.md)
    hidden_noise: float = option(0.5, "σ of Gaussian noise after each of D's hidden layers")
    # noise D cannot outgrow: at the end of a default run --hidden-noise's σ is 4-25 % of each layer's spread. Seed 0 to
    # 40000 steps: 0.3 made D's activations explode (deepest layer's std 870) and trailed the defaults (176 test errors
    # against 114); 0.1 ran to the end level with them (88 against 89), its deepest layer's std grown to 158, so it
    # stays off (BENCHMARKS.md)
    relative_hidden_noise: float = option(0.0, "extra noise after each of D's hidden layers, in units of each unit's "
                                          "std over the batch D is given (labelled, unlabelled and generated images "
                                          "together): the noise's std becomes sqrt(σ² + (this·std)²) (0: off, the "
                                          "paper's set-up; ladder networks use 0.3 on normalised activations)")
    weight_norm: bool = option(True, "weight normalisation in D")
    # The improved-GAN code uses relu, --no-train-hidden-scale and --data-init; in 3000-step runs here those
    # three together gave 1964 test errors against 1310 for these defaults, and at the full 300 epochs they ended
    # no better (seed 1: 115 against 105), though they keep D's activations near the noise's scale (BENCHMARKS.md).
    activation: str = option("leaky_relu", "D's hidden activation (the improved-GAN code: relu)",
                             choices=("relu", "leaky_relu"))
    train_hidden_scale: bool = option(True, "learn the weight-norm scale of D's hidden layers (the improved-GAN "
                                      "code fixes it at its data-dependent value; only the output scale learns)")
    reference_generator: bool = option(False, "the improved-GAN code's G: softplus, batch norm with a learned shift "
                                       "only, weight-normalised output (it collapsed within 10k steps in all 5 runs "
                                       "with torch's short initial D directions; with the code's D and --direction-std 0.1 it "
                                       "trained to the end on 3 seeds, 106.7 ± 14.0 errors against 96.7 ± 4.5 for "
                                       "our D and G, both without the consistency term; the default G uses ReLU and "
                                       "plain BN)")
    # why the length matters: MLPDiscriminator._lengthen_directions; what it changed here: BENCHMARKS.md
    direction_std: float = option(0.0, "lengthen the initial direction of each of D's weight-normalised layers to "
                                  "that of N(0, std²) draws, weights unchanged (0: torch's init; the "
                                  "improved-GAN code: 0.1): D's early steps turn its weights more slowly")
    data_init: bool = option(False, "data-dependent initialisation of D's weight-normalised layers on 500 "
                             "training images (Salimans & Kingma 2016, as the improved-GAN code does)")
    generator_objective: str = option("feature_matching", "feature_matching (better classifier) or minibatch "
                                      "(fool D; the MLP D gets minibatch discrimination: better samples)",
                                      choices=("feature_matching", "minibatch"))
    # feature matching pulls G's mean towards the data's but leaves its samples free to collapse onto a few kinds;
    # the Bad GAN argument (Dai et al. 2017) is that D learns its class borders from varied samples in the gaps;
    # weight 1 ended seed 0 at 91 test errors against the defaults' 89, within one seed's noise: off (BENCHMARKS.md)
    pull_away_weight: float = option(0.0, "weight of the pull-away term (Zhao et al. 2017) in G's feature-matching "
                                     "loss: the mean squared cosine similarity of D's last hidden features between "
                                     "G's samples, so that they spread out (Dai et al. 2017; 0: off, the paper's set-up)")
    # D sees each labelled image every step and drives their loss to 1e-5; 0.1 caps the margin it asks for at about 4.5.
    # It ended seed 0 at 86 test errors against the defaults' 90 on the same CPU, behind or level at every save before the
    # last: within one seed's noise, so it stays off (BENCHMARKS.md)
    label_smoothing: float = option(0.0, "label smoothing of the labelled cross-entropy (Szegedy et al. 2016): the "
                                    "target keeps 1 − this on the true class and spreads the rest over all K, so D "
                                    "stops widening its margins on the few labelled images it sees every step "
                                    "(0: off, the paper's set-up)")
    unsupervised_weight: float = option(1.0, "weight of the unlabelled real/fake terms in D's loss")
    # over seeds 0-2 at 300 epochs it ended at 89, 94, 88 test errors against 92, 101, 97 without it; but with 2 or 3 labels
    # per class it mixed up whole classes on 5 MNIST seeds of 6 (with 4, as often as without it; auto: off there; BENCHMARKS.md)
    consistency_weight: float | None = option(None, "weight of CT-GAN's consistency term (Wei et al. 2018): the class "
                                              "probabilities of two noisy passes of D over the unlabelled batch must "
                                              "agree (0: off, the paper's set-up; CT-GAN's MNIST code uses 0.05; about "
                                              "a tenth more time per step; auto: 1, or 0 with fewer than "
                                              f"{FEW_LABELS_PER_CLASS} labels per class)")
    # the Π-model's target is D's own second noisy pass; Mean Teacher's (Tarvainen & Valpola 2017) is the running average
    # of D, which moves slowly and so gives steadier targets. Seed 0 at 300 epochs ended at 103 test errors with ema against
    # 89 with noisy_pass, at the same cost per step (BENCHMARKS.md): noisy_pass stays the default
    consistency_target: str = option("noisy_pass", "what D's class probabilities on the unlabelled batch must agree with "
                                     "under --consistency-weight: noisy_pass (a second noisy pass of D, CT-GAN's term) or "
                                     "ema (a noisy pass of the averaged D that --ema-decay keeps, Mean Teacher; no "
                                     "gradient flows into it)", choices=("noisy_pass", "ema"))
    # 0.1 ended at 83, 93, 88, 90 test errors on seeds 0-3 against 89, 94, 88, 94 without it, but on seed 4 D had settled
    # a tenth of the 7s as 9s by 60000 steps (170 errors against 112) and still had them at 180000 (209): off (BENCHMARKS.md)
    # 0.03 kept seed 4's 7s but ended seeds 0, 1, 2, 4, 5 at 89, 92, 88, 106, 94 against 89, 94, 88, 93, 104: off
    entropy_weight: float = option(0.0, "weight of the mean entropy of D's class probabilities on unlabelled images "
                                   "(entropy minimisation, Grandvalet & Bengio 2005; 0: off, the paper's set-up)")
    # early on D's classes are mostly wrong, and asking it to be sure of them can lock a mistake in (seed 4's 7s);
    # ramped over the first third, seed 4 kept its 7s (99 errors at 70000 steps against 166 for the constant term), but seed 1
    # ended at 96 against the defaults' 94: off (BENCHMARKS.md)
    entropy_rampup: float = option(0.0, "fraction of the run over which --entropy-weight rises from near 0 along "
                                   "exp(-5(1-t)²), Laine & Aila 2017's ramp-up (0: the full weight from the start)")
    # by the learning rate's decay D's classes have settled, so a term switched on there has no early guess to lock in;
    # 0.1 from 2/3 ended seeds 0, 1, 2 at 96, 95, 88 against 89, 105, 88 on the same runs without it (93.0 against the
    # defaults' 90.3 from their runs in one piece): off (BENCHMARKS.md)
    entropy_start: float = option(0.0, "fraction of the run before which --entropy-weight is off; until then the run "
                                  "is the same as without it (0: on from the start; 0.66667: where the learning rate "
                                  "starts to decay)")
    # the improved-GAN repository's original MNIST script uses 0.001, its later one 0.003: over seeds 0-2 here 0.001
    # ended at 92, 101, 97 test errors against 100, 105, 111 with 100 labels; with 20 the other way round (BENCHMARKS.md)
    lr: float | None = option(None, "Adam learning rate of D (and of G unless --generator-lr is set; the improved-GAN "
                              "code's later MNIST script: 0.003; auto: 0.001, or 0.003 with fewer than "
                              f"{FEW_LABELS_PER_CLASS} labels per class)")
    beta1: float = option(0.5, "Adam β1 of D")
    beta2: float = option(0.999, "Adam β2 of both networks (the Bad GAN MNIST code: 0.9999)")
    # Theano's Adam in the improved-GAN code divides by sqrt(v + 1e-8): about ε = 1e-4 in torch's sqrt(v) + ε, which
    # damps the updates of weights whose gradients are mostly noise
    adam_epsilon: float = option(1e-8, "Adam ε of both networks (torch's default; the improved-GAN code's Adam is "
                                 "about 1e-4)")
    # Dai et al. 2017 ("Bad GAN") train this same feature-matching pair with G at lr 0.001 and β1 0 in their code
    generator_lr: float = option(0.0, "Adam learning rate of G (0: --lr; the Bad GAN MNIST code: 0.001)")
    generator_beta1: float = option(0.5, "Adam β1 of G (the Bad GAN MNIST code: 0)")


class SemiSupervisedData(Dataset):
    """Each sample: an unlabelled image, a second unlabelled image (for G's step), and a labelled one.

    Batches are gathered in one indexing operation (`__getitems__`): per-sample conversion was 7 ms of
    a 40 ms MNIST step. The extra draws are seeded by the batch's sample keys, so resume sees the same data.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, labelled: np.ndarray):
        self.images, self.labels, self.labelled = images, torch.from_numpy(labels.astype(np.int64)), labelled

    def __len__(self) -> int:
        return len(self.images)

    def __getitems__(self, keys: list) -> dict:
        keys = [key if isinstance(key, tuple) else (key, key) for key in keys]
        rng = np.random.default_rng([seed for _, seed in keys])
        index = np.array([i for i, _ in keys])
        other = rng.integers(len(self.images), size=len(keys))
        # labelled examples in a shuffled cycle, as the improved-GAN code does: with 100 labels and batch
        # 100, every batch holds each labelled example once
        chosen = self.labelled[np.resize(rng.permutation(len(self.labelled)), len(keys))]
        return {"x": as_float_batch(self.images[index]), "x2": as_float_batch(self.images[other]),
                "xl": as_float_batch(self.images[chosen]), "yl": self.labels[chosen]}

    def __getitem__(self, key) -> dict:
        return {name: value[0] for name, value in self.__getitems__([key]).items()}

    @staticmethod
    def collate(batch: dict) -> dict:  # __getitems__ already returns the batch
        return batch


def as_float_batch(images: np.ndarray) -> torch.Tensor:
    """uint8 N×H×W or N×H×W×3 → float (N, C, H, W) in [0, 1]."""
    batch = torch.from_numpy(np.asarray(images, dtype=np.float32) / 255.0)
    return batch[:, None] if batch.dim() == 3 else batch.permute(0, 3, 1, 2).contiguous()


def load_split(data: str, options: SemiSupervisedOptions, split: str,
               trained: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's train/test split, or class folders (`data/train`, `data/test` when present, else `data`). The test
    split is labelled by the `trained` class names (default: the class folders of the training split)."""
    if is_mnist(data):
        return load_mnist(data, split)
    root = Path(data) / split if (Path(data) / split).is_dir() else Path(data)
    # a --data that does not exist is left to load_class_folders, which says "no such folder"
    if split == "test" and root == Path(data) and root.is_dir():
        raise UserError(f"{data}: no test/ folder to evaluate on (expected {data}/test/CLASS/*.png); give the folder "
                        "that holds train/ and test/, whose train/ also gives the supervised baseline its labels")
    images, labels, names = load_class_folders(root, options.image_size, options.channels == 1,
                                               fewest_classes=1 if split == "test" else 2)
    if split == "test":  # labels are indices of the *training* classes, which test/ may not all hold
        trained = trained or training_class_names(data)
        unknown = [name for name in names if name not in trained]
        if unknown:
            raise UserError(f"{root}: class folder {unknown[0]} is not one of the training classes "
                            f"({', '.join(trained)}); rename or remove it")
        labels = np.array([trained.index(names[label]) for label in labels], np.int64)
    return images, labels


def training_root(data: str) -> Path:
    """The folder of training class folders: train/ when present, else `data` itself."""
    return Path(data) / "train" if (Path(data) / "train").is_dir() else Path(data)


def training_class_names(data: str) -> list[str]:
    """The class folders of train/ (or of `data` itself), in label order."""
    return load_class_names(training_root(data))


def _data_init(discriminator: MLPDiscriminator, images: np.ndarray, options: SemiSupervisedOptions) -> None:
    """Data-dependent init of D's weight-normalised layers on 500 random training images (the later improved-GAN
    MNIST script initialises only D this way; the original one also initialises G's weight-normalised output)."""
    chosen = np.random.default_rng(options.subset_seed).choice(len(images), min(500, len(images)), replace=False)
    discriminator.train().initialise_from_data(as_float_batch(images[np.sort(chosen)]))


def build_networks(o: SemiSupervisedOptions) -> tuple[nn.Module, nn.Module]:
    features = o.channels * o.image_size**2
    minibatch = o.generator_objective == "minibatch"
    if o.network == "mlp":
        discriminator = MLPDiscriminator(features, o.num_classes, (1000, 500, 250, 250, 250), o.input_noise,
                                         o.hidden_noise, o.weight_norm, minibatch_discrimination=minibatch,
                                         activation=o.activation, train_hidden_scale=o.train_hidden_scale,
                                         direction_std=o.direction_std, relative_hidden_noise=o.relative_hidden_noise)
        reference = o.reference_generator
        generator = MLPGenerator(o.latent_dim, features, (500, 500), norm="batch", output="sigmoid",
                                 activation="softplus" if reference else "relu", batch_norm_scale=not reference,
                                 weight_norm_output=reference)
    else:
        if o.image_size not in (32, 64):
            raise UserError("--network conv needs --image-size 32 or 64")
        discriminator = ConvClassifier(o.channels, o.num_classes, 64, 3, input_noise=o.input_noise, dropout=0.2)
        generator = DCGANGenerator(o.latent_dim, o.channels, o.image_size)
    return discriminator, generator


class SemiSupervised(Pipeline):
    name = "semisup"
    Options = SemiSupervisedOptions
    architecture_options = ("network", "image_size", "channels", "latent_dim", "weight_norm", "activation",
                            "reference_generator", "generator_objective")
    trainer_defaults = {"epochs": 300, "batch_size": 100, "workers": 0, "lr_schedule": "linear",
                        "decay_start": 2 / 3, "ema_decay": 0.999, "log_every": 200, "sample_every": 2000,
                        "save_every": 5000}
    networks = ("D", "G")
    ema_networks = ("D",)
    init_may_reset = {"D": ("head.", "the data has another number of classes than the weights")}
    export_networks = ("D", "G")
    loss_names = ("d_labelled", "d_unlabelled", "g_loss", "train_accuracy")

    def build(self) -> None:
        o = self.options
        self.images, self.labels = load_split(self.data, o, "train")
        classes = int(self.labels.max()) + 1
        # MNIST's classes are the digits, named by their labels
        self.class_names = [str(k) for k in range(classes)] if is_mnist(self.data) else training_class_names(self.data)
        if o.num_classes and o.num_classes != classes:
            raise UserError(f"--num-classes {o.num_classes} but the data has {classes} classes")
        o.num_classes = classes  # recorded in the saved options, so inference can rebuild the networks
        if self.images.ndim == 3 and o.channels != 1 or self.images.ndim == 4 and o.channels != 3:
            raise UserError(f"{self.data}: the images do not have --channels {o.channels}")
        if self.images.shape[1] != o.image_size:
            o.image_size = self.images.shape[1]
        # --labels is checked first: the auto set-up below is said from the labels per class
        self.labelled = balanced_subset(self.labels, o.labels, classes, o.subset_seed, self.class_names, self.data)
        self._resolve_auto_options(classes)
        self._say_what_folders_lose()
        for flag, weight in (("--consistency-weight", o.consistency_weight), ("--entropy-weight", o.entropy_weight),
                             ("--pull-away-weight", o.pull_away_weight)):
            if weight < 0:
                raise UserError(f"{flag} {weight}: a weight must be 0 (off) or positive")
        if not 0 <= o.label_smoothing < 1:
            raise UserError(f"--label-smoothing {o.label_smoothing}: give a share in [0, 1), e.g. 0.1 (0: off)")
        if o.pull_away_weight and o.generator_objective != "feature_matching":
            raise UserError("--pull-away-weight adds to G's feature-matching loss: drop it, or use "
                            "--generator-objective feature_matching")
        for flag, asked in (("--data-init", o.data_init), ("--direction-std", o.direction_std != 0)):
            if asked and not (o.network == "mlp" and o.weight_norm):
                raise UserError(f"{flag} acts on weight-normalised layers: it needs --network mlp with "
                                f"--weight-norm; drop {flag} for this discriminator")
        for flag, fraction in (("--entropy-rampup", o.entropy_rampup), ("--entropy-start", o.entropy_start)):
            if not 0 <= fraction <= 1:
                raise UserError(f"{flag} {fraction}: a fraction of the run must be in [0, 1]")
        if o.consistency_target == "ema" and self._trainer is not None and self._trainer.options.ema_decay == 0:
            raise UserError("--consistency-target ema compares D with its running average, which --ema-decay 0 turns "
                            "off; give --ema-decay (e.g. 0.999, the default here) or --consistency-target noisy_pass")
        if o.direction_std < 0:
            raise UserError(f"--direction-std {o.direction_std}: a length must be 0 (torch's init) or positive")
        if o.relative_hidden_noise < 0 or o.relative_hidden_noise and o.network != "mlp":
            raise UserError(f"--relative-hidden-noise {o.relative_hidden_noise}: it must be 0 (off) or positive, and "
                            "acts on the MLP discriminator only (--network mlp)")
        self.D, self.G = build_networks(o)
        if o.data_init:
            _data_init(self.D, self.images, o)
        # batch norm (conv D) and minibatch discrimination look across the batch: those Ds see each batch alone
        self.D_sees_batch = o.generator_objective == "minibatch" or o.network == "conv"
        self.last = None

    def _resolve_auto_options(self, classes: int) -> None:
        """Fill in the options left at auto, which depend on the labels per class; the saved options hold the values."""
        o = self.options
        few = o.labels < FEW_LABELS_PER_CLASS * classes
        chosen = []
        if o.lr is None:
            o.lr = 0.003 if few else 0.001
            chosen.append(f"--lr {o.lr:g}")
        if o.consistency_weight is None:
            o.consistency_weight = 0.0 if few else 1.0
            chosen.append(f"--consistency-weight {o.consistency_weight:g}")
        if few and chosen and self._trainer is not None:
            self._trainer._say(f"semisup: {o.labels} labels for {classes} classes, fewer than {FEW_LABELS_PER_CLASS} "
                               f"per class: {' '.join(chosen)} (with 2 or 3 per class on MNIST the consistency term "
                               "often put two digits in one class; BENCHMARKS.md); give either flag to choose")

    def _say_what_folders_lose(self) -> None:
        """Class folders are read at --image-size and --channels, MNIST's gray 28×28 unless told: say so when the
        images are in colour or much larger, or the run quietly learns from less than the user has."""
        o = self.options
        if is_mnist(self.data) or self._trainer is None or self._trainer.options.init:
            return  # fine-tuning takes the size and channels from the weights
        gray = o.channels == 1
        larger_choice = o.image_size < 64  # the conv networks' largest size
        found = image_losing_detail(training_root(self.data), gray, 2 * o.image_size if larger_choice else None)
        if found is None:
            return
        path, image = found
        colour = gray and is_colour(image)
        advice = ["--channels 3 to keep the colour"] if colour else []
        if larger_choice and min(image.shape[:2]) >= 2 * o.image_size:
            advice.append(f"{'--network conv ' * (o.network != 'conv')}--image-size 64 to keep more detail")
        self._trainer._say(f"semisup: {path} is a {image.shape[1]}×{image.shape[0]}{' colour' * colour} image, read here "
                           f"as {'gray ' * gray}{o.image_size}×{o.image_size}: give {' and '.join(advice)}")

    def dataset(self) -> SemiSupervisedData:
        return SemiSupervisedData(self.images, self.labels, self.labelled)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        o = self.options
        return {"D": adam(self.D.parameters(), o.lr, (o.beta1, o.beta2), o.adam_epsilon),
                "G": adam(self.G.parameters(), o.generator_lr or o.lr, (o.generator_beta1, o.beta2), o.adam_epsilon)}

    def generate(self, count: int) -> torch.Tensor:
        z = torch.rand(count, self.options.latent_dim, device=self.device)
        return _as_images(self.G(z), self.options)

    def entropy_weight_at(self, step: int) -> float:
        """--entropy-weight at this step: 0 before --entropy-start, Laine & Aila's exp(-5(1-t)²) over the ramp-up,
        then constant."""
        o = self.options
        if step < int(o.entropy_start * self.total_steps):  # as the trainer places --decay-start
            return 0.0
        rampup_steps = o.entropy_rampup * self.total_steps
        if rampup_steps <= 0 or step >= rampup_steps:
            return o.entropy_weight
        return o.entropy_weight * math.exp(-5 * (1 - step / rampup_steps) ** 2)

    @torch.no_grad()
    def _teacher_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The averaged D's logits on x with its training noise on (Mean Teacher's teacher sees its own noise). Its
        buffers are put back: a batch-norm D in training mode would otherwise move the average's running statistics."""
        teacher = self._trainer.ema["D"].module
        was_training, buffers = teacher.training, [buffer.clone() for buffer in teacher.buffers()]
        logits = teacher.train()(x).float()
        teacher.train(was_training)
        for buffer, saved in zip(teacher.buffers(), buffers):
            buffer.copy_(saved)
        return logits

    def train_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        o = self.options
        x, x2, xl, yl = batch["x"], batch["x2"], batch["xl"], batch["yl"]
        # Discriminator: K-class cross-entropy on labelled data; real/fake through log Z = logsumexp(logits).
        # With --consistency-weight, the real batch goes through D twice (its noise differs between the passes), or
        # through D and, without a gradient, its running average (--consistency-target ema).
        with self.autocast():
            with torch.no_grad():  # D's step never reaches back into G, so no graph through G
                fake = self.generate(len(x))
            second_pass = o.consistency_weight > 0 and o.consistency_target == "noisy_pass"
            batches = [xl, x, fake] + ([x] if second_pass else [])
            if self.D_sees_batch:
                logits = [self.D(batch).float() for batch in batches]
            else:  # one pass over all the batches: identical result, larger and fewer matrix products
                logits = self.D(torch.cat(batches)).float().split([len(batch) for batch in batches])
            logits_labelled, logits_real, logits_fake = logits[:3]
            log_z_real, log_z_fake = torch.logsumexp(logits_real, 1), torch.logsumexp(logits_fake, 1)
            d_labelled = F.cross_entropy(logits_labelled, yl, label_smoothing=o.label_smoothing)
            d_unlabelled = 0.5 * (F.softplus(-log_z_real).mean() + F.softplus(log_z_fake).mean())
            d_loss = d_labelled + o.unsupervised_weight * d_unlabelled
            if o.consistency_weight > 0:
                d_consistency = consistency_loss(logits_real, logits[3] if second_pass else self._teacher_logits(x))
                d_loss = d_loss + o.consistency_weight * d_consistency
            if o.entropy_weight > 0:  # the implicit fake class is left out: only which real class is unsure
                d_entropy = torch.distributions.Categorical(logits=logits_real).entropy().mean()
                if entropy_weight := self.entropy_weight_at(step):  # logged before its start, left out of the loss
                    d_loss = d_loss + entropy_weight * d_entropy
        self.optimize("D", d_loss)

        # Generator: match D's mean last-layer features on real data (or fool D: −log D(G(z))).
        # cached: D's weight-normalised weights are computed once for both of its calls below
        with self.frozen(self.D), self.autocast(), parametrize.cached():
            fake = self.generate(len(x))
            if o.generator_objective == "feature_matching":
                with torch.no_grad():  # targets only: no graph through the real batch
                    _, real_features = self.D(x2, return_features=True)
                _, fake_features = self.D(fake, return_features=True)
                g_loss = feature_matching_loss(real_features, fake_features)
                if o.pull_away_weight > 0:
                    g_pull_away = pull_away_term(fake_features[-1])
                    g_loss = g_loss + o.pull_away_weight * g_pull_away
            else:
                g_loss = F.softplus(-torch.logsumexp(self.D(fake).float(), 1)).mean()
        self.optimize("G", g_loss)
        self.last = fake[:64].detach().float()
        accuracy = (logits_labelled.argmax(1) == yl).float().mean()
        losses = {"d_labelled": d_labelled.detach(), "d_unlabelled": d_unlabelled.detach(), "g_loss": g_loss.detach(),
                  "train_accuracy": accuracy.detach()}
        if o.consistency_weight > 0:
            losses["d_consistency"] = d_consistency.detach()
        if o.entropy_weight > 0:
            losses["d_entropy"] = d_entropy.detach()
        if o.pull_away_weight > 0:
            losses["g_pull_away"] = g_pull_away.detach()
        return losses

    def visuals(self) -> dict[str, torch.Tensor]:
        return {"samples": self.last} if self.last is not None else {}

    def state_dict(self) -> dict:
        return {"labelled_indices": torch.from_numpy(self.labelled)}

    card_keys = ("class_names", "mnist_digits")

    def card_extras(self) -> dict:
        # predictions then name the class folder, not its index; a classifier of MNIST reads files as MNIST digits
        return {"class_names": self.class_names, **({"mnist_digits": True} if is_mnist(self.data) else {})}

    def load_state_dict(self, state: dict) -> None:
        saved = state["labelled_indices"].numpy()
        if not np.array_equal(saved, self.labelled):
            raise UserError("the labelled subset of this run differs from the one its options pick now; "
                            "was the data changed?")

    # --- inference ------------------------------------------------------------------------------
    @classmethod
    def inference_networks(cls, options: SemiSupervisedOptions, data: str) -> nn.ModuleDict:
        discriminator, generator = build_networks(options)
        return nn.ModuleDict({"D": discriminator, "G": generator})

    @classmethod
    def export_example(cls, options: SemiSupervisedOptions) -> tuple[str, torch.Tensor]:
        # the classifier is what deploys: images in [0, 1] → K class logits (noise is off in eval mode)
        return "D", torch.rand(2, options.channels, options.image_size, options.image_size)

    @classmethod
    def infer(cls, networks, options, inputs: list[str], out_dir: Path, seed: int = 0, card: dict | None = None,
              **_) -> list[Path]:
        """Classify image files (written to OUT/predictions.csv, each with its class index and name; weights trained
        on MNIST first size and centre each image's digit as MNIST's are); `sample` as the only input draws 64
        generator samples instead."""
        import csv
        import io

        out_dir = Path(out_dir)
        if inputs == ["sample"]:
            torch.manual_seed(seed)
            with torch.no_grad():
                images = _as_images(networks["G"](torch.rand(64, options.latent_dim)), options)
            return [save_image(sample_grid(images), out_dir / "samples.png")]
        names = class_names(card, options)
        table = io.StringIO()
        writer = csv.writer(table, lineterminator="\n")  # quotes file and class names that hold commas
        writer.writerow(["file", "class", "class_name", "probability", "real_score"])
        for path in inputs:
            image = read_image(path)
            if (card or {}).get("mnist_digits"):  # sized and centred as MNIST's, whatever its size and polarity
                image = as_mnist_digit(image)
                if image is None:
                    raise UserError(f"{path}: no digit in it (the image is one flat shade); draw or crop one and retry")
            probabilities, real = classify(networks["D"], image, options)
            best = int(probabilities.argmax())
            writer.writerow([path, best, names[best], f"{probabilities.max():.4f}", f"{real:.4f}"])
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "predictions.csv").write_text(table.getvalue())
        print(table.getvalue(), end="")
        return [out_dir / "predictions.csv"]

    @classmethod
    def evaluate(cls, networks, options, data: str, seed: int = 0, baseline_steps: int = 2000,
                 judge_steps: int = 2000, card: dict | None = None, **_) -> dict:
        """Test errors (count and %), per-class accuracy and the most frequent mistakes, the spread of D's hidden
        activations (MLP D), the same classifier trained on the labelled subset alone (supervised baseline) for
        contrast, and a score of G's samples by a judge trained on all labels."""
        saved_names = (card or {}).get("class_names")  # weights trained before they were saved have none
        images, labels = load_split(data, options, "test", trained=saved_names)
        names = class_names(card, options)
        predicted = _predict(networks["D"], images)
        errors, per_class = _test_errors(predicted, labels, options)
        metrics = {"data": str(data), "labels": options.labels, "test_images": len(labels), "test_errors": errors,
                   "test_error_percent": round(100 * errors / len(labels), 3),
                   "per_class_accuracy": [None if a is None else round(a, 4) for a in per_class],
                   "top_confusions": _top_confusions(predicted, labels, names)}
        if not is_mnist(data):
            metrics["class_names"] = names  # per_class_accuracy's order
        if isinstance(networks["D"], MLPDiscriminator):
            metrics["hidden_activation_std"] = _hidden_activation_std(networks["D"], images[:1000])
        judge = judge_steps > 0 and "G" in networks
        if baseline_steps > 0 or judge:
            train_images, train_labels = load_split(data, options, "train")
        if baseline_steps > 0:
            baseline = _supervised_baseline(train_images, train_labels, options, baseline_steps, seed)
            baseline_errors, _ = _test_errors(_predict(baseline, images), labels, options)
            metrics.update({"supervised_baseline_errors": baseline_errors, "supervised_baseline_steps": baseline_steps})
        if judge:
            metrics.update(_judge_samples(networks["G"], options, judge_steps, seed, (train_images, train_labels),
                                          (images, labels)))
        return metrics


def class_names(card: dict | None, options: SemiSupervisedOptions) -> list[str]:
    """The class names saved with the weights; the indices as names for weights trained before they were saved."""
    names = (card or {}).get("class_names")
    return names if names and len(names) == options.num_classes else [str(k) for k in range(options.num_classes)]


def _as_images(flat: torch.Tensor, options: SemiSupervisedOptions) -> torch.Tensor:
    images = flat.view(-1, options.channels, options.image_size, options.image_size)
    return (images + 1) / 2 if options.network == "conv" else images  # DCGAN's tanh → [0, 1]


def sample_grid(images: torch.Tensor, columns: int = 8) -> np.ndarray:
    """(N, C, H, W) in [0, 1] → one uint8 RGB grid image."""
    from torchvision.utils import make_grid

    grid = make_grid(images.float().cpu().clamp(0, 1), nrow=columns, padding=2, pad_value=1.0)
    return (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def classify(discriminator: nn.Module, image: np.ndarray, options: SemiSupervisedOptions) -> tuple[np.ndarray, float]:
    """(class probabilities, real score D(x) = Z/(Z+1)) of one uint8 image of any size."""
    import cv2

    if image.ndim == 3 and options.channels == 1:
        image = cv2.cvtColor(image[..., :3], cv2.COLOR_RGB2GRAY)
    elif image.ndim == 2 and options.channels == 3:
        image = np.repeat(image[..., None], 3, 2)
    image = cv2.resize(image, (options.image_size, options.image_size), interpolation=cv2.INTER_AREA)
    with torch.no_grad():
        logits = discriminator.eval()(as_float_batch(image[None]).to(next(discriminator.parameters()).device))[0].float()
    return torch.softmax(logits, 0).cpu().numpy(), torch.sigmoid(torch.logsumexp(logits, 0)).item()


@torch.no_grad()
def _predict(discriminator: nn.Module, images: np.ndarray) -> np.ndarray:
    discriminator.eval()
    device = next(discriminator.parameters()).device
    predictions = []
    # batches of 100, as in training: a minibatch-discrimination D's features grow with the batch size
    for start in range(0, len(images), 100):
        batch = as_float_batch(images[start:start + 100]).to(device)
        predictions.append(discriminator(batch).argmax(1).cpu())
    return torch.cat(predictions).numpy()


def _test_errors(predicted: np.ndarray, labels: np.ndarray, options) -> tuple[int, list[float | None]]:
    # None for a class the test set does not hold (a user's test/ folder may leave some out)
    per_class = [float((predicted[labels == k] == k).mean()) if (labels == k).any() else None
                 for k in range(options.num_classes)]
    return int((predicted != labels).sum()), per_class


def _top_confusions(predicted: np.ndarray, labels: np.ndarray, names: list[str], count: int = 5) -> list[str]:
    """The most frequent mistakes as "true->predicted: n", most first: a run whose one cluster of a class
    settled under another class's label shows up at the top (BENCHMARKS.md: 7->2)."""
    wrong = predicted != labels
    pairs, counts = np.unique(np.stack([labels[wrong], predicted[wrong]]), axis=1, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:count]
    return [f"{names[pairs[0, i]]}->{names[pairs[1, i]]}: {counts[i]}" for i in order]


@torch.no_grad()
def _hidden_activation_std(discriminator: MLPDiscriminator, images: np.ndarray) -> list[float]:
    """The std of each hidden layer's output on `images`, noise off. Set against --hidden-noise's σ it says how
    much the training noise still perturbs D: learned weight-norm scales let D outgrow it (BENCHMARKS.md)."""
    discriminator.eval()
    hidden, spreads = as_float_batch(images).to(next(discriminator.parameters()).device).flatten(1), []
    for layer in discriminator.body:
        hidden = layer(hidden)
        if isinstance(layer, (nn.ReLU, nn.LeakyReLU)):
            spreads.append(round(hidden.float().std().item(), 3))
    return spreads


def _supervised_baseline(images: np.ndarray, labels: np.ndarray, options: SemiSupervisedOptions, steps: int,
                         seed: int) -> nn.Module:
    """The same classifier trained on the labelled subset alone (cross-entropy, same noise and optimiser)."""
    labelled = balanced_subset(labels, options.labels, options.num_classes, options.subset_seed)
    return _train_classifier(images[labelled], labels[labelled], options, steps, seed,
                             init_images=images if options.data_init else None)


def _train_classifier(images: np.ndarray, labels: np.ndarray, options: SemiSupervisedOptions, steps: int, seed: int,
                      init_images: np.ndarray | None = None) -> nn.Module:
    """D's network trained by cross-entropy alone on (images, labels), in batches of 100."""
    targets = torch.from_numpy(labels.astype(np.int64))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        classifier, _ = build_networks(options)
        if init_images is not None:
            _data_init(classifier, init_images, options)
        optimizer = adam(classifier.parameters(), options.lr, (options.beta1, options.beta2), options.adam_epsilon)
        classifier.train()
        for _ in range(steps):
            batch = torch.randint(len(images), (min(100, len(images)),))
            loss = F.cross_entropy(classifier(as_float_batch(images[batch.numpy()])), targets[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return classifier.eval()


def sample_score(probabilities: torch.Tensor) -> float:
    """exp(E_x KL(p(y|x) ‖ p(y))) of a judge's class probabilities for generated samples (the Inception
    score's formula): K when each sample is confidently one class and the classes are balanced, 1 when the
    judge cannot tell what the samples are or they are all one class."""
    marginal = probabilities.mean(0, keepdim=True)
    log_ratio = probabilities.clamp_min(1e-12).log() - marginal.clamp_min(1e-12).log()
    return (probabilities * log_ratio).sum(1).mean().exp().item()


def _judge_samples(generator: nn.Module, options: SemiSupervisedOptions, steps: int, seed: int,
                   train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                   count: int = 10_000) -> dict:
    """How good and varied G's samples are, read by a judge: a feature-matching-architecture classifier
    trained on *all* training labels (the same judge for every run of a dataset, whatever its objective).
    The paper compares its two generator objectives by looking at samples; this puts a number on it."""
    # default options (feature matching, no data init): the run's own D choices must not change the judge
    judge_options = SemiSupervisedOptions(network=options.network, image_size=options.image_size,
                                          channels=options.channels, num_classes=options.num_classes, lr=0.001)
    judge = _train_classifier(*train, judge_options, steps, seed)
    judge_errors, _ = _test_errors(_predict(judge, test[0]), test[1], options)
    generator.eval()
    device = next(generator.parameters()).device
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        probabilities = torch.cat([torch.softmax(judge(_as_images(generator(torch.rand(
            100, options.latent_dim, device=device)), options).float().cpu()), 1) for _ in range(count // 100)])
    fractions = torch.bincount(probabilities.argmax(1), minlength=options.num_classes) / len(probabilities)
    return {"sample_score": round(sample_score(probabilities), 3), "samples_judged": len(probabilities),
            "sample_judge_confidence": round(probabilities.max(1).values.mean().item(), 4),
            "sample_class_fractions": [round(f, 4) for f in fractions.tolist()],
            "judge_test_errors": judge_errors, "judge_steps": steps}
