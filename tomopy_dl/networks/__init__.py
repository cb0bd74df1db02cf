"""Neural networks, kept apart from the physics and the solvers that train them."""

from .ganrec import Discriminator, Generator, PixelGenerator, ProjectionDiscriminator
from .jitter import JitterResNet, network_input

__all__ = ["Generator", "PixelGenerator", "Discriminator", "ProjectionDiscriminator", "JitterResNet", "network_input"]
