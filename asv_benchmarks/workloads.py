"""The benchmark workloads and every implementation they are timed with.

One module, shared by the asv suites (``asv_benchmarks/benchmarks/``), the
side-by-side script (``python -m asv_benchmarks.compare``) and the tests
(``tests/test_benchmarks.py``), so that all three time and check the same code.

A workload is a per-example function written NumPy-style, as a user writes it
for ``numbavmap.vmap``, plus its inputs. W1-W7 are one-line reductions and
classic kernels; R1-R11 are realistic per-example code (a neural-network
layer, rotations, a quadratic form, statistics, softmax, a linear solve,
standardization, a running sum, logsumexp, sigmoid). Their implementations:

==================== =========================================================
numbavmap            ``numbavmap.vmap(f, ...)`` of the NumPy-style function
python_loop          a Python ``for`` loop calling ``f`` (timed on a sample,
                     scaled; W workloads only)
np_vectorize         ``np.vectorize(f, signature=...)`` (likewise)
numpy                the best hand-vectorized NumPy expression (also the
                     reference)
guvectorize          ``numba.guvectorize(target="parallel")`` calling
                     ``njit(f)``
hand                 ``@njit(parallel=True)`` ``prange`` kernel calling
                     ``njit(f)``
hand_loops           the same kernel with ``f`` written as explicit scalar
                     loops, writing array results in place: the practical
                     ceiling
jax                  ``jax.jit(jax.vmap(f))``, float64 on CPU (when jax
                     imports), ``f`` the same function with ``np`` bound to
                     ``jax.numpy``; its inputs are JAX arrays made once
                     before timing, and each call waits for its result
                     (``block_until_ready``)
jax (NumPy in/out)   the same compiled function called on NumPy arrays, its
                     result converted with ``np.asarray``: host copies included
cdist                ``scipy.spatial.distance.cdist`` (W6 only)
==================== =========================================================

:func:`prepare` builds one implementation, converts the inputs it takes
(:func:`adapt`), runs it once and checks its result against the reference
before anything is timed; :func:`measure` times it. Compiled functions are
built once per process and shared (``functools.cache``).
"""

from __future__ import annotations

import functools
import re
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numba import guvectorize, njit, prange

MAX_ITER = 256
SEED = 2024

NUMBAVMAP = "numbavmap"
PYTHON_LOOP = "python_loop"
NP_VECTORIZE = "np_vectorize"
NUMPY = "numpy"
GUVECTORIZE = "guvectorize"
HAND = "hand"
HAND_LOOPS = "hand_loops"
JAX = "jax"
JAX_NUMPY_IO = "jax (NumPy in/out)"
#: ``vmap(f, fastmath=True)``: exp, log and tanh within 1 ulp, vectorised, and
#: np.linalg.solve written out (docs/user-guide/accuracy.md); timed on the
#: exp-heavy R workloads and on R7.
NUMBAVMAP_FASTMATH = "numbavmap (fastmath=True)"
CDIST = "cdist"

#: Implementations that run Python per example: timed on a sample, scaled.
PYTHON_LEVEL = (PYTHON_LOOP, NP_VECTORIZE)


class Unavailable(NotImplementedError):
    """This implementation cannot run here (asv skips a benchmark on it)."""


# --- per-example functions, NumPy-style, as a user writes them ---------------


def sum_of_squares(v):
    return np.sum(v**2)


def distance(x, y):
    return np.sqrt(np.sum((x - y) ** 2))


def normalize(v):
    return v / np.sqrt(np.sum(v * v))


def escape_count(c):
    z = 0j
    n = 0
    while n < MAX_ITER and z.real * z.real + z.imag * z.imag <= 4.0:
        z = z * z + c
        n += 1
    return n


def dense_relu(x, W, b):
    return np.maximum(x @ W + b, 0.0)


def rotate(R, v):
    return R @ v


def quadratic_form(x, A):
    return x @ A @ x


def variance(x):
    return np.var(x)


def softmax(x):
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


def solve3(A, b):
    return np.linalg.solve(A, b)


def standardize(x, mu, sd):
    return (x - mu) / sd


def running_sum(x):
    return np.cumsum(x)


