"""Reading Data Exchange files (through dxchange), raw, and writing results safely."""

from .dataexchange import RawProjections, projections_shape, read_raw
from .output import OutputDir, StackWriter, write_stack

__all__ = ["RawProjections", "read_raw", "projections_shape", "OutputDir", "StackWriter", "write_stack"]
