"""Hand-written numba-cuda kernels for the GPU section (``asv_benchmarks.gpu``).

One thread per example over a grid-stride loop: what ``vmap(f, target="cuda")``
should match. Importing this module imports numba.cuda.
"""

import numpy as np
from numba import cuda

from asv_benchmarks.workloads import MAX_ITER


@cuda.jit
def sum_of_squares_rows(X, out):
    for i in range(cuda.grid(1), X.shape[0], cuda.gridsize(1)):
        acc = np.float32(0)
        for j in range(X.shape[1]):
            acc += X[i, j] * X[i, j]
        out[i] = acc


@cuda.jit
def escape_counts(C, out):
    for i in range(cuda.grid(1), C.shape[0], cuda.gridsize(1)):
        c = C[i]
        z = np.complex64(0)
        n = 0
        while n < MAX_ITER and z.real * z.real + z.imag * z.imag <= np.float32(4.0):
            z = z * z + c
            n += 1
        out[i] = n


#: Per-example function name -> (kernel, output dtype).
KERNELS = {"sum_of_squares": (sum_of_squares_rows, np.float32),
           "escape_count": (escape_counts, np.int64)}
