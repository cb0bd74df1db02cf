"""Neural networks, kept apart from the physics and the solvers that train them."""

from .ganrec import Discriminator, Generator, ImageCorrection, ProjectionDiscriminator
from .jitter import JitterResNet, network_input
from .unet import UNet

__all__ = [
    "Generator",
    "ImageCorrection",
    "Discriminator",
    "ProjectionDiscriminator",
    "JitterResNet",
    "network_input",
    "UNet",
]
