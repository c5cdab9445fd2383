"""GAN building blocks that import with torch alone: networks, layers, losses and tricks.

Use them in your own training loop, or through `translate.train`.
"""

from .discriminators import (ConvClassifier, MLPDiscriminator, MultiScaleDiscriminator, PatchGAN, PixelGAN,
                             SRDiscriminator)
from .generators import (DCGANGenerator, MLPGenerator, ResidualBlock, ResnetGenerator, SRResNet, UNetGenerator,
                         pad_to_multiple)
from .layers import (GaussianNoise, MinibatchDiscrimination, VirtualBatchNorm, WithReferenceBatch,
                     apply_spectral_norm, conv_bias, count_parameters, init_weights, norm_layer, upsample_layer)
from .losses import (ADVERSARIAL_LOSSES, PENALTIES, AdversarialLoss, InstanceNoise, PerceptualLoss,
                     adversarial_loss, clip_weights_, consistency_loss, discriminator_feature_loss, dragan_penalty,
                     feature_matching_loss, gradient_penalty, pull_away_term, r1_penalty, total_variation,
                     wgan_gp_penalty)
from .superres import MSRResNet, RRDBNet, SRVGGNetCompact
from .tricks import HistoricalAveraging, ImagePool, exponential_moving_average, initialise_from_data

__all__ = [name for name in dir() if not name.startswith("_")]
