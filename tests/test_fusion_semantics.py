"""Fusion is invisible: fused kernels give the dtypes and values of the unfused function.

The reference is the per-example function compiled by Numba as numbavmap
compiles it when it does not fuse (``numba.njit(error_model="numpy")``),
called on each example in a Python loop. Only float sums may differ, by
their order.
"""

import linecache
import math
import re

import numba
import numpy as np
import pytest
from hypothesis import Phase, given, reject, settings
from hypothesis import strategies as st
from numba.np.numpy_support import as_dtype

from numbavmap import CompileError, vmap
from numbavmap.lower import extrema

sigma = 100.0  # a global that a closure variable of the same name must shadow
INF = float("inf")


def compiled_loop(f, *batches, scalar=None):
    """Stack ``njit(f)`` of every example (rows of ``batches``): the unfused result."""
    compiled = numba.njit(error_model="numpy")(f)
    extra = () if scalar is None else (scalar,)
    results = [compiled(*rows, *extra) for rows in zip(*batches)]
    (signature,) = compiled.nopython_signatures  # scalars box as Python numbers: keep Numba's type
    dtype = as_dtype(getattr(signature.return_type, "dtype", signature.return_type))
    return np.stack([np.asarray(result, dtype) for result in results])


def is_fused(vmapped, *args) -> bool:
    return "\nbody: fused\n" in vmapped.explain(*args)


def assert_same(actual, expected, exact: bool):
    assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != unfused {expected.dtype}"
    if exact:
        np.testing.assert_array_equal(actual, expected)
    else:
        tolerance = 1e-5 if actual.dtype in (np.float32, np.complex64) else 1e-12
        np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance)


def sum_doubled(v):
    return np.sum(v + v)


def sum_of_products(v):
    return np.sum(v * v)


def clipped_at_infinity(v):
    return np.minimum(v, INF)


def make_scaler(sigma):
    def scale(v):
        return np.sum(v * sigma)
    return scale


SMALL_INTEGERS = [
    (sum_doubled, np.array([[100, 100, 1], [-100, -100, 5]], np.int8)),
    (sum_of_products, np.array([[300, 300], [200, 1]], np.int16)),
    (sum_of_products, np.array([[300, 300], [200, 1]], np.uint16)),
    (sum_doubled, np.array([[200, 100]], np.uint8)),
]


@pytest.mark.parametrize(("f", "x"), SMALL_INTEGERS,
                         ids=[f"{f.__name__}-{x.dtype}" for f, x in SMALL_INTEGERS])
def test_small_integers_wrap_as_unfused(f, x):
    vmapped = vmap(f, parallel=False)
    assert is_fused(vmapped, x)
    assert_same(vmapped(x), compiled_loop(f, x), exact=True)


def test_int8_sum_of_doubled_values_wraps_like_numpy():
    assert vmap(sum_doubled)(np.array([[100, 100, 1]], np.int8))[0] == -110


def test_closure_variable_shadows_the_global_of_that_name():
    x = np.arange(6.0).reshape(2, 3)
    vmapped = vmap(make_scaler(2.0), parallel=False)
    assert is_fused(vmapped, x)
    np.testing.assert_array_equal(vmapped(x), x.sum(axis=1) * 2.0)


def test_infinite_module_constant_fuses():
    x = np.array([[1.0, np.inf, -np.inf], [np.nan, 0.0, 3.0]])
    vmapped = vmap(clipped_at_infinity, parallel=False)
    assert is_fused(vmapped, x)
    np.testing.assert_array_equal(vmapped(x), np.minimum(x, np.inf))


def test_float32_sums_accumulate_in_float32_as_unfused():
    def total(v):
        return np.sum(v) + np.mean(v)

    x = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
    vmapped = vmap(total, parallel=False)
    assert is_fused(vmapped, x)
    assert_same(vmapped(x), compiled_loop(total, x), exact=False)


def test_complex_products_start_from_one():
    def product(a, s):
        return np.prod(a + s)

    rng = np.random.default_rng(0)
    a = rng.integers(-5, 5, (4, 3)).astype(np.int32)
    s = rng.normal(size=4) + 1j * rng.normal(size=4)
    vmapped = vmap(product, parallel=False)
    assert is_fused(vmapped, a, s)
    assert_same(vmapped(a, s), compiled_loop(product, a, s), exact=False)


