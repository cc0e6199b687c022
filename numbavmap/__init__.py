"""numbavmap: ``jax.vmap`` for NumPy + Numba.

Write a function for one example; ``vmap`` runs it over a batch in a
compiled, parallel Numba kernel.
"""

__version__ = "0.1.0"

from .api import VmappedFunction, vmap
from .errors import CompileError

__all__ = ["vmap", "VmappedFunction", "CompileError"]
