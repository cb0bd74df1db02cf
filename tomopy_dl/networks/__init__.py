"""Neural networks, kept apart from the physics and the solvers that train them."""

from .ganrec import Discriminator, Generator

__all__ = ["Generator", "Discriminator"]