def logsumexp(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# --- the same, as explicit scalar loops (the "hand_loops" ceiling) ------------
# Array results are written into ``out``, the example's row of the output.


@njit
def sum_of_squares_loops(v):
    acc = 0.0
    for j in range(v.shape[0]):
        acc += v[j] * v[j]
    return acc


@njit
def distance_loops(x, y):
    acc = 0.0
    for j in range(x.shape[0]):
        d = x[j] - y[j]
        acc += d * d
    return np.sqrt(acc)


@njit
def normalize_loops_into(out, v):
    acc = 0.0
    for j in range(v.shape[0]):
        acc += v[j] * v[j]
    norm = np.sqrt(acc)
    for j in range(v.shape[0]):
        out[j] = v[j] / norm


@njit
def dense_relu_loops_into(out, x, W, b):
    out[:] = 0.0
    for j in range(W.shape[0]):  # row by row of W: the inner loop is contiguous
        xj = x[j]
        for k in range(W.shape[1]):
            out[k] += xj * W[j, k]
    for k in range(W.shape[1]):
        out[k] = max(out[k] + b[k], 0.0)


@njit
def rotate_loops_into(out, R, v):
    for r in range(R.shape[0]):
        acc = 0.0
        for c in range(R.shape[1]):
            acc += R[r, c] * v[c]
        out[r] = acc


@njit
def quadratic_form_loops(x, A):
    acc = 0.0
    for r in range(A.shape[0]):
        row = 0.0
        for c in range(A.shape[1]):
            row += A[r, c] * x[c]
        acc += x[r] * row
    return acc


@njit
def variance_loops(x):
    mean = 0.0
    for j in range(x.shape[0]):
        mean += x[j]
    mean /= x.shape[0]
    acc = 0.0
    for j in range(x.shape[0]):
        d = x[j] - mean
        acc += d * d
    return acc / x.shape[0]


@njit
def softmax_loops_into(out, x):
    m = x[0]
    for j in range(1, x.shape[0]):
        m = max(m, x[j])
    total = 0.0
    for j in range(x.shape[0]):
        e = np.exp(x[j] - m)
        out[j] = e
        total += e
    for j in range(x.shape[0]):
        out[j] /= total


@njit
def _det3(a, b, c, d, e, f, g, h, i):
    return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)


@njit
def solve3_loops_into(out, A, b):
    """Cramer's rule, written out for 3x3 (the inputs are well conditioned)."""
    det = _det3(A[0, 0], A[0, 1], A[0, 2], A[1, 0], A[1, 1], A[1, 2], A[2, 0], A[2, 1], A[2, 2])
    out[0] = _det3(b[0], A[0, 1], A[0, 2], b[1], A[1, 1], A[1, 2], b[2], A[2, 1], A[2, 2]) / det
    out[1] = _det3(A[0, 0], b[0], A[0, 2], A[1, 0], b[1], A[1, 2], A[2, 0], b[2], A[2, 2]) / det
    out[2] = _det3(A[0, 0], A[0, 1], b[0], A[1, 0], A[1, 1], b[1], A[2, 0], A[2, 1], b[2]) / det


@njit
def standardize_loops_into(out, x, mu, sd):
    for j in range(x.shape[0]):
        out[j] = (x[j] - mu[j]) / sd[j]


@njit
def running_sum_loops_into(out, x):
    acc = 0.0
    for j in range(x.shape[0]):
        acc += x[j]
        out[j] = acc


@njit
def logsumexp_loops(x):
    m = x[0]
    for j in range(1, x.shape[0]):
        m = max(m, x[j])
    total = 0.0
    for j in range(x.shape[0]):
        total += np.exp(x[j] - m)
    return m + np.log(total)


@njit
def sigmoid_loops_into(out, x):
    for j in range(x.shape[0]):
        out[j] = 1.0 / (1.0 + np.exp(-x[j]))


# --- hand-written prange kernels, one factory per kind of loop -----------------
# The per-example function is a closure variable: Numba freezes it into the
# kernel, so calling the kernel costs no more than calling any @njit function.
# The output is allocated by NumPy, as numbavmap allocates its outputs: for
# large arrays NumPy asks the kernel for huge pages and Numba's allocator does
# not, and on a virtual machine the difference in page faults alone can be
# several times the loop's own time (W4: 100 MB of output).
# The first ``mapped`` arguments carry the batch on axis 0; the rest are
# passed whole to every example (``example_args``).


@njit
def _one_mapped(i, X, *unmapped):
    return (X[i], *unmapped)


@njit
def _two_mapped(i, X, Y, *unmapped):
    return (X[i], Y[i], *unmapped)


#: ``example_args[mapped](i, *args)``: example ``i``'s arguments.
example_args = {1: _one_mapped, 2: _two_mapped}


def numpy_allocated(fill, out_like):
    """A kernel that calls ``fill(out, *args)`` on ``out = out_like(*args)``."""

    def kernel(*args):
        out = out_like(*args)
        fill(out, *args)
        return out

    return kernel


def rows_kernel(f, dtype, mapped=1):
    """``out[i] = f(X[i], ..., *unmapped)``: a scalar per example."""
    take = example_args[mapped]

    @njit(parallel=True)
    def fill(out, *args):
        for i in prange(out.shape[0]):
            out[i] = f(*take(i, *args))

    return numpy_allocated(fill, lambda X, *rest: np.empty(X.shape[0], dtype))


def serial_rows_kernel(f):
    """``out[i] = f(X[i])`` as one bare serial ``@njit`` function (W7's floor)."""

    @njit
    def kernel(X):
        out = np.empty(X.shape[0])
        for i in range(X.shape[0]):
            out[i] = f(X[i])
        return out

    return kernel


