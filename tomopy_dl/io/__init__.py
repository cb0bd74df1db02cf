"""Reading Data Exchange files (through dxchange) and writing results safely."""

from .dataexchange import read_projections
from .example import write_example_dataexchange
from .output import OutputDir, write_stack

__all__ = ["read_projections", "write_example_dataexchange", "OutputDir", "write_stack"]
