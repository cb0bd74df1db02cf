"""Simulation: forward projection, phantoms, test objects, jitter, noise and an example scan file."""

from .example import write_example_dataexchange
from .forward import project
from .jitter import add_jitter
from .noise import add_poisson_noise, add_salt_and_pepper
from .objects import make_object, shepp3d
from .phantom import shepp_logan

__all__ = [
    "project",
    "shepp_logan",
    "shepp3d",
    "make_object",
    "add_poisson_noise",
    "add_salt_and_pepper",
    "add_jitter",
    "write_example_dataexchange",
]
