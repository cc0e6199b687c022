"""CPU kernels compile with LLVM's SLP vectoriser; nothing else in the process does.

The partial sums of a fused pairwise sum become vector additions (``fadd <2 x
double>`` or wider) in the kernel's LLVM IR, called from Python or from
``@njit`` code, with NumPy's bits; Numba's global setting is the same after
the compile, also when it fails, and functions compiled outside stay scalar.
"""

import re
import threading

import numba
import numpy as np
import pytest
from numba.core import config
from numba.core.compiler_lock import global_compiler_lock

from numbavmap import vmap
from numbavmap.targets.slp import slp_vectorized

pytestmark = pytest.mark.skipif(
    config.OPT == 0 or config.SLP_VECTORIZE,
    reason="LLVM vectorises nothing at NUMBA_OPT=0; NUMBA_SLP_VECTORIZE=1 vectorises everything")

VECTOR_ADD = re.compile(r"fadd <\d+ x double>")


def sum_of_squares(v):
    return np.sum(v**2)


SUM_OF_SQUARES = vmap(sum_of_squares)


@numba.njit
def sums_from_njit(x):
    return SUM_OF_SQUARES(x)


def two_partials(a):
    """Two independent sums: what SLP packs into one vector addition."""
    p = q = 0.0
    for k in range(0, a.shape[0], 2):
        p += a[k]
        q += a[k + 1]
    return p, q


def llvm(dispatcher) -> str:
    return "\n".join(dispatcher.inspect_llvm().values())


def rows(n=30, size=200):
    return np.random.default_rng(n + size).standard_normal((n, size)) * 1e3 + 1


def test_a_fused_pairwise_sum_compiles_to_vector_additions_with_numpys_bits():
    x = rows()
    result = SUM_OF_SQUARES(x)
    assert config.SLP_VECTORIZE == 0
    (kernel,) = SUM_OF_SQUARES._kernels.values()
    assert VECTOR_ADD.search(llvm(kernel))
    assert result.tobytes() == np.array([np.sum(row**2) for row in x]).tobytes()


def test_the_kernel_called_from_njit_code_is_vectorised_too():
    x = rows(7)
    result = sums_from_njit(x)
    assert config.SLP_VECTORIZE == 0
    assert VECTOR_ADD.search(llvm(sums_from_njit))
    assert result.tobytes() == np.array([np.sum(row**2) for row in x]).tobytes()


def test_functions_compiled_outside_a_kernel_stay_scalar():
    SUM_OF_SQUARES(rows())
    outside = numba.njit(two_partials)
    outside(np.ones(4))
    assert not VECTOR_ADD.search(llvm(outside))
    inside = numba.njit(two_partials)
    with slp_vectorized():
        inside(np.ones(4))
    assert VECTOR_ADD.search(llvm(inside))


def test_the_setting_is_restored_when_the_compile_fails():
    with pytest.raises(ZeroDivisionError), slp_vectorized():
        assert config.SLP_VECTORIZE == 1
        raise ZeroDivisionError
    assert config.SLP_VECTORIZE == 0


def test_compiles_in_other_threads_wait_for_the_kernel():
    acquired = []

    def try_to_compile():  # what every Numba compile does first
        acquired.append(global_compiler_lock._lock.acquire(blocking=False))

    with slp_vectorized():
        thread = threading.Thread(target=try_to_compile)
        thread.start()
        thread.join()
    assert acquired == [False]
