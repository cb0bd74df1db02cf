"""Reading Data Exchange files (through dxchange) and writing results safely."""

from .dataexchange import projections_shape, read_projections
from .example import write_example_dataexchange
from .output import OutputDir, StackWriter, write_stack

__all__ = [
    "read_projections",
    "projections_shape",
    "write_example_dataexchange",
    "OutputDir",
    "StackWriter",
    "write_stack",
]