def test_abs_of_an_array_is_not_fused_because_numba_cannot_compile_it():
    def absolute(v):
        return abs(v)

    with pytest.raises(CompileError):
        vmap(absolute)(np.ones((2, 3)))


# Random expressions over every dtype, fused against unfused -----------------

DTYPES = [np.bool_, np.int8, np.int16, np.uint8, np.int32, np.int64, np.float32,
          np.float64, np.complex128]
LEAVES = ["a", "b", "s", "2", "3", "0.5", "np.float32(1.5)", "True"]
UNARY = ["(-{})", "np.sqrt({})", "np.abs({})", "np.maximum({}, 1)", "np.square({})",
         "np.where({} > 1, 3, 2.5)", "({} ** 2)", "np.isnan({})",
         "({0} if np.sum(a) > 0 else {0} * 2)"]
BINARY = ["({} + {})", "({} - {})", "({} * {})", "({} / {})", "({} // {})", "({} & {})",
          "({} | {})", "({} < {})", "np.minimum({}, {})", "np.where(a > 0, {}, {})"]
REDUCE = ["np.sum({})", "np.prod({})", "np.mean({})", "np.max({})", "np.any({})", "{}.sum()",
          "np.min({})", "np.all({})"]


@st.composite
def expressions(draw, depth=3):
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(LEAVES))
    kind = draw(st.integers(0, 2))
    if kind == 0:
        operand = draw(expressions(depth - 1))
        return draw(st.sampled_from(UNARY)).format(operand, operand)
    if kind == 1:
        return draw(st.sampled_from(BINARY)).format(draw(expressions(depth - 1)),
                                                    draw(expressions(depth - 1)))
    return draw(st.sampled_from(REDUCE)).format(f"(a + {draw(expressions(depth - 1))})")


def define(source: str):
    """A function from ``source`` whose source ``inspect`` can find (so it can fuse)."""
    filename = f"<fusion semantics {abs(hash(source))}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"np": np}
    exec(compile(source, filename, "exec"), namespace)
    return namespace["f"]


def values(rng, dtype, shape):
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -120), min(info.max, 120), size=shape).astype(dtype)
    if dtype is np.bool_:
        return rng.random(shape) > 0.5
    return (rng.normal(size=shape) * 4).astype(dtype)


