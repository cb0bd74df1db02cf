"""Simulation: forward projection, phantoms and noise."""

from .noise import add_poisson_noise
from .phantom import shepp_logan
from .project import project

__all__ = ["project", "shepp_logan", "add_poisson_noise"]
