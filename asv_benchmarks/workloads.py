"""The benchmark workloads W1-W7 and every implementation they are timed with.

One module, shared by the asv suites (``asv_benchmarks/benchmarks/``), the
side-by-side script (``python -m asv_benchmarks.compare``) and the tests
(``tests/test_benchmarks.py``), so that all three time and check the same code.

A workload is a per-example function written NumPy-style, as a user writes it
for ``numbavmap.vmap``, plus its inputs. Its implementations:

=============== ==============================================================
numbavmap       ``numbavmap.vmap(f, ...)`` of the NumPy-style function
python_loop     a Python ``for`` loop calling ``f`` (timed on a sample, scaled)
np_vectorize    ``np.vectorize(f, signature=...)`` (timed on a sample, scaled)
numpy           the best hand-vectorized NumPy expression (also the reference)
guvectorize     ``numba.guvectorize(target="parallel")`` calling ``njit(f)``
hand            ``@njit(parallel=True)`` ``prange`` kernel calling ``njit(f)``
hand_loops      the same kernel with ``f`` written as explicit scalar loops,
                writing array results in place: the practical ceiling
jax             ``jax.jit(jax.vmap(f))``, float64 on CPU (when jax imports); ``f``
                is the same function with ``np`` bound to ``jax.numpy``
cdist           ``scipy.spatial.distance.cdist`` (W6 only)
=============== ==============================================================

:func:`prepare` builds one implementation, runs it once and checks its result
against the reference before anything is timed; :func:`measure` times it.
Compiled functions are built once per process and shared (``functools.cache``).
"""

from __future__ import annotations

import functools
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


# --- the same, as explicit scalar loops (the "hand_loops" ceiling) ------------


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
def normalize_loops_into(v, out):
    acc = 0.0
    for j in range(v.shape[0]):
        acc += v[j] * v[j]
    norm = np.sqrt(acc)
    for j in range(v.shape[0]):
        out[j] = v[j] / norm


# --- hand-written prange kernels, one factory per kind of loop -----------------
# The per-example function is a closure variable: Numba freezes it into the
# kernel, so calling the kernel costs no more than calling any @njit function.
# The output is allocated by NumPy, as numbavmap allocates its outputs: for
# large arrays NumPy asks the kernel for huge pages and Numba's allocator does
# not, and on a virtual machine the difference in page faults alone can be
# several times the loop's own time (W4: 100 MB of output).


def numpy_allocated(fill, out_like):
    """A kernel that calls ``fill(out, *args)`` on ``out = out_like(*args)``."""

    def kernel(*args):
        out = out_like(*args)
        fill(out, *args)
        return out

    return kernel


def rows_kernel(f, dtype):
    """``out[i] = f(X[i], *unmapped)``: a scalar per example."""

    @njit(parallel=True)
    def fill(out, X, *unmapped):
        for i in prange(X.shape[0]):
            out[i] = f(X[i], *unmapped)

    return numpy_allocated(fill, lambda X, *unmapped: np.empty(X.shape[0], dtype))


def serial_rows_kernel(f):
    """``out[i] = f(X[i])`` as one bare serial ``@njit`` function (W7's floor)."""

    @njit
    def kernel(X):
        out = np.empty(X.shape[0])
        for i in range(X.shape[0]):
            out[i] = f(X[i])
        return out

    return kernel


def rows_into_kernel(f_into):
    """``f_into(X[i], out[i])``: an array per example, written in place."""

    @njit(parallel=True)
    def fill(out, X):
        for i in prange(X.shape[0]):
            f_into(X[i], out[i])

    return numpy_allocated(fill, np.empty_like)


def assign_into(f):
    """``out[:] = f(v)``: a function returning an array per example, as one
    that writes into its output row (the result is allocated, then copied)."""

    @njit
    def f_into(v, out):
        out[:] = f(v)

    return f_into