# Each random function compiles three times (dtypes, fused kernel, reference).
@settings(max_examples=max(6, settings.default.max_examples // 2))
@given(expression=expressions(), array_result=st.booleans(),
       dtypes=st.tuples(*[st.sampled_from(DTYPES)] * 3), seed=st.integers(0, 2**16))
def test_random_fused_expressions_match_the_unfused_function(expression, array_result,
                                                             dtypes, seed):
    body = expression if array_result else f"np.sum({expression})"
    f = define(f"def f(a, b, s):\n    return {body} * a\n" if array_result
               else f"def f(a, b, s):\n    return {body}\n")
    rng = np.random.default_rng(seed)
    a, b = values(rng, dtypes[0], (4, 3)), values(rng, dtypes[1], (4, 3))
    s = values(rng, dtypes[2], ())[()]
    with np.errstate(all="ignore"):
        try:
            f(a[0], b[0], s)  # the trace: NumPy may refuse what Numba compiles
            expected = compiled_loop(f, a, b, scalar=s)
        except Exception:  # noqa: BLE001 - no trace or no compiled reference: no oracle
            reject()
        vmapped = vmap(f, in_axes=(0, 0, None), parallel=False)
        actual = vmapped(a, b, s)
    exact = actual.dtype.kind in "biu" or not any(r in body for r in ("sum", "mean", "prod"))
    assert_same(actual, expected, exact=exact)


# Broadcasting, axes, indexing, products and scans over dtypes -------------------

#: (template, per-example shape of a, shape of the unmapped b); ``{k}`` is an axis.
SHAPED = [
    ("a + b", (2, 3), (3,)), ("a * b - 1", (2, 3), (2, 1)), ("np.maximum(a, b)", (3,), ()),
    ("np.where(a > 1, a, b)", (2, 3), (3,)), ("(a - b) / 2", (2, 1, 3), (2, 1)),
    ("np.sum(a, axis={k})", (2, 3), ()), ("a.sum(axis={k}) + b", (2, 3, 2), ()),
    ("np.argmax(a, axis={k})", (3, 2), ()), ("np.argmin(a, {k})", (2, 3), ()),
    ("np.argmax(a)", (4,), ()), ("a[1:] - a[:-1]", (5,), ()), ("a[::-2] * b", (5,), (3,)),
    ("a[:, {k}] + a[-1]", (2, 2), ()), ("a.T + b", (2, 3), (2,)), ("np.cumsum(a)", (4,), ()),
    ("np.cumprod(a)", (4,), ()), ("np.diff(a)", (2, 4), ()), ("np.diff(a, n=2)", (5,), ()),
    ("np.clip(a, 1, 3)", (4,), ()), ("np.var(a)", (4,), ()), ("a.std()", (2, 3), ()),
    ("np.trace(a)", (3, 3), ()), ("a @ b", (2, 3), (3, 2)), ("b @ a", (3,), (2, 3)),
    ("np.dot(a, a)", (3,), ()), ("np.outer(a, b)", (2,), (3,)), ("np.cross(a, b)", (3,), (3,)),
    ("a @ b", (3,), (3, 2)), ("a @ b", (2, 2, 3), (3, 2)),
    ("max(a[0], b[0])", (3,), (2,)),
    ("np.sum(a) * 3 if np.max(a) > 0 else np.sum(a) * 2", (3,), ()),
]
PRODUCTS = ("@", "np.dot", "np.cross", "np.outer")
NUMBERS = [np.int8, np.int32, np.int64, np.uint8, np.float32, np.float64]


def statement(template: str, axis: int) -> str:
    body = template.format(k=axis)
    if " if " in body:
        condition = body.split(" if ")[1].split(" else ")[0]
        branches = body.split(" if ")[0], body.split(" else ")[1]
        return f"    if {condition}:\n        return {branches[0]}\n    return {branches[1]}\n"
    return f"    return {body}\n"


# Shrinking recompiles every candidate: report the first failing example instead.
@settings(max_examples=max(8, settings.default.max_examples // 2),
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(entry=st.sampled_from(SHAPED), axis=st.integers(0, 1),
       dtypes=st.tuples(st.sampled_from(NUMBERS), st.sampled_from(NUMBERS)),
       seed=st.integers(0, 2**16))
def test_shaped_operations_match_the_unfused_function(entry, axis, dtypes, seed):
    template, a_shape, b_shape = entry
    if any(product in template for product in PRODUCTS):
        dtypes = (np.float64, np.float64) if seed % 2 else (np.float32, np.float32)
    f = define(f"def f(a, b):\n{statement(template, axis)}")
    rng = np.random.default_rng(seed)
    a = values(rng, dtypes[0], (3, *a_shape))
    b = values(rng, dtypes[1], b_shape)[()]  # a NumPy scalar for shape ()
    with np.errstate(all="ignore"):
        try:
            f(a[0], b)
            expected = compiled_loop(f, a, scalar=b)
        except Exception:  # noqa: BLE001 - NumPy or Numba refuses it: no oracle
            reject()
        vmapped = vmap(f, in_axes=(0, None), parallel=False)
        actual = vmapped(a, b)
    assert is_fused(vmapped, a, b), vmapped.explain(a, b)
    inexact = any(word in template for word in ("sum", "var", "std", "cumsum", "@", "dot"))
    assert_same(actual, expected, exact=actual.dtype.kind in "biu" or not inexact)


SCALAR_CONTROL = [
    "    t = np.sum(a)\n    if t > 1:\n        y = t + t\n    else:\n        y = -t\n"
    "    return y\n",
    "    acc = a[0] * 0\n    for k in range(1, a.shape[0]):\n        acc = acc + a[k] * k\n"
    "    return acc\n",
    "    best = a[0]\n    for value in a:\n        best = max(best, value)\n    return best\n",
    "    if a[0] > a[1]:\n        return a[0] - a[1]\n    s = min(a[1], a[2])\n"
    "    return s + s\n",
    # a name of two types after an if: Numba unifies them
    "    if a[0] > 0:\n        y = 1\n    else:\n        y = a[1]\n    return y\n",
    # an array bound by both branches, a temporary bound by one only
    "    if a[0] > a[1]:\n        t = a + a\n        y = t - a[2]\n    else:\n"
    "        y = a - a[0]\n    return y * y[1]\n",
    # conditional expressions of scalars and of arrays
    "    s = np.sum(a)\n    return s if s > a[0] else a[1] - s\n",
    "    return np.sum(a + a if a[0] > a[1] else a * a[2])\n",
    # a loop whose scalar changes type: each iteration starts from the unified type
    "    total = 0\n    for k in range(3):\n        total += a[k] / 2\n    return total\n",
    "    best = 0\n    for value in a:\n        best = max(best, value * 1.5)\n    return best\n",
    # returns of two types inside an if
    "    if a[0] > a[1]:\n        return 2\n    return a[3] * a[2]\n",
]


@pytest.mark.parametrize("body", SCALAR_CONTROL, ids=range(len(SCALAR_CONTROL)))
@pytest.mark.parametrize("dtype", [np.int8, np.float32, np.float64])
def test_scalar_control_flow_fuses_and_matches_the_unfused_function(body, dtype):
    f = define(f"def f(a):\n{body}")
    a = values(np.random.default_rng(7), dtype, (6, 4))
    vmapped = vmap(f, parallel=False)
    expected = compiled_loop(f, a)
    assert is_fused(vmapped, a), vmapped.explain(a)
    assert_same(vmapped(a), expected, exact=expected.dtype.kind in "biu")


def test_a_constant_condition_whose_branches_bind_two_types_is_not_fused():
    f = define("def f(a):\n    if FLAG:\n        y = 1\n    else:\n        y = a[0]\n"
               "    return y + 1\n")
    f.__globals__["FLAG"] = True  # Numba prunes the branch not taken: y is an int64
    a = np.array([[1.5, 2.5], [2.0, 3.5]])
    vmapped = vmap(f, parallel=False)
    assert "`y` of another type in the branch not taken" in vmapped.explain(a)
    assert_same(vmapped(a), compiled_loop(f, a), exact=True)


def test_a_name_bound_by_one_branch_only_is_not_read_after_the_if():
    f = define("def f(a):\n    if a[0] > 0:\n        y = a[1]\n    else:\n        z = a[1]\n"
               "    return y\n")
    a = np.array([[1.0, 2.5], [2.0, 3.5]])
    vmapped = vmap(f, parallel=False)
    assert "`y` bound by one branch of an if only" in vmapped.explain(a)
    np.testing.assert_array_equal(vmapped(a), [2.5, 3.5])


def test_an_array_bound_by_both_branches_is_filled_by_each_branch():
    f = define("def f(a):\n    if a[0] > 0:\n        y = a + 1.0\n    else:\n        y = -a\n"
               "    return y\n")
    a = np.array([[1.0, 2.5], [-1.0, 2.5]])
    vmapped = vmap(f, parallel=False)
    source = vmapped.inspect_kernel(a)
    assert "buffer_0 = out_0[i, :]" in source  # returned: the output row itself
    assert source.index("buffer_0 = out_0") < source.index("if scalar_1:")
    assert_same(vmapped(a), compiled_loop(f, a), exact=True)


# Costly values computed once; math functions of scalars -------------------------

#: Bodies reading an expensive array more than once, and scalar ``math`` calls.
REUSED = {
    "softmax": "    e = np.exp(a - np.max(a))\n    return e / np.sum(e)\n",
    "logsumexp": "    m = np.max(a)\n    return m + np.log(np.sum(np.exp(a - m)))\n",
    "sigmoid": "    return 1 / (1 + np.exp(-a))\n",
    "tanh twice": "    t = np.tanh(a)\n    return t * t - t[0]\n",
    "power twice": "    p = a ** 1.5\n    return p - np.mean(p)\n",
    "product twice": "    y = a @ a.T\n    return y - y[0, 0]\n",
    "math": "    return math.exp(-a[0]) * math.sqrt(abs(a[1])) + math.floor(a[0]) + "
            "math.erf(a[1])\n",
}


def define_with_math(body: str):
    f = define(f"def f(a):\n{body}")
    f.__globals__["math"] = math
    return f


#: Numba's matrix products take floats only.
REUSED_CASES = [(name, dtype) for name in sorted(REUSED)
                for dtype in (np.float32, np.float64, np.int16)
                if dtype is not np.int16 or "@" not in REUSED[name]]


@pytest.mark.parametrize(("name", "dtype"), REUSED_CASES)
def test_costly_values_fuse_and_match_the_unfused_function(name, dtype):
    f = define_with_math(REUSED[name])
    a = values(np.random.default_rng(3), dtype, (5, 3, 3) if "@" in REUSED[name] else (5, 4))
    a = np.abs(a) if "**" in REUSED[name] else a
    vmapped = vmap(f, parallel=False)
    with np.errstate(all="ignore"):
        expected = compiled_loop(f, a)
        assert is_fused(vmapped, a), vmapped.explain(a)
        actual = vmapped(a)
    inexact = any(word in REUSED[name] for word in ("sum", "mean", "@"))
    assert_same(actual, expected, exact=not inexact)


#: A call of ``exp`` in generated code: the C library's or ``libm.exp`` (float64).
EXP_CALL = re.compile(r"\b(np|libm)\.exp\(")


@pytest.mark.parametrize("width", [7, 64])
@pytest.mark.parametrize("name", ["softmax", "logsumexp", "sigmoid"])
def test_exp_runs_once_per_element(name, width):
    # From 8 elements on a sum is a pairwise block of 8 statements per step: a
    # costly summand is computed into a scratch array first, once per element.
    source = vmap(define_with_math(REUSED[name]), parallel=False).inspect_kernel(
        np.ones((2, width)))
    assert len(EXP_CALL.findall(source)) == 1, source


def test_a_costly_array_is_stored_once_then_read():
    source = vmap(define_with_math(REUSED["softmax"]), parallel=False).inspect_kernel(
        np.ones((2, 7)))
    assert re.search(r"buffer_0\[j0\] = (np|libm)\.exp\(\(a\[i, j0\] - max_0\)\)", source)
    assert "out_0[i, j0] = (buffer_0[j0] / sum_0)" in source


def test_a_costly_array_too_large_to_store_is_recomputed():
    f = define_with_math(REUSED["softmax"])
    a = np.random.default_rng(4).normal(size=(2, 4097))
    vmapped = vmap(f, parallel=False)
    assert is_fused(vmapped, a)
    source = vmapped.inspect_kernel(a)
    assert "buffer_" not in source
    assert re.search(r"out_0\[i, j0\] = \((np|libm)\.exp\(\(a\[i, j0\] - max_0\)\) / sum_0\)",
                     source)
    assert_same(vmapped(a), compiled_loop(f, a), exact=False)


def test_vector_matrix_products_accumulate_rows():
    def layer(x, w, b):
        return np.maximum(x @ w + b, 0.0)

    rng = np.random.default_rng(5)
    x, w, b = rng.normal(size=(6, 5)), rng.normal(size=(5, 4)), rng.normal(size=4)
    vmapped = vmap(layer, in_axes=(0, None, None), parallel=False)
    source = vmapped.inspect_kernel(x, w, b)
    assert "product_0 = np.zeros((4,), np.float64)" in source
    assert "product_0[k_0] = product_0[k_0] + (factor_0 * w[j0, k_0]) + " in source
    expected = np.stack([numba.njit(layer)(row, w, b) for row in x])
    assert_same(vmapped(x, w, b), expected, exact=False)


def test_math_calls_fuse_and_the_kernel_imports_math():
    f = define_with_math(REUSED["math"])
    source = vmap(f, parallel=False).inspect_kernel(np.ones((2, 2)))
    assert "\nimport math\nimport numpy as np\n" in source
    assert "math.exp(scalar_1)" in source


def test_a_math_function_returning_a_tuple_is_not_fused():
    f = define_with_math("    mantissa, exponent = math.frexp(a[0])\n    return mantissa\n")
    a = np.array([[3.0, 1.0], [-0.25, 2.0]])
    vmapped = vmap(f, parallel=False)
    assert "math.frexp returning" in vmapped.explain(a)
    assert_same(vmapped(a), compiled_loop(f, a), exact=True)


def test_a_product_of_known_size_loops_over_a_literal_range():
    def rotate(r, v):
        return r @ v

    rng = np.random.default_rng(6)
    r, v = rng.normal(size=(4, 3, 3)), rng.normal(size=(4, 3))
    vmapped = vmap(rotate, parallel=False)
    assert "for k_0 in range(3):" in vmapped.inspect_kernel(r, v)
    expected = np.stack([numba.njit(rotate)(*rows) for rows in zip(r, v)])
    assert_same(vmapped(r, v), expected, exact=False)


# Max and min of vectors as integer reductions: the value and bits of the loop in order

def vector_max(v):
    return np.max(v)


def vector_min_plus_one(v):
    return np.min(v) + 1


def with_order_dependent_values(dtype, size: int, rng) -> np.ndarray:
    """Rows of ``size`` whose extremes depend on the order: signed zeros as the
    max or min, NaNs of two payloads, infinities, ties, plain random rows."""
    rows = (rng.normal(size=(8, size)) * 10).astype(dtype)
    if np.dtype(dtype).kind == "f":
        rows[0] = -np.abs(rows[0])
        rows[0, [7, size - 1]] = -0.0  # the max is a zero: which sign comes first?
        rows[0, [8, size - 2]] = 0.0  # (lane 7 first, then lane 0)
        rows[1] = -rows[0]
        nans = np.array([0x7FF8000000000001, 0xFFF8000000000002]).view(np.float64).astype(dtype)
        rows[2, [6, 9]] = nans  # two payloads (float32 keeps their signs), lanes 6 and 1
        rows[3, size - 1] = np.inf
        rows[4, 9] = -np.inf
        rows[5] = 7.0
    return rows


@numba.njit(error_model="numpy")
def numba_max_and_min(v):
    return np.max(v), np.min(v)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.uint8, np.int16])
def test_extrema_give_the_bits_of_numba_s_max_and_min(dtype):
    """Every length from 1 to 40 (whole vectors of lanes and remainders), rows
    with zeros of both signs, NaNs of two payloads, infinities and ties."""
    rng = np.random.default_rng(np.dtype(dtype).num)
    for size in range(1, 41):
        rows = with_order_dependent_values(dtype, max(size, 10), rng)[:, :size]
        for row in [*rows, *rng.permutation(rows, axis=1)]:
            row = np.ascontiguousarray(row)
            expected = numba_max_and_min(row)
            actual = extrema.maximum(row), extrema.minimum(row)
            for a, e in zip(actual, expected):
                assert type(a) is type(e) and np.asarray(a).tobytes() == np.asarray(e).tobytes(), (
                    size, row, actual, expected)


def twice_the_min(v):
    return np.min(v * 2)


@pytest.mark.parametrize("f, dtype, size, in_axis, call", [
    (vector_max, np.float64, 64, 0, "extrema.maximum(v[i])"),  # an argument's row
    (vector_min_plus_one, np.float32, 23, 1, "extrema.minimum(v[:, i])"),  # strided
    (twice_the_min, np.float64, 40, 0, "extrema.minimum(buffer_0)"),  # computed first
    (vector_max, np.uint8, 17, 0, "extrema.maximum(v[i])"),
])
def test_max_and_min_of_a_vector_in_reductions_give_the_loop_s_bits(f, dtype, size, in_axis, call):
    x = with_order_dependent_values(dtype, size, np.random.default_rng(size))
    vmapped = vmap(f, in_axes=in_axis, parallel=False)
    batch = np.ascontiguousarray(x.T) if in_axis else x
    assert call in vmapped.inspect_kernel(batch)
    actual, expected = vmapped(batch), compiled_loop(f, x)
    assert actual.dtype == expected.dtype
    assert actual.tobytes() == expected.tobytes(), (actual, expected)
