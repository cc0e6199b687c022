"""LLVM's SLP vectoriser for numbavmap's CPU kernels, and for nothing else.

A fused float sum keeps 8 independent partial sums (``lower/pairwise.py``)
that LLVM's SLP (superword-level parallelism) vectoriser packs into SIMD
additions. Numba leaves that pass off (``NUMBA_SLP_VECTORIZE=0``): its
codegen reads ``numba.core.config.SLP_VECTORIZE`` each time it builds a pass
pipeline, that is while a compile optimises its modules and finalizes its
library. ``compiling_with_slp(dispatcher)`` makes every compile of a kernel
dispatcher (its first call from Python, its typing from ``@njit`` code, a
load from Numba's cache) set the flag for that compile only: the
per-example function, already compiled when the kernel is, is vectorised
only where the kernel's module inlines it.

The flag is set while holding Numba's global compiler lock, which every
Numba compile takes, so a function compiled in another thread meanwhile
waits and then sees the process's own setting; it is restored however the
compile ends. Without fast-math flags SLP neither reassociates nor
contracts (it only packs independent lanes), so results are the same bits
(tests/test_pairwise_sums.py).
"""

from __future__ import annotations

import contextlib

from numba.core import config
from numba.core.compiler_lock import global_compiler_lock


@contextlib.contextmanager
def slp_vectorized():
    """Numba compiles with LLVM's SLP vectoriser in this block (compiles in other
    threads wait for it to end)."""
    with global_compiler_lock:
        before = config.SLP_VECTORIZE
        config.SLP_VECTORIZE = 1
        try:
            yield
        finally:
            config.SLP_VECTORIZE = before


def compiling_with_slp(dispatcher):
    """``dispatcher``, each of whose compiles runs in :func:`slp_vectorized`."""
    compile_signature = dispatcher.compile

    def compile_with_slp(signature):
        with slp_vectorized():
            return compile_signature(signature)

    dispatcher.compile = compile_with_slp
    return dispatcher