def like_first(X, *rest):
    """An uninitialised array shaped as the first argument (the default output)."""
    return np.empty_like(X)


def like_last(*args):
    """An uninitialised array shaped as the last argument (``A @ v``, ``solve(A, b)``)."""
    return np.empty_like(args[-1])


def rows_into_kernel(f_into, out_like=like_first, mapped=1):
    """``f_into(out[i], X[i], ..., *unmapped)``: an array per example, written
    in place into ``out = out_like(*args)`` (by default shaped as ``X``)."""
    take = example_args[mapped]

    @njit(parallel=True)
    def fill(out, *args):
        for i in prange(out.shape[0]):
            f_into(out[i], *take(i, *args))

    return numpy_allocated(fill, out_like)


def assign_into(f):
    """``out[:] = f(*args)``: a function returning an array per example, as
    one that writes into its output row (the result is allocated, then copied)."""

    @njit
    def f_into(out, *args):
        out[:] = f(*args)

    return f_into


def pairs_kernel(f):
    """``out[i, j] = f(X[i], Y[j])``: the nested map of W6."""

    @njit(parallel=True)
    def fill(out, X, Y):
        for i in prange(X.shape[0]):
            for j in range(Y.shape[0]):
                out[i, j] = f(X[i], Y[j])

    return numpy_allocated(fill, lambda X, Y: np.empty((X.shape[0], Y.shape[0])))


# --- numba.guvectorize(target="parallel") ------------------------------------------


def gufunc(f, types, layout):
    """A gufunc whose body is ``out[:] = f(*inputs)`` (one to three inputs;
    ``types`` lists the inputs' types and then the output's)."""
    sigs = [f"void({', '.join(types)})"]
    if len(types) == 2:

        def body(a, out):
            out[:] = f(a)
    elif len(types) == 3:

        def body(a, b, out):
            out[:] = f(a, b)
    else:

        def body(a, b, c, out):
            out[:] = f(a, b, c)

    return guvectorize(sigs, layout, target="parallel")(body)


# --- best hand-vectorized NumPy (also the reference, computed chunk-wise) ----


def rowwise_sum_of_squares(X):
    return np.einsum("ij,ij->i", X, X)


def rowwise_distance(X, c):
    D = X - c
    return np.sqrt(np.einsum("ij,ij->i", D, D))


def rowwise_normalize(X):
    return X / np.sqrt(np.einsum("ij,ij->i", X, X))[:, None]


def escape_counts(C):
    """Mandelbrot escape counts, iterating only the points still bounded."""
    counts = np.zeros(C.shape, np.int64)
    alive = np.arange(C.size)
    c = C.ravel().copy()
    z = np.zeros_like(c)
    for n in range(1, MAX_ITER + 1):
        bounded = z.real * z.real + z.imag * z.imag <= 4.0
        if not bounded.all():
            alive, z, c = alive[bounded], z[bounded], c[bounded]
        z = z * z + c
        counts.flat[alive] = n
    return counts


def pairwise_distance(X, Y):
    D = X[:, None, :] - Y[None, :, :]
    return np.sqrt(np.einsum("ijk,ijk->ij", D, D))


def batched_dense_relu(X, W, b):
    return np.maximum(X @ W + b, 0.0)


def batched_rotate(R, V):
    return np.einsum("nij,nj->ni", R, V)


def batched_quadratic_form(X, A):
    return np.einsum("ij,ij->i", X @ A, X)


def rowwise_variance(X):
    return np.var(X, axis=1)


def rowwise_softmax(X):
    E = np.exp(X - X.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def batched_solve3(A, B):
    return np.linalg.solve(A, B[..., None])[..., 0]


def rowwise_running_sum(X):
    return np.cumsum(X, axis=1)


def rowwise_logsumexp(X):
    m = X.max(axis=1)
    return m + np.log(np.exp(X - m[:, None]).sum(axis=1))


# --- inputs ------------------------------------------------------------------


def normal_rows(n, d):
    return (np.random.default_rng(SEED).standard_normal((n, d)),)


def rows_and_center(n, d):
    rng = np.random.default_rng(SEED)
    return rng.standard_normal((n, d)), rng.standard_normal(d)


def complex_grid(side):
    re = np.linspace(-2.0, 0.6, side)
    im = np.linspace(-1.3, 1.3, side)
    return ((re[None, :] + 1j * im[:, None]).ravel(),)


def two_point_clouds(n, m):
    rng = np.random.default_rng(SEED)
    return rng.standard_normal((n, 3)), rng.standard_normal((m, 3))


def seed_batch():
    """The seed walk-through's (4, 3) batch (``vmap(sum_of_squares)`` gives
    ``[14, 77, 194, 1]``)."""
    return (np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [1.0, 0.0, 0.0]]),)


