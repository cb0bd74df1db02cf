"""Neural networks, kept apart from the physics and the solvers that train them."""

from .ganrec import Discriminator, Generator
from .jitter import JitterResNet, network_input

__all__ = ["Generator", "Discriminator", "JitterResNet", "network_input"]