def pairs_kernel(f):
    """``out[i, j] = f(X[i], Y[j])``: the nested map of W6."""

    @njit(parallel=True)
    def fill(out, X, Y):
        for i in prange(X.shape[0]):
            for j in range(Y.shape[0]):
                out[i, j] = f(X[i], Y[j])

    return numpy_allocated(fill, lambda X, Y: np.empty((X.shape[0], Y.shape[0])))


# --- numba.guvectorize(target="parallel"), one factory per layout --------------


def gufunc_scalar(f, types, layout):
    """A gufunc whose body is ``out[0] = f(*inputs)`` (one or two inputs)."""
    sigs = [f"void({', '.join(types)})"]
    if len(types) == 2:

        def body(a, out):
            out[0] = f(a)
    else:

        def body(a, b, out):
            out[0] = f(a, b)

    return guvectorize(sigs, layout, target="parallel")(body)


def gufunc_array(f):
    """A ``(n)->(n)`` float64 gufunc whose body is ``out[:] = f(v)``."""

    @guvectorize(["void(float64[:], float64[:])"], "(n)->(n)", target="parallel")
    def body(v, out):
        out[:] = f(v)

    return body


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


# --- the workloads -------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """One per-example function, its inputs and how each implementation runs it.

    ``mapped[k]`` says whether positional argument ``k`` carries the batch on
    axis 0 (the others are passed whole to every example). ``sizes`` maps
    ``"full"`` / ``"quick"`` / ``"tiny"`` to the arguments of ``make_inputs``.
    """

    key: str
    title: str  # str.format()ted with the size
    py_func: Callable
    sizes: dict
    make_inputs: Callable
    mapped: tuple
    vmapped: Callable  # vmap -> the numbavmap function
    numpy: Callable
    hand: Callable  # () -> kernel
    hand_loops: Callable  # () -> kernel
    gufunc: Callable  # () -> gufunc
    vectorize_signature: str
    jax_name: str
    extra: dict = field(default_factory=dict)  # other name -> builder
    loop: Callable | None = None  # the Python loop, where not one call per example
    broadcast: Callable | None = None  # args -> gufunc / np.vectorize args
    sample: int = 2000  # examples the Python-level implementations run on
    chunk: int = 1 << 16  # examples per chunk when computing the reference
    exact: bool = False  # integer results: compare exactly (up to rare ties)

    def describe(self, size="full"):
        return f"{self.key}: {self.title.format(*self.sizes[size])}"

    @property
    def implementations(self):
        """Every implementation of this workload, in table order."""
        names = [NUMBAVMAP, HAND, HAND_LOOPS, GUVECTORIZE, NUMPY, JAX, *self.extra]
        return [*names, *PYTHON_LEVEL]

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
        vmapped=lambda vmap: vmap(sum_of_squares),
        numpy=rowwise_sum_of_squares,
        hand=lambda: rows_kernel(njit(sum_of_squares), np.float64),
        hand_loops=hand_loops or (lambda: rows_kernel(sum_of_squares_loops, np.float64)),
        gufunc=lambda: gufunc_scalar(njit(sum_of_squares), ["float64[:]"] * 2, "(n)->()"),
        vectorize_signature="(n)->()",
        jax_name="sum_of_squares",
        sample=sample,
    )


#: What W3 (distance to a center) and W6 (every pair) share: ``distance(x, y)``
#: with ``x`` mapped and ``y`` whole, one ``(n),(n)->()`` gufunc.
_DISTANCE = dict(
    py_func=distance,
    mapped=(True, False),
    gufunc=lambda: gufunc_scalar(njit(distance), ["float64[:]"] * 3, "(n),(n)->()"),
    vectorize_signature="(n),(n)->()",
)

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
            vmapped=lambda vmap: vmap(distance, in_axes=(0, None)),
            numpy=rowwise_distance,
            hand=lambda: rows_kernel(njit(distance), np.float64),
            hand_loops=lambda: rows_kernel(distance_loops, np.float64),
            jax_name="distance",
            **_DISTANCE,
        ),
        Workload(
            key="W4",
            title="`v / np.sqrt(np.sum(v*v))` (array result), ({:_}, {:_})",
            py_func=normalize,
            sizes={"full": (200_000, 64), "quick": (200_000, 64), "tiny": (6, 64)},
            make_inputs=normal_rows,
            mapped=(True,),
            vmapped=lambda vmap: vmap(normalize),
            numpy=rowwise_normalize,
            hand=lambda: rows_into_kernel(assign_into(njit(normalize))),
            hand_loops=lambda: rows_into_kernel(normalize_loops_into),
            gufunc=lambda: gufunc_array(njit(normalize)),
            vectorize_signature="(n)->(n)",
            jax_name="normalize",
        ),
        Workload(
            key="W5",
            title="Mandelbrot escape count (`while`, max 256), {0:_} x {0:_} grid",
            py_func=escape_count,
            sizes={"full": (1000,), "quick": (500,), "tiny": (6,)},
            make_inputs=complex_grid,
            mapped=(True,),
            vmapped=lambda vmap: vmap(escape_count),
            numpy=escape_counts,
            hand=lambda: rows_kernel(njit(escape_count), np.int64),
            hand_loops=lambda: rows_kernel(njit(escape_count), np.int64),
            gufunc=lambda: gufunc_scalar(njit(escape_count), ["complex128", "int64[:]"], "()->()"),
            vectorize_signature="()->()",
            jax_name="escape_count",
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
            jax_name="pairwise_distance",
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
                "call overhead, the seed's (4, 3) batch (hand_loops: serial @njit)",
                {"full": (), "quick": (), "tiny": ()},
                hand_loops=lambda: serial_rows_kernel(sum_of_squares_loops),
                sample=4,
            ),
        ),
    ]
}


def _scipy_cdist(X, Y):
    try:
        from scipy.spatial.distance import cdist
    except ImportError as exc:  # pragma: no cover - scipy is in the bench extra
        raise Unavailable("scipy is not installed") from exc
    return cdist(X, Y)


# --- jax ------------------------------------------------------------------------


@functools.cache
def _jax_functions():
    """``jax.vmap`` of each per-example function, float64 on CPU."""
    try:
        import jax
    except ImportError as exc:
        raise Unavailable("jax is not installed (pip install 'numbavmap[jax]')") from exc
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
    jnp, lax = jax.numpy, jax.lax

    def traced(f):
        """``f`` itself, its ``np`` bound to ``jax.numpy``: the same source, under JAX."""
        return types.FunctionType(f.__code__, {**f.__globals__, "np": jnp}, f.__name__)

    def escape_count(c):  # a Python while loop cannot be traced: lax.while_loop
        def bounded(state):
            z, n = state
            return (n < MAX_ITER) & (z.real * z.real + z.imag * z.imag <= 4.0)

        def step(state):
            z, n = state
            return z * z + c, n + 1

        return lax.while_loop(bounded, step, (jnp.zeros((), c.dtype), 0))[1]

    distance_jax = traced(distance)
    return jax, {
        "sum_of_squares": jax.vmap(traced(sum_of_squares)),
        "distance": jax.vmap(distance_jax, in_axes=(0, None)),
        "normalize": jax.vmap(traced(normalize)),
        "escape_count": jax.vmap(escape_count),
        "pairwise_distance": jax.vmap(jax.vmap(distance_jax, in_axes=(None, 0)), in_axes=(0, None)),
    }


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
    return WORKLOADS[key].vmapped(_import_vmap())


def _with_broadcast(w, fn):
    if w.broadcast is None:
        return fn
    return lambda *args: fn(*w.broadcast(*args))


def _build_jax(w):
    jax, functions = _jax_functions()
    compiled = jax.jit(functions[w.jax_name])
    return lambda *args: np.asarray(compiled(*args))


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


def clear_caches():
    """Drop the inputs and references kept for reuse (they can be large)."""
    inputs.cache_clear()
    reference.cache_clear()


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
    """Build implementation ``name`` of workload ``key``, run it once and check
    it against the reference. Raises :class:`Unavailable` (a
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
    w.check(fn(*args), expected, name)
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