def layer_inputs(n, d, m):
    """A batch of ``n`` feature vectors of ``d``, a (d, m) weight matrix
    scaled as at initialisation, and a bias of ``m``."""
    rng = np.random.default_rng(SEED)
    W = rng.standard_normal((d, m)) / np.sqrt(d)
    return rng.standard_normal((n, d)), W, rng.standard_normal(m)


def matrices_and_vectors(n, d):
    """``n`` well-conditioned (d, d) matrices (identity times 3 plus noise)
    and ``n`` vectors of ``d``."""
    rng = np.random.default_rng(SEED)
    A = 3.0 * np.eye(d) + 0.5 * rng.standard_normal((n, d, d))
    return A, rng.standard_normal((n, d))


def rows_and_matrix(n, d):
    rng = np.random.default_rng(SEED)
    return rng.standard_normal((n, d)), rng.standard_normal((d, d))


def rows_and_scales(n, d):
    """Rows, a per-feature mean and a positive per-feature scale."""
    rng = np.random.default_rng(SEED)
    return rng.standard_normal((n, d)), rng.standard_normal(d), rng.uniform(0.5, 2.0, d)


# --- the workloads -------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """One per-example function, its inputs and how each implementation runs it.

    ``mapped[k]`` says whether positional argument ``k`` carries the batch on
    axis 0 (the others are passed whole to every example); numbavmap and JAX
    get the matching ``in_axes`` unless ``vmapped`` / ``jax`` say otherwise.
    ``sizes`` maps ``"full"`` / ``"quick"`` / ``"tiny"`` to the arguments of
    ``make_inputs``.
    """

    key: str
    title: str  # str.format()ted with the size
    py_func: Callable
    sizes: dict
    make_inputs: Callable
    mapped: tuple
    numpy: Callable
    hand: Callable  # () -> kernel
    hand_loops: Callable  # () -> kernel
    gufunc: Callable  # () -> gufunc
    vectorize_signature: str | None = None
    vmapped: Callable | None = None  # vmap -> the numbavmap function
    jax: str | None = None  # a name in _jax_special, where f does not trace as it is
    python_level: bool = True  # also time python_loop and np_vectorize
    extra: dict = field(default_factory=dict)  # other name -> builder
    loop: Callable | None = None  # the Python loop, where not one call per example
    broadcast: Callable | None = None  # args -> gufunc / np.vectorize args
    sample: int = 2000  # examples the Python-level implementations run on
    chunk: int = 1 << 16  # examples per chunk when computing the reference
    exact: bool = False  # integer results: compare exactly (up to rare ties)
    hot: bool = False  # numbavmap: cpu_entry.HOT_CALLS calls before timing, as in a loop

    def describe(self, size="full"):
        return f"{self.key}: {self.title.format(*self.sizes[size])}"

    @property
    def in_axes(self):
        return tuple(0 if m else None for m in self.mapped)

    @property
    def implementations(self):
        """Every implementation of this workload, in table order."""
        names = [NUMBAVMAP, HAND, HAND_LOOPS, GUVECTORIZE, NUMPY, JAX, JAX_NUMPY_IO, *self.extra]
        return [*names, *PYTHON_LEVEL] if self.python_level else names

    @property
    def compiled(self):
        return [name for name in self.implementations if name not in PYTHON_LEVEL]

    def batch_size(self, args):
        return next(a.shape[0] for a, m in zip(args, self.mapped, strict=True) if m)

    def take(self, args, index):
        """The examples ``index`` of ``args`` (mapped arguments only)."""
        return tuple(a[index] if m else a for a, m in zip(args, self.mapped, strict=True))

    def python_loop(self, *args):
        if self.loop is not None:
            return self.loop(*args)
        results = [self.py_func(*self.take(args, i)) for i in range(self.batch_size(args))]
        return np.array(results)

    def check(self, result, expected, name):
        result = np.asarray(result)
        if result.shape != expected.shape:
            raise AssertionError(
                f"{self.key} {name}: shape {result.shape}, expected {expected.shape}"
            )
        if not self.exact:
            np.testing.assert_allclose(
                result, expected, rtol=1e-9, atol=1e-12, err_msg=f"{self.key} {name}"
            )
            return
        # Escape counts: a point exactly on the |z| = 2 boundary may round either
        # way under another evaluation order (XLA); allow one in 10_000.
        wrong = np.count_nonzero(result != expected)
        if wrong > expected.size // 10_000:
            raise AssertionError(f"{self.key} {name}: {wrong} of {expected.size} differ")


def pairs_python_loop(X, Y):
    return np.array([[distance(x, y) for y in Y] for x in X])


def pairs_broadcast(X, Y):
    """Arguments that make a ``(n),(n)->()`` (g)ufunc compute every pair."""
    return X[:, None, :], Y[None, :, :]


def _sum_of_squares(title, sizes, hand_loops=None, sample=2000):
    return dict(
        title=title,
        py_func=sum_of_squares,
        sizes=sizes,
        mapped=(True,),
        numpy=rowwise_sum_of_squares,
        hand=lambda: rows_kernel(njit(sum_of_squares), np.float64),
        hand_loops=hand_loops or (lambda: rows_kernel(sum_of_squares_loops, np.float64)),
        gufunc=lambda: gufunc(njit(sum_of_squares), ["float64[:]"] * 2, "(n)->()"),
        vectorize_signature="(n)->()",
        sample=sample,
    )


#: What W3 (distance to a center) and W6 (every pair) share: ``distance(x, y)``
#: with ``x`` mapped and ``y`` whole, one ``(n),(n)->()`` gufunc.
_DISTANCE = dict(
    py_func=distance,
    mapped=(True, False),
    gufunc=lambda: gufunc(njit(distance), ["float64[:]"] * 3, "(n),(n)->()"),
    vectorize_signature="(n),(n)->()",
)


def _realistic(key, title, py_func, numpy, loops, sizes, make_inputs=normal_rows,
               mapped=(True,), layout="(n)->(n)", types=("float64[:]",) * 2, out_like=None,
               fastmath=False):
    """An R workload: ``py_func`` with its first ``sum(mapped)`` arguments
    mapped, ``loops`` its scalar-loop form (``f_into(out, *example)`` where
    the gufunc ``layout`` has an array result, allocated by ``out_like``),
    ``types`` the gufunc's; no Python-level implementations. With ``fastmath``
    the body is also timed with ``fastmath=True`` (one that fastmath changes:
    ``np.exp``, ``np.linalg.solve``)."""
    count = sum(mapped)
    if not layout.endswith("->()"):
        out_like = out_like or like_first

        def hand():
            return rows_into_kernel(assign_into(njit(py_func)), out_like, count)

        def hand_loops():
            return rows_into_kernel(loops, out_like, count)
    else:

        def hand():
            return rows_kernel(njit(py_func), np.float64, count)

        def hand_loops():
            return rows_kernel(loops, np.float64, count)

    return Workload(
        key=key,
        title=title,
        py_func=py_func,
        sizes=sizes,
        make_inputs=make_inputs,
        mapped=mapped,
        numpy=numpy,
        hand=hand,
        hand_loops=hand_loops,
        gufunc=lambda: gufunc(njit(py_func), list(types), layout),
        python_level=False,
        chunk=1 << 14,
        extra={NUMBAVMAP_FASTMATH: lambda: _import_vmap()(
            py_func, in_axes=tuple(0 if m else None for m in mapped), fastmath=True)}
        if fastmath else {},
    )


_ROWS = "float64[:]"
_MATRICES = "float64[:, :]"

WORKLOADS = {
    w.key: w
    for w in [
        Workload(
            key="W1",
            make_inputs=normal_rows,
            **_sum_of_squares(
                "`np.sum(v**2)`, ({:_}, {:_})",
                {"full": (1_000_000, 3), "quick": (1_000_000, 3), "tiny": (7, 3)},
            ),
        ),
        Workload(
            key="W2",
            make_inputs=normal_rows,
            **_sum_of_squares(
                "W1 at ({:_}, {:_})",
                {"full": (10_000, 1_000), "quick": (10_000, 1_000), "tiny": (5, 40)},
            ),
        ),
        Workload(
            key="W3",
            title="`np.sqrt(np.sum((x - c)**2))`, ({:_}, {:_}), in_axes=(0, None)",
            sizes={"full": (1_000_000, 8), "quick": (1_000_000, 8), "tiny": (7, 8)},
            make_inputs=rows_and_center,
            numpy=rowwise_distance,
            hand=lambda: rows_kernel(njit(distance), np.float64),
            hand_loops=lambda: rows_kernel(distance_loops, np.float64),
            **_DISTANCE,
        ),
        Workload(
            key="W4",
            title="`v / np.sqrt(np.sum(v*v))` (array result), ({:_}, {:_})",
            py_func=normalize,
            sizes={"full": (200_000, 64), "quick": (200_000, 64), "tiny": (6, 64)},
            make_inputs=normal_rows,
            mapped=(True,),
            numpy=rowwise_normalize,
            hand=lambda: rows_into_kernel(assign_into(njit(normalize))),
            hand_loops=lambda: rows_into_kernel(normalize_loops_into),
            gufunc=lambda: gufunc(njit(normalize), [_ROWS] * 2, "(n)->(n)"),
            vectorize_signature="(n)->(n)",
        ),
        Workload(
            key="W5",
            title="Mandelbrot escape count (`while`, max 256), {0:_} x {0:_} grid",
            py_func=escape_count,
            sizes={"full": (1000,), "quick": (500,), "tiny": (6,)},
            make_inputs=complex_grid,
            mapped=(True,),
            numpy=escape_counts,
            hand=lambda: rows_kernel(njit(escape_count), np.int64),
            hand_loops=lambda: rows_kernel(njit(escape_count), np.int64),
            gufunc=lambda: gufunc(njit(escape_count), ["complex128", "int64[:]"], "()->()"),
            vectorize_signature="()->()",
            jax="escape_count",
            sample=1000,
            exact=True,
        ),
        Workload(
            key="W6",
            title="pairwise distances, ({:_}, 3) x ({:_}, 3), nested vmap",
            sizes={"full": (2_000, 2_000), "quick": (2_000, 2_000), "tiny": (5, 4)},
            make_inputs=two_point_clouds,
            vmapped=lambda vmap: vmap(vmap(distance, in_axes=(None, 0)), in_axes=(0, None)),
            numpy=pairwise_distance,
            hand=lambda: pairs_kernel(njit(distance)),
            hand_loops=lambda: pairs_kernel(distance_loops),
            jax="pairwise_distance",
            **_DISTANCE,
            extra={CDIST: lambda: _scipy_cdist},
            loop=pairs_python_loop,
            broadcast=pairs_broadcast,
            sample=20,
            chunk=128,
        ),
        Workload(
            key="W7",
            make_inputs=seed_batch,
            **_sum_of_squares(
                "call overhead, the seed's (4, 3) batch, after 100,000 calls "
                "(hand_loops: serial @njit)",
                {"full": (), "quick": (), "tiny": ()},
                hand_loops=lambda: serial_rows_kernel(sum_of_squares_loops),
                sample=4,
            ),
            hot=True,
        ),
        _realistic(
            "R1", "`v / np.sqrt(np.sum(v*v))`, ({:_}, {:_})", normalize,
            rowwise_normalize, normalize_loops_into,
            {"full": (20_000, 64), "quick": (20_000, 64), "tiny": (5, 64)},
        ),
        _realistic(
            "R2", "dense layer `np.maximum(x @ W + b, 0.0)`, x ({0:_}, {1}), W ({1}, {2})",
            dense_relu, batched_dense_relu, dense_relu_loops_into,
            {"full": (20_000, 64, 32), "quick": (20_000, 64, 32), "tiny": (5, 64, 32)},
            make_inputs=layer_inputs, mapped=(True, False, False),
            layout="(n),(n,m),(m)->(m)",
            types=(_ROWS, _MATRICES, _ROWS, _ROWS),
            out_like=lambda X, W, b: np.empty((X.shape[0], W.shape[1])),
        ),
        _realistic(
            "R3", "rotation `R @ v`, R ({0:_}, {1}, {1}), v ({0:_}, {1}), both mapped",
            rotate, batched_rotate, rotate_loops_into,
            {"full": (500_000, 3), "quick": (500_000, 3), "tiny": (5, 3)},
            make_inputs=matrices_and_vectors, mapped=(True, True), layout="(n,n),(n)->(n)",
            types=(_MATRICES, _ROWS, _ROWS), out_like=like_last,
        ),
        _realistic(
            "R4", "quadratic form `x @ A @ x`, x ({:_}, {:_}), A unmapped",
            quadratic_form, batched_quadratic_form, quadratic_form_loops,
            {"full": (1_000_000, 3), "quick": (1_000_000, 3), "tiny": (5, 3)},
            make_inputs=rows_and_matrix, mapped=(True, False), layout="(n),(n,n)->()",
            types=(_ROWS, _MATRICES, _ROWS),
        ),
        _realistic(
            "R5", "`np.var(x)`, ({:_}, {:_})", variance, rowwise_variance, variance_loops,
            {"full": (500_000, 8), "quick": (500_000, 8), "tiny": (5, 8)}, layout="(n)->()",
        ),
        _realistic(
            "R6", "softmax, ({:_}, {:_})", softmax, rowwise_softmax, softmax_loops_into,
            {"full": (20_000, 64), "quick": (20_000, 64), "tiny": (5, 64)}, fastmath=True,
        ),
        _realistic(
            "R7", "`np.linalg.solve(A, b)`, A ({0:_}, {1}, {1}), b ({0:_}, {1}), both mapped",
            solve3, batched_solve3, solve3_loops_into,
            {"full": (20_000, 3), "quick": (20_000, 3), "tiny": (5, 3)},
            make_inputs=matrices_and_vectors, mapped=(True, True), layout="(n,n),(n)->(n)",
            types=(_MATRICES, _ROWS, _ROWS), out_like=like_last, fastmath=True,
        ),
        _realistic(
            "R8", "standardize `(x - mu) / sd`, ({:_}, {:_}), mu and sd unmapped",
            standardize, standardize, standardize_loops_into,
            {"full": (200_000, 16), "quick": (200_000, 16), "tiny": (5, 16)},
            make_inputs=rows_and_scales, mapped=(True, False, False),
            layout="(n),(n),(n)->(n)", types=(_ROWS,) * 4,
        ),
        _realistic(
            "R9", "`np.cumsum(x)`, ({:_}, {:_})", running_sum, rowwise_running_sum,
            running_sum_loops_into, {"full": (200_000, 16), "quick": (200_000, 16),
                                     "tiny": (5, 16)},
        ),
        _realistic(
            "R10", "logsumexp, ({:_}, {:_})", logsumexp, rowwise_logsumexp, logsumexp_loops,
            {"full": (20_000, 64), "quick": (20_000, 64), "tiny": (5, 64)}, layout="(n)->()",
            fastmath=True,
        ),
        _realistic(
            "R11", "sigmoid `1 / (1 + np.exp(-x))`, ({:_}, {:_})", sigmoid, sigmoid,
            sigmoid_loops_into, {"full": (20_000, 64), "quick": (20_000, 64), "tiny": (5, 64)},
            fastmath=True,
        ),
    ]
}

#: The realistic set (R1-R11).
REALISTIC = tuple(key for key in WORKLOADS if key.startswith("R"))


def _scipy_cdist(X, Y):
    try:
        from scipy.spatial.distance import cdist
    except ImportError as exc:  # pragma: no cover - scipy is in the bench extra
        raise Unavailable("scipy is not installed") from exc
    return cdist(X, Y)


# --- jax ------------------------------------------------------------------------


@functools.cache
def _jax():
    """The ``jax`` module, set to float64 on CPU."""
    try:
        import jax
    except ImportError as exc:
        raise Unavailable("jax is not installed (pip install 'numbavmap[jax]')") from exc
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
    return jax


def _traced(f):
    """``f`` itself, its ``np`` bound to ``jax.numpy``: the same source, under JAX."""
    return types.FunctionType(f.__code__, {**f.__globals__, "np": _jax().numpy}, f.__name__)


def _jax_special(name):
    """The JAX forms of the workloads whose function does not trace as written."""
    jax = _jax()
    jnp, lax = jax.numpy, jax.lax
    if name == "escape_count":  # a Python while loop cannot be traced: lax.while_loop

        def escape_count(c):
            def bounded(state):
                z, n = state
                return (n < MAX_ITER) & (z.real * z.real + z.imag * z.imag <= 4.0)

            def step(state):
                z, n = state
                return z * z + c, n + 1

            return lax.while_loop(bounded, step, (jnp.zeros((), c.dtype), 0))[1]

        return jax.vmap(escape_count)
    inner = jax.vmap(_traced(distance), in_axes=(None, 0))
    return jax.vmap(inner, in_axes=(0, None))  # pairwise_distance


def jax_vmapped(key):
    """``(jax, jax.vmap(f))`` of workload ``key``'s function, float64 on CPU
    (not jitted)."""
    w = WORKLOADS[key]
    jax = _jax()
    if w.jax is not None:
        return jax, _jax_special(w.jax)
    return jax, jax.vmap(_traced(w.py_func), in_axes=w.in_axes)


@functools.cache
def _jax_compiled(key):
    jax, vmapped = jax_vmapped(key)
    return jax.jit(vmapped)


def jax_version():
    try:
        import jax
    except ImportError:
        return None
    return jax.__version__


# --- building implementations -----------------------------------------------------


def _import_vmap():
    try:
        from numbavmap import vmap
    except ImportError as exc:
        raise Unavailable(f"numbavmap does not import: {exc}") from exc
    return vmap


def numbavmap_function(key):
    """A fresh ``numbavmap.vmap(...)`` object for workload ``key``: its first
    call traces and compiles."""
    w = WORKLOADS[key]
    vmap = _import_vmap()
    return w.vmapped(vmap) if w.vmapped else vmap(w.py_func, in_axes=w.in_axes)


def explain(key, size="tiny"):
    """``"fused"`` or ``"not fused: <reason>"``: the body line of numbavmap's
    ``explain()`` for workload ``key`` (nested maps: the outer function's),
    without the source location that follows the reason."""
    report = numbavmap_function(key).explain(*inputs(key, size))
    body = next(line for line in report.splitlines() if line.startswith("body:"))
    return re.sub(r" \([^()]*:\d+\)$", "", body.removeprefix("body:").strip())


def _with_broadcast(w, fn):
    if w.broadcast is None:
        return fn
    return lambda *args: fn(*w.broadcast(*args))


def _build_jax(w):
    compiled = _jax_compiled(w.key)
    return lambda *args: compiled(*args).block_until_ready()


def _build_jax_numpy_io(w):
    compiled = _jax_compiled(w.key)
    return lambda *args: np.asarray(compiled(*args))


def adapt(name, args):
    """``args`` as implementation ``name`` takes them: JAX arrays for ``jax``
    (converted here, once, not in the timed calls), otherwise unchanged."""
    if name != JAX:
        return args
    jax = _jax()
    return tuple(jax.block_until_ready(jax.device_put(a)) for a in args)


_BUILDERS = {
    NUMBAVMAP: lambda w: numbavmap_function(w.key),
    PYTHON_LOOP: lambda w: w.python_loop,
    NP_VECTORIZE: lambda w: _with_broadcast(
        w, np.vectorize(w.py_func, signature=w.vectorize_signature)
    ),
    NUMPY: lambda w: w.numpy,
    GUVECTORIZE: lambda w: _with_broadcast(w, w.gufunc()),
    HAND: lambda w: w.hand(),
    HAND_LOOPS: lambda w: w.hand_loops(),
    JAX: _build_jax,
    JAX_NUMPY_IO: _build_jax_numpy_io,
}


@functools.cache
def implementation(key, name):
    """The callable ``name`` runs workload ``key`` with (built once per process)."""
    w = WORKLOADS[key]
    if name in w.extra:
        return w.extra[name]()
    if name not in _BUILDERS or name not in w.implementations:
        raise Unavailable(f"{key} has no implementation {name!r}")
    return _BUILDERS[name](w)


@functools.cache
def inputs(key, size="full"):
    w = WORKLOADS[key]
    return w.make_inputs(*w.sizes[size])


@functools.cache
def reference(key, size="full"):
    """The best NumPy expression's result, computed ``chunk`` examples at a time
    (so that the reference costs little memory in asv's ``peakmem_`` runs)."""
    w = WORKLOADS[key]
    args = inputs(key, size)
    n = w.batch_size(args)
    parts = [w.numpy(*w.take(args, slice(i, i + w.chunk))) for i in range(0, n, w.chunk)]
    return np.concatenate(parts) if parts else w.numpy(*args)


@dataclass(frozen=True)
class Prepared:
    """An implementation ready to time: ``run()`` computes the result it was
    checked on; a Python-level one runs on a sample, and its time is multiplied
    by ``scale`` to estimate the whole batch."""

    key: str
    name: str
    run: Callable[[], object]
    scale: float = 1.0


def prepare(key, name, size="full"):
    """Build implementation ``name`` of workload ``key``, convert its inputs
    (:func:`adapt`), run it once and check it against the reference. Raises :class:`Unavailable` (a
    ``NotImplementedError``, which asv reads as "skip") when it cannot run here."""
    w = WORKLOADS[key]
    fn = implementation(key, name)
    args = inputs(key, size)
    expected = reference(key, size)
    scale = 1.0
    if name in PYTHON_LEVEL:
        n = w.batch_size(args)
        index = np.unique(np.linspace(0, n - 1, min(n, w.sample)).astype(np.intp))
        args, expected, scale = w.take(args, index), expected[index], n / index.size
    args = adapt(name, args)
    w.check(fn(*args), expected, name)
    if w.hot and name.startswith(NUMBAVMAP):  # the others have no second tier
        try:
            from numbavmap.targets.cpu_entry import HOT_CALLS
        except ImportError:  # an older numbavmap (--before-after): one tier
            HOT_CALLS = 0
        for _ in range(HOT_CALLS):
            fn(*args)
    return Prepared(key, name, functools.partial(fn, *args), scale)


@dataclass(frozen=True)
class Timing:
    median: float  # seconds per call (scaled to the whole batch)
    best: float  # the fastest sample, likewise: the least disturbed by other load
    samples: int
    number: int  # calls per sample


def calls_per_sample(prepared, sample_time=0.05):
    """How many calls of ``prepared.run()`` fill ``sample_time``, found by
    doubling as ``timeit``'s autorange does (which also warms up)."""
    number = 1
    while sample_seconds(prepared, number) * number / prepared.scale < sample_time:
        number *= 2
    return number


def sample_seconds(prepared, number):
    """Seconds per call of ``prepared.run()`` over ``number`` calls (scaled)."""
    run = prepared.run
    start = time.perf_counter()
    for _ in range(number):
        run()
    return (time.perf_counter() - start) / number * prepared.scale


def timing(samples, number):
    return Timing(float(np.median(samples)), min(samples), len(samples), number)


def measure(prepared, repeat=7, sample_time=0.05):
    """Median and best seconds per call of ``prepared.run()`` (scaled) over
    ``repeat`` samples, each as many calls as fill ``sample_time``."""
    number = calls_per_sample(prepared, sample_time)
    return timing([sample_seconds(prepared, number) for _ in range(repeat)], number)


def first_call_seconds(key, size="full", fn=None):
    """Seconds of the first call of ``fn``, by default a fresh ``vmap(...)``
    object (so: trace, compile and one run), checked against the reference."""
    fn = numbavmap_function(key) if fn is None else fn
    args = inputs(key, size)
    reference(key, size)  # not part of the time
    start = time.perf_counter()
    result = fn(*args)
    seconds = time.perf_counter() - start
    WORKLOADS[key].check(result, reference(key, size), "numbavmap first call")
    return seconds
